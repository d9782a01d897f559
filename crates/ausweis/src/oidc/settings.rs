//! Settings of the provider, read from Spin variables.

use crate::config::{self, Vars};
use crate::Result;

/// Lifetimes and the issuer.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer identifier: the public base URL, without trailing slash.
    pub issuer: String,
    /// Lifetime of authorization codes, seconds. RFC 6749 section 4.1.2
    /// recommends at most 10 minutes; we allow at most 60 s.
    pub code_seconds: u64,
    /// Lifetime of access and ID tokens, seconds.
    pub access_seconds: u64,
    /// Lifetime of a refresh token (each rotation starts it anew), seconds.
    pub refresh_seconds: u64,
    /// Age after which a signing key is replaced, seconds.
    pub key_rotate_seconds: u64,
    /// How long a new key is published before it signs, seconds.
    pub key_publish_lead_seconds: u64,
}

impl Settings {
    /// Reads the provider's variables.
    pub fn from_vars(vars: &dyn Vars) -> Result<Self> {
        Ok(Settings {
            issuer: config::text(vars, "issuer")?
                .trim_end_matches('/')
                .to_owned(),
            code_seconds: config::number(vars, "oidc_code_seconds", 1..=60)?,
            access_seconds: config::number(vars, "oidc_access_token_seconds", 60..=86_400)?,
            refresh_seconds: config::number(vars, "oidc_refresh_token_days", 1..=365)? * 86_400,
            key_rotate_seconds: config::number(vars, "signing_key_rotate_seconds", 2..=31_536_000)?,
            key_publish_lead_seconds: config::number(
                vars,
                "signing_key_publish_lead_seconds",
                0..=2_592_000,
            )?,
        })
    }
}
