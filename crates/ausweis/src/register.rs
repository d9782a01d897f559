//! Registration of a new account.

use crate::account::{self, Account};
use crate::email::Email;
use crate::kv::{Kv, Store};
use crate::openpgp;
use crate::password::{self, HashParams};
use crate::random;
use crate::secret::Secret;
use crate::username::Username;
use crate::{Error, Result};

/// What a person asked for.
#[derive(Debug)]
pub struct NewAccount {
    /// Username as typed.
    pub username: String,
    /// Password as typed.
    pub password: Secret,
    /// Optional recovery address.
    pub email: Option<String>,
    /// Optional armored public key made on the member's device.
    pub public_key: Option<String>,
}

/// Settings of registration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Argon2id parameters for new hashes.
    pub hash: HashParams,
    /// Domain of generated keys' user ids.
    pub mail_domain: String,
}

/// The new account, with the private key if one was made here.
#[derive(Debug)]
pub struct Registered {
    /// The account as stored.
    pub account: Account,
    /// The armored, password-protected private key, shown once.
    pub private_key: Option<Secret>,
}

/// Registers an account.
///
/// The username is claimed by a compare-and-swap on its account key, so of
/// concurrent registrations of one name on any number of instances exactly
/// one wins. The credential is written first under a fresh random id, and
/// removed again if the claim is lost, so a loser leaves nothing behind.
pub fn register(kv: &dyn Kv, settings: &Settings, req: NewAccount, now: u64) -> Result<Registered> {
    // validate everything before any work or write
    let username = Username::parse(&req.username)?;
    password::check_policy(&req.password, username.as_str())?;
    let email = req.email.as_deref().map(Email::parse).transpose()?;
    let own_key = req
        .public_key
        .as_deref()
        .map(openpgp::check_public_key)
        .transpose()?;

    // cheap early answer for a taken name; the claim below is what decides
    if account::find(kv, &username)?.is_some() {
        return Err(Error::UsernameTaken);
    }

    // expensive work: hash, and a key pair unless the member brought a key
    let phc = password::hash(&req.password, &settings.hash)?;
    let (public, private_key) = match own_key {
        Some(key) => (key, None),
        None => {
            let user_id = format!("{username}@{}", settings.mail_domain);
            let pair = openpgp::generate(&user_id, &req.password)?;
            (pair.public, Some(pair.private_armored))
        }
    };

    let account = Account {
        id: random::token(16),
        username: username.as_str().to_owned(),
        email: email.map(|e| e.as_str().to_owned()),
        public_key: public.armored,
        fingerprint: public.fingerprint,
        created: now,
    };
    account::set_credential(kv, &account.id, phc)?;

    let record = serde_json::to_vec(&account).map_err(|e| Error::Internal(e.to_string()))?;
    let claimed = kv.compare_and_swap(
        Store::Accounts,
        &account::account_key(&username),
        None,
        &record,
    );
    match claimed {
        Ok(true) => Ok(Registered {
            account,
            private_key,
        }),
        Ok(false) => {
            kv.delete(Store::Credentials, &account::credential_key(&account.id))?;
            Err(Error::UsernameTaken)
        }
        Err(e) => {
            // best effort: the claim failed, so the credential is unreachable
            let _ = kv.delete(Store::Credentials, &account::credential_key(&account.id));
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    pub(crate) fn settings() -> Settings {
        Settings {
            hash: HashParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            mail_domain: "example.org".into(),
        }
    }

    fn new(name: &str) -> NewAccount {
        NewAccount {
            username: name.into(),
            password: Secret::new("correct horse battery".into()),
            email: None,
            public_key: None,
        }
    }

    #[test]
    fn registration_stores_account_and_credential_but_no_secret() -> Result<()> {
        let kv = MemoryKv::new();
        let done = register(&kv, &settings(), new("Alice"), 1000)?;
        assert_eq!(done.account.username, "alice");
        assert!(done.private_key.is_some());
        assert_eq!(kv.keys(Store::Accounts), vec!["user:alice".to_string()]);
        assert_eq!(kv.keys(Store::Credentials).len(), 1);
        for value in kv.values() {
            let text = String::from_utf8_lossy(&value);
            assert!(!text.contains("correct horse battery"));
            assert!(!text.contains("PRIVATE KEY"));
        }
        Ok(())
    }

    #[test]
    fn second_registration_of_a_name_is_refused_and_leaves_nothing() -> Result<()> {
        let kv = MemoryKv::new();
        register(&kv, &settings(), new("alice"), 1000)?;
        assert!(matches!(
            register(&kv, &settings(), new("ALICE"), 1001),
            Err(Error::UsernameTaken)
        ));
        assert_eq!(kv.keys(Store::Credentials).len(), 1);
        Ok(())
    }

    #[test]
    fn own_public_key_is_kept_and_no_private_key_returned() -> Result<()> {
        let kv = MemoryKv::new();
        let pair = openpgp::generate("x@example.org", &Secret::new("pw pw pw pw pw".into()))?;
        let mut req = new("carol");
        req.public_key = Some(pair.public.armored.clone());
        let done = register(&kv, &settings(), req, 1000)?;
        assert!(done.private_key.is_none());
        assert_eq!(done.account.fingerprint, pair.public.fingerprint);
        Ok(())
    }

    #[test]
    fn invalid_input_writes_nothing() {
        let kv = MemoryKv::new();
        let mut req = new("dave");
        req.email = Some("not an address".into());
        assert!(register(&kv, &settings(), req, 1000).is_err());
        let mut req = new("dave");
        req.password = Secret::new("short".into());
        assert!(register(&kv, &settings(), req, 1000).is_err());
        assert!(kv.values().is_empty());
    }
}
