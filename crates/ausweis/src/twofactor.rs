//! The second factor: a TOTP secret (see [`crate::totp`]) and ten
//! single-use recovery codes.
//!
//! Key family: `credentials` / `totp:{account_id}` → [`TwoFactor`]. Only
//! the components that check codes (`login`, `account`) are granted the
//! store. The secret must be kept as it is to compute codes; recovery
//! codes are kept only as salted SHA-256 digests (they carry 80 random
//! bits, so a digest cannot be searched). Every change is a
//! compare-and-swap, so a code step or a recovery code is used once even
//! under concurrent requests.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::kv::{Kv, Store};
use crate::random;
use crate::secret::Secret;
use crate::totp;
use crate::{Error, Result};

/// Recovery codes made at confirmation.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code without its dashes: 16 base32 characters,
/// 80 bits.
const RECOVERY_CHARS: usize = 16;
const CAS_ATTEMPTS: usize = 16;

/// The stored second factor of one account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TwoFactor {
    /// The TOTP secret, base32.
    pub secret: String,
    /// Whether it has been confirmed with a code (only then is it asked
    /// for at login).
    pub enabled: bool,
    /// Unix time of enrolment, or of confirmation once enabled.
    pub since: u64,
    /// The last TOTP step accepted; no step up to it is accepted again.
    #[serde(default)]
    pub last_step: u64,
    /// Hex digests of the unused recovery codes.
    #[serde(default)]
    pub recovery: Vec<String>,
    /// Random marker of the last write (see [`Kv::compare_and_swap`]).
    pub m: String,
}

/// Key of an account's second factor.
pub fn key(account_id: &str) -> String {
    format!("totp:{account_id}")
}

fn decode(raw: &[u8]) -> Result<TwoFactor> {
    serde_json::from_slice(raw).map_err(|_| Error::Internal("unreadable second factor".into()))
}

fn encode(t: &TwoFactor) -> Result<Vec<u8>> {
    serde_json::to_vec(t).map_err(|e| Error::Internal(e.to_string()))
}

/// Reads an account's second factor, with its raw bytes for a following
/// compare-and-swap.
pub fn get(kv: &dyn Kv, account_id: &str) -> Result<Option<(TwoFactor, Vec<u8>)>> {
    let Some(raw) = kv.get(Store::Credentials, &key(account_id))? else {
        return Ok(None);
    };
    Ok(Some((decode(&raw)?, raw)))
}

/// Whether the second factor is on.
pub fn enabled(kv: &dyn Kv, account_id: &str) -> Result<bool> {
    Ok(get(kv, account_id)?.is_some_and(|(t, _)| t.enabled))
}

/// What an app needs to take the secret.
#[derive(Debug)]
pub struct Enrolment {
    /// The secret in base32, for typing in.
    pub secret: Secret,
    /// The `otpauth://` URI, for a QR code.
    pub uri: Secret,
}

/// Starts enrolment: makes a new secret, not yet asked for at login. A
/// second call replaces an unconfirmed secret; an enabled factor must be
/// turned off first.
pub fn begin(
    kv: &dyn Kv,
    account_id: &str,
    username: &str,
    issuer: &str,
    now: u64,
) -> Result<Enrolment> {
    let current = get(kv, account_id)?;
    if current.as_ref().is_some_and(|(t, _)| t.enabled) {
        return Err(Error::conflict(
            "two_factor_enabled",
            "two-factor authentication is on already; turn it off first to enrol again",
        ));
    }
    let mut bytes = [0u8; totp::SECRET_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let secret = totp::base32_encode(&bytes);
    let record = TwoFactor {
        secret: secret.clone(),
        enabled: false,
        since: now,
        last_step: 0,
        recovery: Vec::new(),
        m: random::token(8),
    };
    let k = key(account_id);
    let written = match &current {
        // replace exactly the unconfirmed record we read, never one that
        // a concurrent confirmation has just enabled
        Some((_, raw)) => {
            kv.compare_and_swap(Store::Credentials, &k, Some(raw), &encode(&record)?)?
        }
        None => {
            kv.set(Store::Credentials, &k, &encode(&record)?)?;
            true
        }
    };
    if !written {
        return Err(Error::conflict(
            "two_factor_changed",
            "the second factor changed meanwhile; start again",
        ));
    }
    let uri = totp::otpauth_uri(issuer, username, &secret);
    Ok(Enrolment {
        secret: Secret::new(secret),
        uri: Secret::new(uri),
    })
}

/// The enrolment begun and not yet confirmed, to show again (a page that
/// asks once more for the first code); `None` if there is none.
pub fn pending(
    kv: &dyn Kv,
    account_id: &str,
    username: &str,
    issuer: &str,
) -> Result<Option<Enrolment>> {
    Ok(get(kv, account_id)?
        .filter(|(t, _)| !t.enabled)
        .map(|(t, _)| Enrolment {
            uri: Secret::new(totp::otpauth_uri(issuer, username, &t.secret)),
            secret: Secret::new(t.secret),
        }))
}

fn recovery_digest(account_id: &str, code: &str) -> String {
    random::digest_hex(&format!("recovery-code:{account_id}"), code)
}

/// A recovery code as typed, reduced to its characters: lowercase, without
/// spaces and dashes.
fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn new_recovery_code() -> String {
    let mut bytes = [0u8; 10];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let plain = totp::base32_encode(&bytes).to_lowercase();
    let chunks: Vec<&str> = (0..RECOVERY_CHARS)
        .step_by(4)
        .filter_map(|i| plain.get(i..i + 4))
        .collect();
    chunks.join("-")
}

/// Changes the record with `change`, which returns what the caller gets
/// back, or `None` to leave the record as it is. Retried on concurrent
/// changes, reading afresh each time.
fn modify<T>(
    kv: &dyn Kv,
    account_id: &str,
    change: impl Fn(&mut TwoFactor) -> Result<Option<T>>,
) -> Result<Option<T>> {
    let k = key(account_id);
    for _ in 0..CAS_ATTEMPTS {
        let Some((mut t, raw)) = get(kv, account_id)? else {
            return Ok(None);
        };
        let Some(out) = change(&mut t)? else {
            return Ok(None);
        };
        t.m = random::token(8);
        if kv.compare_and_swap(Store::Credentials, &k, Some(&raw), &encode(&t)?)? {
            return Ok(Some(out));
        }
    }
    Err(Error::Internal("second factor record contended".into()))
}

/// The TOTP step a code stands for, if it is current and unused.
fn totp_step(t: &TwoFactor, code: &str, now: u64) -> Result<Option<u64>> {
    let key = totp::base32_decode(&t.secret)
        .ok_or_else(|| Error::Internal("unreadable totp secret".into()))?;
    totp::matching_step(&key, code.trim(), now, t.last_step)
}

/// Confirms enrolment with a code from the app: the factor is on from now,
/// and the ten recovery codes are returned, this once.
pub fn confirm(kv: &dyn Kv, account_id: &str, code: &str, now: u64) -> Result<Vec<Secret>> {
    let Some((t, _)) = get(kv, account_id)? else {
        return Err(Error::conflict(
            "not_enrolled",
            "start enrolment first (POST /api/account/two-factor)",
        ));
    };
    if t.enabled {
        return Err(Error::conflict(
            "two_factor_enabled",
            "two-factor authentication is on already",
        ));
    }
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let digests: Vec<String> = codes
        .iter()
        .map(|c| recovery_digest(account_id, &normalise_recovery(c)))
        .collect();
    let done = modify(kv, account_id, |t| {
        if t.enabled {
            return Ok(None);
        }
        let Some(s) = totp_step(t, code, now)? else {
            return Ok(None);
        };
        t.enabled = true;
        t.since = now;
        t.last_step = s;
        t.recovery = digests.clone();
        Ok(Some(()))
    })?;
    match done {
        Some(()) => Ok(codes.into_iter().map(Secret::new).collect()),
        None => Err(Error::InvalidCode),
    }
}

/// How a code was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    /// A current TOTP code.
    Totp,
    /// A recovery code, now used up.
    RecoveryCode,
}

/// Checks a code of an enabled second factor and uses it up: a TOTP step
/// is not accepted again, a recovery code is removed. `None` for a wrong,
/// replayed or late code, or when the factor is not on.
pub fn check(kv: &dyn Kv, account_id: &str, code: &str, now: u64) -> Result<Option<Used>> {
    if code.len() > 64 {
        return Ok(None);
    }
    let recovery = normalise_recovery(code);
    let is_recovery = recovery.len() == RECOVERY_CHARS;
    let digest = recovery_digest(account_id, &recovery);
    modify(kv, account_id, |t| {
        if !t.enabled {
            return Ok(None);
        }
        if is_recovery {
            let mut found = None;
            for (i, d) in t.recovery.iter().enumerate() {
                if bool::from(d.as_bytes().ct_eq(digest.as_bytes())) {
                    found = Some(i);
                }
            }
            return Ok(found.map(|i| {
                t.recovery.remove(i);
                Used::RecoveryCode
            }));
        }
        Ok(totp_step(t, code, now)?.map(|s| {
            t.last_step = s;
            Used::Totp
        }))
    })
}

/// Turns the second factor off, after checking a code (TOTP or recovery).
pub fn disable(kv: &dyn Kv, account_id: &str, code: &str, now: u64) -> Result<()> {
    if !enabled(kv, account_id)? {
        return Err(Error::conflict(
            "two_factor_disabled",
            "two-factor authentication is not on",
        ));
    }
    if check(kv, account_id, code, now)?.is_none() {
        return Err(Error::InvalidCode);
    }
    kv.delete(Store::Credentials, &key(account_id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    fn code_at(kv: &MemoryKv, now: u64) -> Result<String> {
        let (t, _) = get(kv, "id1")?.ok_or(Error::NotFound("factor"))?;
        let key = totp::base32_decode(&t.secret).unwrap_or_default();
        Ok(format!("{:06}", totp::hotp(&key, totp::step(now), 6)?))
    }

    #[test]
    fn enrolment_is_confirmed_by_a_code_and_gives_ten_recovery_codes() -> Result<()> {
        let kv = MemoryKv::new();
        let e = begin(&kv, "id1", "alice", "ausweis", 1000)?;
        assert!(e
            .uri
            .expose()
            .starts_with("otpauth://totp/ausweis:alice?secret="));
        assert!(!enabled(&kv, "id1")?);
        let shown = pending(&kv, "id1", "alice", "ausweis")?.map(|p| p.uri.expose().to_owned());
        assert_eq!(shown.as_deref(), Some(e.uri.expose()));
        let window = [code_at(&kv, 970)?, code_at(&kv, 1000)?, code_at(&kv, 1030)?];
        let wrong = (0..4)
            .map(|i| format!("{i:06}"))
            .find(|c| !window.contains(c))
            .unwrap_or_default();
        assert!(matches!(
            confirm(&kv, "id1", &wrong, 1000),
            Err(Error::InvalidCode)
        ));
        assert!(!enabled(&kv, "id1")?);
        let codes = confirm(&kv, "id1", &code_at(&kv, 1000)?, 1000)?;
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(enabled(&kv, "id1")?);
        assert!(pending(&kv, "id1", "alice", "ausweis")?.is_none());
        // no code in the store, only digests
        for c in &codes {
            assert!(kv
                .values()
                .iter()
                .all(|v| !String::from_utf8_lossy(v).contains(c.expose())));
        }
        assert!(matches!(
            begin(&kv, "id1", "alice", "ausweis", 1001),
            Err(Error::Conflict { .. })
        ));
        Ok(())
    }

    #[test]
    fn a_code_step_is_accepted_once() -> Result<()> {
        let kv = MemoryKv::new();
        begin(&kv, "id1", "alice", "ausweis", 1000)?;
        confirm(&kv, "id1", &code_at(&kv, 1000)?, 1000)?;
        // the confirming code is used already
        assert_eq!(check(&kv, "id1", &code_at(&kv, 1000)?, 1000)?, None);
        let next = code_at(&kv, 1030)?;
        assert_eq!(check(&kv, "id1", &next, 1030)?, Some(Used::Totp));
        assert_eq!(check(&kv, "id1", &next, 1031)?, None);
        Ok(())
    }

    #[test]
    fn recovery_codes_work_once_in_any_spelling() -> Result<()> {
        let kv = MemoryKv::new();
        begin(&kv, "id1", "alice", "ausweis", 1000)?;
        let codes = confirm(&kv, "id1", &code_at(&kv, 1000)?, 1000)?;
        let first = codes[0].expose().to_uppercase().replace('-', " ");
        assert_eq!(check(&kv, "id1", &first, 2000)?, Some(Used::RecoveryCode));
        assert_eq!(check(&kv, "id1", codes[0].expose(), 2000)?, None);
        assert_eq!(get(&kv, "id1")?.map(|(t, _)| t.recovery.len()), Some(9));
        // another account's digest does not match
        assert_eq!(check(&kv, "id2", codes[1].expose(), 2000)?, None);
        disable(&kv, "id1", codes[1].expose(), 2000)?;
        assert!(kv.all_keys(Store::Credentials).is_empty());
        Ok(())
    }
}
