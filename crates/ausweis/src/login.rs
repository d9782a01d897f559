//! Password login, with a second step for members who turned on
//! two-factor authentication.
//!
//! Key family (store `sessions`): `pending:{sha256(token)}` → expiring
//! [`PendingLogin`]: the password was right, the code is still to come.
//! It lives [`PENDING_SECONDS`] and allows [`PENDING_ATTEMPTS`] codes; no
//! session exists until a code is accepted.

use serde::{Deserialize, Serialize};

use crate::account;
use crate::expiring;
use crate::kv::Store;
use crate::password::{self, HashParams, Verdict};
use crate::random;
use crate::secret::Secret;
use crate::session::{self, Lifetimes, Session};
use crate::throttle;
use crate::twofactor;
use crate::username::Username;
use crate::{Error, Result};

/// How long the second step may wait after the password, in seconds.
pub const PENDING_SECONDS: u64 = 5 * 60;
/// Codes one pending login may try before it is dropped.
pub const PENDING_ATTEMPTS: u32 = 5;

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

/// A right password for an account with two-factor authentication on:
/// the token of the second step.
#[derive(Debug)]
pub struct Pending {
    /// The token, for the client to send back with the code.
    pub token: Secret,
    /// When it expires.
    pub expires: u64,
}

/// What a password login led to.
#[derive(Debug)]
pub enum Outcome {
    /// Logged in.
    Done(LoggedIn),
    /// The second factor is still to come.
    SecondFactor(Pending),
}

/// The stored state between the password and the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The account.
    pub account_id: String,
    /// Its username (the throttle's name).
    pub username: String,
    /// Wrong codes so far.
    pub attempts: u32,
    /// Random marker of this write.
    pub m: String,
}

/// Key of a pending login.
pub fn pending_key(token: &Secret) -> String {
    format!("pending:{}", random::digest_hex("pending", token.expose()))
}

fn start(
    kv: &dyn crate::kv::Kv,
    settings: &Settings,
    account_id: String,
    username: String,
    amr: &[&str],
    now: u64,
) -> Result<LoggedIn> {
    let session = Session {
        account_id,
        username,
        auth_time: now,
        seen: now,
        amr: amr.iter().map(|s| s.to_string()).collect(),
        sid: random::token(16),
    };
    let (session_id, expires) = session::create(kv, &settings.sessions, &session)?;
    Ok(LoggedIn {
        session_id,
        session,
        expires,
    })
}

/// Checks a username and password and starts a session, or, if the
/// account has two-factor authentication on, a pending login that
/// [`complete`] finishes.
///
/// An unknown username costs one Argon2id hash, as a wrong password does,
/// and gets the same error. Failures are counted per name (see
/// [`throttle`]); a locked name is refused before any hashing. With a
/// second factor the count is cleared only by the second step, so knowing
/// the password does not reset the limit on guessing codes.
pub fn login(
    kv: &dyn crate::kv::Kv,
    settings: &Settings,
    username: &str,
    password: &Secret,
    now: u64,
) -> Result<Outcome> {
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

    if twofactor::enabled(kv, &account.id)? {
        let token = Secret::new(random::token(session::ID_BYTES));
        let expires = now + PENDING_SECONDS;
        let pending = PendingLogin {
            account_id: account.id,
            username: account.username,
            attempts: 0,
            m: random::token(8),
        };
        expiring::put(kv, Store::Sessions, &pending_key(&token), expires, &pending)?;
        return Ok(Outcome::SecondFactor(Pending { token, expires }));
    }
    throttle::clear(kv, &throttle_name)?;
    start(kv, settings, account.id, account.username, &["pwd"], now).map(Outcome::Done)
}

/// The second step: a code of the account's second factor (TOTP, or a
/// recovery code) for a pending login. Wrong codes count against the
/// name's throttle as wrong passwords do, and after [`PENDING_ATTEMPTS`]
/// the pending login is gone. An unknown or expired token is
/// [`Error::NotAuthenticated`]: log in again.
pub fn complete(
    kv: &dyn crate::kv::Kv,
    settings: &Settings,
    token: &Secret,
    code: &str,
    now: u64,
) -> Result<LoggedIn> {
    if !session::well_formed(token.expose()) {
        return Err(Error::NotAuthenticated);
    }
    let k = pending_key(token);
    let Some((found, raw)) = expiring::get_live::<PendingLogin>(kv, Store::Sessions, &k, now)?
    else {
        return Err(Error::NotAuthenticated);
    };
    let rec = found.v;
    throttle::check(kv, &rec.username, now)?;
    if twofactor::check(kv, &rec.account_id, code, now)?.is_some() {
        kv.delete(Store::Sessions, &k)?;
        throttle::clear(kv, &rec.username)?;
        return start(
            kv,
            settings,
            rec.account_id,
            rec.username,
            &["pwd", "otp"],
            now,
        );
    }
    throttle::record_failure(kv, &rec.username, now)?;
    let attempts = rec.attempts + 1;
    if attempts >= PENDING_ATTEMPTS {
        kv.delete(Store::Sessions, &k)?;
    } else {
        let next = PendingLogin {
            attempts,
            m: random::token(8),
            ..rec
        };
        // a concurrent attempt may have won; the throttle counted both
        let _ = kv.compare_and_swap(
            Store::Sessions,
            &k,
            Some(&raw),
            &expiring::encode(found.exp, &next)?,
        )?;
    }
    Err(Error::InvalidCode)
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

    fn done(o: Outcome) -> Result<LoggedIn> {
        match o {
            Outcome::Done(d) => Ok(d),
            Outcome::SecondFactor(_) => Err(Error::Internal("second factor asked".into())),
        }
    }

    #[test]
    fn right_password_starts_a_session() -> Result<()> {
        let kv = setup()?;
        let done = done(login(
            &kv,
            &settings(),
            "Alice",
            &pw("correct horse battery"),
            10,
        )?)?;
        assert_eq!(done.session.username, "alice");
        assert_eq!(done.session.amr, ["pwd"]);
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

    fn enrol(kv: &MemoryKv, now: u64) -> Result<(Vec<u8>, Vec<Secret>)> {
        let acc = account::find(kv, &Username::parse("alice")?)?.ok_or(Error::NotFound("x"))?;
        let e = twofactor::begin(kv, &acc.id, "alice", "ausweis", now)?;
        let key = crate::totp::base32_decode(e.secret.expose()).unwrap_or_default();
        let code = format!("{:06}", crate::totp::hotp(&key, crate::totp::step(now), 6)?);
        let codes = twofactor::confirm(kv, &acc.id, &code, now)?;
        Ok((key, codes))
    }

    fn pending(o: Outcome) -> Result<Pending> {
        match o {
            Outcome::SecondFactor(p) => Ok(p),
            Outcome::Done(_) => Err(Error::Internal("no second factor asked".into())),
        }
    }

    #[test]
    fn with_two_factor_the_password_gives_no_session_until_the_code() -> Result<()> {
        let kv = setup()?;
        let (key, _) = enrol(&kv, 1000)?;
        let p = pending(login(
            &kv,
            &settings(),
            "alice",
            &pw("correct horse battery"),
            1030,
        )?)?;
        assert!(kv
            .all_keys(Store::Sessions)
            .iter()
            .all(|k| k.starts_with("pending:")));
        let code = format!(
            "{:06}",
            crate::totp::hotp(&key, crate::totp::step(1060), 6)?
        );
        let done = complete(&kv, &settings(), &p.token, &code, 1060)?;
        assert_eq!(done.session.amr, ["pwd", "otp"]);
        // the pending login is used up, and so is the code step
        assert!(matches!(
            complete(&kv, &settings(), &p.token, &code, 1060),
            Err(Error::NotAuthenticated)
        ));
        let p = pending(login(
            &kv,
            &settings(),
            "alice",
            &pw("correct horse battery"),
            1061,
        )?)?;
        assert!(matches!(
            complete(&kv, &settings(), &p.token, &code, 1061),
            Err(Error::InvalidCode)
        ));
        Ok(())
    }

    #[test]
    fn wrong_codes_are_throttled_and_end_the_pending_login() -> Result<()> {
        let kv = setup()?;
        let (_, codes) = enrol(&kv, 1000)?;
        let p = pending(login(
            &kv,
            &settings(),
            "alice",
            &pw("correct horse battery"),
            2000,
        )?)?;
        for _ in 0..PENDING_ATTEMPTS {
            let r = complete(&kv, &settings(), &p.token, "abcdefgh", 2000);
            assert!(matches!(r, Err(Error::InvalidCode)), "{r:?}");
        }
        // the name is locked now, and the pending login is gone
        let r = login(
            &kv,
            &settings(),
            "alice",
            &pw("correct horse battery"),
            2000,
        );
        assert!(matches!(r, Err(Error::Throttled { .. })));
        assert!(matches!(
            complete(&kv, &settings(), &p.token, codes[0].expose(), 2001),
            Err(Error::NotAuthenticated)
        ));
        // a recovery code completes a later login and clears the count
        let p = pending(login(
            &kv,
            &settings(),
            "alice",
            &pw("correct horse battery"),
            2100,
        )?)?;
        let done = complete(&kv, &settings(), &p.token, codes[0].expose(), 2100)?;
        assert_eq!(done.session.amr, ["pwd", "otp"]);
        assert!(!kv
            .all_keys(Store::Sessions)
            .iter()
            .any(|k| k.starts_with("throttle:")));
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
