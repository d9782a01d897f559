//! Browser sessions: an opaque random id in a cookie, a record keyed by the
//! id's hash in the `sessions` store (`session:{sha256}`), so the store never
//! holds a usable session id.

use serde::{Deserialize, Serialize};

use crate::config::{self, Vars};
use crate::expiring;
use crate::kv::{Kv, Store};
use crate::random;
use crate::secret::Secret;
use crate::Result;

/// Bytes of randomness in a session id: 256 bits (OWASP Session Management
/// Cheat Sheet asks for at least 64 bits of entropy).
pub const ID_BYTES: usize = 32;
/// Length of a session id as unpadded base64url.
pub const ID_LEN: usize = 43;
/// A session's idle expiry is pushed forward at most this often, in
/// seconds, to spare the store a write per request.
const TOUCH_INTERVAL: u64 = 60;

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Seconds without use after which a session ends.
    pub idle: u64,
    /// Seconds after login after which a session ends regardless.
    pub max: u64,
}

impl Lifetimes {
    /// Reads `session_idle_minutes` and `session_max_hours`.
    pub fn from_vars(vars: &dyn Vars) -> Result<Self> {
        Ok(Lifetimes {
            idle: config::number(vars, "session_idle_minutes", 1..=60 * 24 * 30)? * 60,
            max: config::number(vars, "session_max_hours", 1..=24 * 365)? * 3600,
        })
    }
}

/// What a session knows: who, and since when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    /// The account's opaque id.
    pub account_id: String,
    /// The account's username.
    pub username: String,
    /// Unix time of the login.
    pub auth_time: u64,
    /// Unix time the session was last used (rounded to the touch interval).
    pub seen: u64,
    /// Authentication methods used (RFC 8176 values, e.g. `pwd`).
    pub amr: Vec<String>,
    /// Public session identifier for OpenID Connect (`sid` claim); random
    /// and unrelated to the cookie value.
    #[serde(default)]
    pub sid: String,
}

impl Session {
    fn expiry(&self, life: &Lifetimes) -> u64 {
        (self.seen + life.idle).min(self.auth_time + life.max)
    }
}

/// The store key of a session id.
pub fn key(id: &Secret) -> String {
    format!("session:{}", random::digest_hex("session", id.expose()))
}

/// Whether a string has the shape of a session id (checked before any
/// store access, so junk cookies cost nothing).
pub fn well_formed(id: &str) -> bool {
    id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Starts a session; returns its id (for the cookie) and expiry.
pub fn create(kv: &dyn Kv, life: &Lifetimes, session: &Session) -> Result<(Secret, u64)> {
    let id = Secret::new(random::token(ID_BYTES));
    let exp = session.expiry(life);
    if !session.sid.is_empty() {
        // lives as long as the session can: tokens bound to it check it
        let until = session.auth_time + life.max;
        expiring::put(kv, Store::Sessions, &sid_key(&session.sid), until, &true)?;
    }
    expiring::put(kv, Store::Sessions, &key(&id), exp, session)?;
    Ok((id, exp))
}

/// Key of the marker that session `sid` has not logged out.
pub fn sid_key(sid: &str) -> String {
    format!("sid:{sid}")
}

/// Whether the session with public id `sid` has neither logged out nor
/// reached its absolute lifetime.
pub fn sid_live(kv: &dyn Kv, sid: &str, now: u64) -> Result<bool> {
    if sid.is_empty() {
        return Ok(false);
    }
    Ok(expiring::get_live::<bool>(kv, Store::Sessions, &sid_key(sid), now)?.is_some())
}

/// Finds a live session and pushes its idle expiry forward.
pub fn lookup(
    kv: &dyn Kv,
    life: &Lifetimes,
    id: &Secret,
    now: u64,
) -> Result<Option<(Session, u64)>> {
    if !well_formed(id.expose()) {
        return Ok(None);
    }
    let k = key(id);
    let Some((found, _)) = expiring::get_live::<Session>(kv, Store::Sessions, &k, now)? else {
        return Ok(None);
    };
    let mut session = found.v;
    if now >= session.seen + TOUCH_INTERVAL {
        session.seen = now;
        let exp = session.expiry(life);
        expiring::put(kv, Store::Sessions, &k, exp, &session)?;
        return Ok(Some((session, exp)));
    }
    Ok(Some((session, found.exp)))
}

/// Ends a session (nothing happens if there is none).
pub fn end(kv: &dyn Kv, id: &Secret) -> Result<()> {
    if well_formed(id.expose()) {
        let k = key(id);
        if let Some(raw) = kv.get(Store::Sessions, &k)? {
            if let Ok(found) = serde_json::from_slice::<expiring::Expiring<Session>>(&raw) {
                if !found.v.sid.is_empty() {
                    kv.delete(Store::Sessions, &sid_key(&found.v.sid))?;
                }
            }
        }
        kv.delete(Store::Sessions, &k)?;
    }
    Ok(())
}

/// The live sessions of an account, with their store keys. Scans every
/// session record: the store has no index by account (TODO(#5): an index
/// once the number of sessions makes the scan slow).
pub fn of_account(kv: &dyn Kv, account_id: &str, now: u64) -> Result<Vec<(String, Session, u64)>> {
    let mut out = Vec::new();
    for k in kv.keys(Store::Sessions, "session:")? {
        let Some((found, _)) = expiring::get_readable::<Session>(kv, Store::Sessions, &k, now)?
        else {
            continue;
        };
        if found.v.account_id == account_id {
            out.push((k, found.v, found.exp));
        }
    }
    Ok(out)
}

/// Ends every session of an account but the one stored under `keep` (a
/// key as made by [`key`]), as logging out does: the grants bound to them
/// end too. Returns the `sid`s of the ended sessions.
pub fn end_all(kv: &dyn Kv, account_id: &str, keep: Option<&str>, now: u64) -> Result<Vec<String>> {
    let mut ended = Vec::new();
    for (k, s, _) in of_account(kv, account_id, now)? {
        if Some(k.as_str()) != keep {
            if !s.sid.is_empty() {
                kv.delete(Store::Sessions, &sid_key(&s.sid))?;
            }
            kv.delete(Store::Sessions, &k)?;
            ended.push(s.sid);
        }
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    const LIFE: Lifetimes = Lifetimes {
        idle: 600,
        max: 3600,
    };

    fn alice(now: u64) -> Session {
        Session {
            account_id: "id1".into(),
            username: "alice".into(),
            auth_time: now,
            seen: now,
            amr: vec!["pwd".into()],
            sid: "s1".into(),
        }
    }

    #[test]
    fn session_lives_while_used_and_ends_when_idle() -> Result<()> {
        let kv = MemoryKv::new();
        let (id, exp) = create(&kv, &LIFE, &alice(1000))?;
        assert_eq!(exp, 1600);
        assert!(lookup(&kv, &LIFE, &id, 1500)?.is_some());
        // used at 1500, so alive until 2100
        assert!(lookup(&kv, &LIFE, &id, 2000)?.is_some());
        assert!(lookup(&kv, &LIFE, &id, 2601)?.is_none());
        Ok(())
    }

    #[test]
    fn session_ends_at_the_absolute_limit_even_when_used() -> Result<()> {
        let kv = MemoryKv::new();
        let (id, _) = create(&kv, &LIFE, &alice(1000))?;
        for t in (1100..4600).step_by(100) {
            assert!(lookup(&kv, &LIFE, &id, t)?.is_some(), "gone at {t}");
        }
        assert!(lookup(&kv, &LIFE, &id, 4600)?.is_none());
        Ok(())
    }

    #[test]
    fn ending_all_sessions_of_an_account_keeps_the_chosen_one_and_others_accounts() -> Result<()> {
        let kv = MemoryKv::new();
        let (a, _) = create(&kv, &LIFE, &alice(1000))?;
        let mut second = alice(1000);
        second.sid = "s2".into();
        let (b, _) = create(&kv, &LIFE, &second)?;
        let mut bob = alice(1000);
        bob.account_id = "id2".into();
        bob.sid = "s3".into();
        let (c, _) = create(&kv, &LIFE, &bob)?;
        let ended = end_all(&kv, "id1", Some(&key(&a)), 1001)?;
        assert_eq!(ended, ["s2"]);
        assert!(sid_live(&kv, "s1", 1001)? && sid_live(&kv, "s3", 1001)?);
        assert!(!sid_live(&kv, "s2", 1001)?);
        assert!(lookup(&kv, &LIFE, &a, 1002)?.is_some());
        assert!(lookup(&kv, &LIFE, &b, 1002)?.is_none());
        assert!(lookup(&kv, &LIFE, &c, 1002)?.is_some());
        Ok(())
    }

    #[test]
    fn store_holds_only_the_hash_of_the_id() -> Result<()> {
        let kv = MemoryKv::new();
        let (id, _) = create(&kv, &LIFE, &alice(1000))?;
        let keys = kv.all_keys(Store::Sessions);
        assert!(!keys[0].contains(id.expose()));
        assert!(kv
            .values()
            .iter()
            .all(|v| !String::from_utf8_lossy(v).contains(id.expose())));
        assert!(sid_live(&kv, "s1", 1000)?);
        end(&kv, &id)?;
        assert!(kv.all_keys(Store::Sessions).is_empty());
        assert!(!sid_live(&kv, "s1", 1000)?);
        Ok(())
    }
}
