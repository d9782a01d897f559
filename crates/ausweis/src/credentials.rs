//! What a logged-in member does with their password: prove it again
//! before a grave step, and change it.

use crate::account::{self, Account};
use crate::oidc::grant;
use crate::password::{self, HashParams, Verdict};
use crate::secret::Secret;
use crate::session;
use crate::throttle;
use crate::twofactor;
use crate::{Error, Result};

/// Checks the password (and, if `with_code` and the second factor is on,
/// a code) of a logged-in member. Failures count against the name's
/// throttle as failed logins do, so a stolen session cannot guess the
/// password faster than the login form could.
pub fn reauthenticate(
    kv: &dyn crate::kv::Kv,
    hash: &HashParams,
    account: &Account,
    password: &Secret,
    code: Option<&str>,
    with_code: bool,
    now: u64,
) -> Result<()> {
    if password.expose().len() > password::MAX_BYTES {
        return Err(Error::InvalidCredentials);
    }
    throttle::check(kv, &account.username, now)?;
    let Some(credential) = account::credential(kv, &account.id)? else {
        password::verify_dummy(password, hash)?;
        return Err(Error::InvalidCredentials);
    };
    if password::verify(password, &credential.phc, hash)? == Verdict::Mismatch {
        throttle::record_failure(kv, &account.username, now)?;
        return Err(Error::InvalidCredentials);
    }
    if with_code && twofactor::enabled(kv, &account.id)? {
        let Some(code) = code else {
            return Err(Error::CodeRequired);
        };
        if twofactor::check(kv, &account.id, code, now)?.is_none() {
            throttle::record_failure(kv, &account.username, now)?;
            return Err(Error::InvalidCode);
        }
    }
    throttle::clear(kv, &account.username)?;
    Ok(())
}

/// Replaces the password after checking the current one, then ends the
/// member's other sessions and revokes the OpenID Connect grants made in
/// them: whoever else knew the old password is out. The session stored
/// under `current` (and its grants) stays. Returns how many sessions ended.
pub fn change_password(
    kv: &dyn crate::kv::Kv,
    hash: &HashParams,
    account: &Account,
    current: &Secret,
    new: &Secret,
    keep: (&str, &str),
    now: u64,
) -> Result<usize> {
    password::check_policy(new, &account.username)?;
    reauthenticate(kv, hash, account, current, None, false, now)?;
    let phc = password::hash(new, hash)?;
    account::set_credential(kv, &account.id, phc)?;
    let (keep_key, keep_sid) = keep;
    let ended = session::end_all(kv, &account.id, Some(keep_key), now)?;
    grant::revoke_all(kv, &account.id, Some(keep_sid), now)?;
    Ok(ended.len())
}

/// Sets a new password without the old one, after a recovery proof, and
/// ends every session and grant of the account.
pub fn reset_password(
    kv: &dyn crate::kv::Kv,
    hash: &HashParams,
    account_id: &str,
    new: &Secret,
    now: u64,
) -> Result<()> {
    let phc = password::hash(new, hash)?;
    account::set_credential(kv, account_id, phc)?;
    session::end_all(kv, account_id, None, now)?;
    grant::revoke_all(kv, account_id, None, now)?;
    Ok(())
}
