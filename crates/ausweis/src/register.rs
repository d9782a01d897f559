//! Registration of a new account.

use crate::account::{self, Account};
use crate::email::Email;
use crate::kv::{Kv, Store};
use crate::openpgp;
use crate::password::{self, HashParams};
use crate::permissions;
use crate::profile;
use crate::random;
use crate::recovery;
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
/// The username is claimed by an atomic increment of its claim counter, so
/// of concurrent registrations of one name on any number of instances
/// exactly one wins. The credential is written first under a fresh random
/// id and removed again if the claim is lost, so a loser leaves nothing
/// behind.
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

    // cheap early answer for a taken name; the claim below is what decides.
    // The name of a deleted account is never given out again.
    if account::find(kv, &username)?.is_some()
        || kv
            .get(Store::Accounts, &account::retired_key(&username))?
            .is_some()
    {
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
    let index = account
        .email
        .as_deref()
        .map(|e| recovery::email_index_key(e, &account.id));
    // everything keyed by the new id, undone if the name is not ours
    let unclaimed = |kv: &dyn Kv| -> Result<()> {
        kv.delete(Store::Credentials, &account::credential_key(&account.id))?;
        kv.delete(Store::Permissions, &permissions::key(&account.id))?;
        kv.delete(Store::Accounts, &profile::key(&account.id))?;
        if let Some(k) = &index {
            kv.delete(Store::Accounts, k)?;
        }
        Ok(())
    };
    let records = permissions::create(kv, &account.id)
        .and_then(|()| profile::create(kv, &account.id))
        .and_then(|()| match &index {
            Some(k) => Ok(kv.set(Store::Accounts, k, account.username.as_bytes())?),
            None => Ok(()),
        });
    if let Err(e) = records {
        let _ = unclaimed(kv);
        return Err(e);
    }

    // The store decides the one owner of the name: the atomic increment
    // that returns 1. (Compare-and-swap on an absent key is not atomic on
    // Spin's SQLite backend, see `Kv::compare_and_swap`.)
    let claim = account::claim_key(&username);
    match kv.increment(Store::Accounts, &claim, 1) {
        Ok(1) => {}
        Ok(_) => {
            unclaimed(kv)?;
            return Err(Error::UsernameTaken);
        }
        Err(e) => {
            // best effort: these records are unreachable without the claim
            let _ = unclaimed(kv);
            return Err(e.into());
        }
    }
    let record = serde_json::to_vec(&account).map_err(|e| Error::Internal(e.to_string()))?;
    if let Err(e) = kv.set(Store::Accounts, &account::account_key(&username), &record) {
        // give the name back so that a retry can succeed
        let _ = kv.delete(Store::Accounts, &claim);
        let _ = unclaimed(kv);
        return Err(e.into());
    }
    Ok(Registered {
        account,
        private_key,
    })
}

/// Releases the claim of a name that has no account record: what a crash
/// between claiming a name and writing its record leaves behind. For the
/// operator (admin API). A registration of the same name that is between
/// those two steps at this very moment would lose its claim, so run it
/// only for a name whose registration failed.
pub fn release_orphaned_claim(kv: &dyn Kv, username: &str) -> Result<()> {
    let name = Username::parse(username).map_err(|_| Error::NotFound("claim"))?;
    if account::find(kv, &name)?.is_some() {
        return Err(Error::conflict(
            "account_exists",
            "this name belongs to an account; delete the account instead",
        ));
    }
    let claim = account::claim_key(&name);
    if kv.get(Store::Accounts, &claim)?.is_none() {
        return Err(Error::NotFound("claim"));
    }
    kv.delete(Store::Accounts, &claim)?;
    Ok(())
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
        let keys = kv.all_keys(Store::Accounts);
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0], "claim:alice");
        assert!(keys[1].starts_with("profile:"));
        assert_eq!(keys[2], "user:alice");
        assert_eq!(kv.all_keys(Store::Credentials).len(), 1);
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
        assert_eq!(kv.all_keys(Store::Credentials).len(), 1);
        Ok(())
    }

    #[test]
    fn losing_the_claim_race_is_refused_and_leaves_no_credential() -> Result<()> {
        let kv = MemoryKv::new();
        // another instance has claimed the name but not yet written its record
        kv.increment(Store::Accounts, "claim:erin", 1)?;
        assert!(matches!(
            register(&kv, &settings(), new("erin"), 1000),
            Err(Error::UsernameTaken)
        ));
        assert!(kv.all_keys(Store::Credentials).is_empty());
        assert!(kv.all_keys(Store::Permissions).is_empty());
        assert_eq!(kv.all_keys(Store::Accounts), vec!["claim:erin"]);
        // with an address, its index entry goes too
        let mut req = new("erin");
        req.email = Some("erin@example.org".into());
        assert!(register(&kv, &settings(), req, 1000).is_err());
        assert_eq!(kv.all_keys(Store::Accounts), vec!["claim:erin"]);
        Ok(())
    }

    #[test]
    fn an_orphaned_claim_can_be_released_and_a_live_one_cannot() -> Result<()> {
        let kv = MemoryKv::new();
        kv.increment(Store::Accounts, "claim:erin", 1)?;
        assert!(matches!(
            register(&kv, &settings(), new("erin"), 1000),
            Err(Error::UsernameTaken)
        ));
        release_orphaned_claim(&kv, "erin")?;
        register(&kv, &settings(), new("erin"), 1001)?;
        assert!(matches!(
            release_orphaned_claim(&kv, "erin"),
            Err(Error::Conflict { .. })
        ));
        assert!(matches!(
            release_orphaned_claim(&kv, "frank"),
            Err(Error::NotFound(_))
        ));
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
