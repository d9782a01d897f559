//! Password login.

use crate::account;
use crate::password::{self, HashParams, Verdict};
use crate::secret::Secret;
use crate::session::{self, Lifetimes, Session};
use crate::throttle;
use crate::username::Username;
use crate::{Error, Result};

/// Settings of login.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Argon2id parameters that current hashes should have.
    pub hash: HashParams,
    /// Session lifetimes.
    pub sessions: Lifetimes,
}

/// A successful login.
#[derive(Debug)]
pub struct LoggedIn {
    /// The new session's id, for the cookie.
    pub session_id: Secret,
    /// The session.
    pub session: Session,
    /// When it ends unless used.
    pub expires: u64,
}

/// Checks a username and password and starts a session.
///
/// An unknown username costs one Argon2id hash, as a wrong password does,
/// and gets the same error. Failures are counted per name (see
/// [`throttle`]); a locked name is refused before any hashing.
pub fn login(
    kv: &dyn crate::kv::Kv,
    settings: &Settings,
    username: &str,
    password: &Secret,
    now: u64,
) -> Result<LoggedIn> {
    if password.expose().len() > password::MAX_BYTES {
        return Err(Error::invalid(
            "invalid_password",
            format!("password must be at most {} bytes", password::MAX_BYTES),
        ));
    }
    let name = Username::parse(username).ok();
    let throttle_name = name
        .as_ref()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_else(|| username.trim().to_lowercase());
    throttle::check(kv, &throttle_name, now)?;

    let found = match &name {
        Some(n) => account::find(kv, n)?,
        None => None,
    };
    let credential = match &found {
        Some(acc) => account::credential(kv, &acc.id)?,
        None => None,
    };
    let (account, credential) = match (found, credential) {
        (Some(a), Some(c)) => (a, c),
        _ => {
            password::verify_dummy(password, &settings.hash)?;
            throttle::record_failure(kv, &throttle_name, now)?;
            return Err(Error::InvalidCredentials);
        }
    };

    match password::verify(password, &credential.phc, &settings.hash)? {
        Verdict::Mismatch => {
            throttle::record_failure(kv, &throttle_name, now)?;
            return Err(Error::InvalidCredentials);
        }
        Verdict::MatchNeedsRehash => {
            let phc = password::hash(password, &settings.hash)?;
            account::set_credential(kv, &account.id, phc)?;
        }
        Verdict::Match => {}
    }
    throttle::clear(kv, &throttle_name)?;

    let session = Session {
        account_id: account.id,
        username: account.username,
        auth_time: now,
        seen: now,
        amr: vec!["pwd".into()],
        sid: crate::random::token(16),
    };
    let (session_id, expires) = session::create(kv, &settings.sessions, &session)?;
    Ok(LoggedIn {
        session_id,
        session,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{MemoryKv, Store};
    use crate::register::{self, NewAccount};

    fn settings() -> Settings {
        Settings {
            hash: HashParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            sessions: Lifetimes {
                idle: 600,
                max: 3600,
            },
        }
    }

    fn setup() -> Result<MemoryKv> {
        let kv = MemoryKv::new();
        let reg = register::Settings {
            hash: settings().hash,
            mail_domain: "example.org".into(),
        };
        let req = NewAccount {
            username: "alice".into(),
            password: Secret::new("correct horse battery".into()),
            email: None,
            public_key: Some(include_str!("../tests/fixtures/public-key.asc").into()),
        };
        register::register(&kv, &reg, req, 1)?;
        Ok(kv)
    }

    fn pw(p: &str) -> Secret {
        Secret::new(p.into())
    }

    #[test]
    fn right_password_starts_a_session() -> Result<()> {
        let kv = setup()?;
        let done = login(&kv, &settings(), "Alice", &pw("correct horse battery"), 10)?;
        assert_eq!(done.session.username, "alice");
        assert_eq!(done.expires, 610);
        Ok(())
    }

    #[test]
    fn unknown_user_and_wrong_password_get_the_same_error() -> Result<()> {
        let kv = setup()?;
        let a = login(&kv, &settings(), "alice", &pw("wrong horse battery"), 10);
        let b = login(&kv, &settings(), "mallory", &pw("wrong horse battery"), 10);
        assert!(matches!(a, Err(Error::InvalidCredentials)));
        assert!(matches!(b, Err(Error::InvalidCredentials)));
        Ok(())
    }

    #[test]
    fn sixth_failure_in_a_row_is_throttled_even_with_the_right_password() -> Result<()> {
        let kv = setup()?;
        for _ in 0..5 {
            let r = login(&kv, &settings(), "alice", &pw("wrong horse battery"), 10);
            assert!(matches!(r, Err(Error::InvalidCredentials)));
        }
        let r = login(&kv, &settings(), "alice", &pw("correct horse battery"), 10);
        assert!(matches!(r, Err(Error::Throttled { .. })));
        // after the wait, the right password works and the count is cleared
        login(&kv, &settings(), "alice", &pw("correct horse battery"), 12)?;
        assert!(kv
            .all_keys(Store::Sessions)
            .iter()
            .all(|k| k.starts_with("session:") || k.starts_with("sid:")));
        Ok(())
    }

    #[test]
    fn login_with_newer_parameters_rehashes_the_password() -> Result<()> {
        let kv = setup()?;
        let mut newer = settings();
        newer.hash.iterations = 2;
        login(&kv, &newer, "alice", &pw("correct horse battery"), 10)?;
        let acc = account::find(&kv, &Username::parse("alice")?)?;
        let id = acc.map(|a| a.id).unwrap_or_default();
        let cred = account::credential(&kv, &id)?
            .map(|c| c.phc)
            .unwrap_or_default();
        assert!(cred.contains("t=2"), "{cred}");
        Ok(())
    }
}
