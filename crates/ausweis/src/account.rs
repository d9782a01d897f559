//! Account records and password credentials.
//!
//! Key families (see `kv-schema/`):
//! - `accounts` / `claim:{username}`: a counter; the registration that
//!   raises it to 1 owns the name;
//! - `accounts` / `user:{username}`: the [`Account`];
//! - `accounts` / `retired:{sha256(username)}`: the tombstone of a
//!   deleted account's name;
//! - `credentials` / `password:{account_id}`: the [`Credential`].

use serde::{Deserialize, Serialize};

use crate::kv::{Kv, Store};
use crate::username::Username;
use crate::{Error, Result};

/// Key of the account record of a username.
pub fn account_key(username: &Username) -> String {
    format!("user:{username}")
}

/// Key of the counter that decides who owns a username.
pub fn claim_key(username: &Username) -> String {
    format!("claim:{username}")
}

/// Key of the tombstone of a deleted account's username: a digest of the
/// name, so that the name is never given out again (a service that keys
/// its users by `preferred_username` would otherwise hand the old
/// member's data to the new holder) while the name itself is gone.
pub fn retired_key(username: &Username) -> String {
    format!(
        "retired:{}",
        crate::random::digest_hex("retired", username.as_str())
    )
}

/// Key of the password credential of an account.
pub fn credential_key(account_id: &str) -> String {
    format!("password:{account_id}")
}

/// What is kept about a member. Nothing else: no payment data, no tickets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Account {
    /// Stable opaque identifier (also the OpenID Connect subject); random,
    /// unique, so it doubles as the marker of the record that claimed the name.
    pub id: String,
    /// The normalised username.
    pub username: String,
    /// Optional address, used only for recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Armored OpenPGP public key.
    pub public_key: String,
    /// Fingerprint of that key.
    pub fingerprint: String,
    /// Unix time of registration.
    pub created: u64,
}

/// A password hash, kept apart from the account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credential {
    /// Argon2id PHC string.
    pub phc: String,
}

/// Reads the account of a username.
pub fn find(kv: &dyn Kv, username: &Username) -> Result<Option<Account>> {
    let Some(raw) = kv.get(Store::Accounts, &account_key(username))? else {
        return Ok(None);
    };
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|_| Error::Internal("unreadable account record".into()))
}

/// Reads the credential of an account.
pub fn credential(kv: &dyn Kv, account_id: &str) -> Result<Option<Credential>> {
    let Some(raw) = kv.get(Store::Credentials, &credential_key(account_id))? else {
        return Ok(None);
    };
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|_| Error::Internal("unreadable credential".into()))
}

/// Replaces the credential of an account.
pub fn set_credential(kv: &dyn Kv, account_id: &str, phc: String) -> Result<()> {
    let raw =
        serde_json::to_vec(&Credential { phc }).map_err(|e| Error::Internal(e.to_string()))?;
    kv.set(Store::Credentials, &credential_key(account_id), &raw)?;
    Ok(())
}
