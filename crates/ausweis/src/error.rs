//! The one error type of the domain crate.

use crate::kv::StoreError;

/// Result alias of the domain crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a domain operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input failed validation. `code` is stable and machine-readable,
    /// `message` tells the caller what to fix and never repeats a secret.
    #[error("{message}")]
    Invalid {
        /// Stable error code, for example `invalid_username`.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// The username is registered already.
    #[error("username taken")]
    UsernameTaken,
    /// Unknown username or wrong password; deliberately one variant for both.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed logins for one username: wait this many seconds.
    #[error("too many failed attempts")]
    Throttled {
        /// Seconds until the next attempt is considered.
        retry_after: u64,
    },
    /// No live session.
    #[error("not authenticated")]
    NotAuthenticated,
    /// A configuration value is missing or out of range.
    #[error("configuration: {0}")]
    Config(String),
    /// The key-value store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// An unexpected failure inside a library (hashing, key generation).
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }
}
