//! The OpenID Connect provider: clients, signing keys, the authorization
//! code flow with PKCE, the token endpoint's grants, and claims.
//!
//! Specifications: OpenID Connect Core 1.0, OAuth 2.0 (RFC 6749), PKCE
//! (RFC 7636), Token Revocation (RFC 7009), Authorization Server Issuer
//! Identification (RFC 9207), OAuth 2.0 Security Best Current Practice
//! (RFC 9700).

pub mod authorize;
pub mod claims;
pub mod client;
pub mod grant;
pub mod keys;
pub mod logout;
pub mod settings;

use serde::{Deserialize, Serialize};

/// An OAuth error as sent to a client (RFC 6749 sections 4.1.2.1 and 5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// The registered error code, e.g. `invalid_grant`.
    pub error: &'static str,
    /// Human-readable text for the developer of the client.
    pub error_description: String,
}

impl OAuthError {
    /// A new error with a description.
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            error,
            error_description: description.into(),
        }
    }
}
