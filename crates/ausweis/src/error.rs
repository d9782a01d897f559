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
    /// Pretix knows no ticket with this secret (or the position was
    /// cancelled on its own).
    #[error("unknown ticket")]
    TicketUnknown,
    /// The ticket has been redeemed (checked in) already.
    #[error("ticket already redeemed")]
    TicketRedeemed,
    /// The ticket's order is not paid (pending or awaiting approval).
    #[error("ticket not paid")]
    TicketUnpaid,
    /// The ticket's order was cancelled or has expired.
    #[error("ticket cancelled")]
    TicketCancelled,
    /// Pretix refused the check-in for another reason (a check-in rule, a
    /// blocked ticket, an item not on the list). `reason` is Pretix's code.
    #[error("ticket refused: {reason}")]
    TicketRefused {
        /// Pretix's reason code, a fixed word such as `rules`.
        reason: String,
    },
    /// The ticket is for an item that `item_entitlements` does not map.
    #[error("item grants nothing")]
    ItemNotRedeemable,
    /// Pretix could not be reached in time (connection failed, timed out,
    /// or it answered 503). Nothing was decided; a retry may work.
    #[error("pretix unavailable: {0}")]
    PretixUnavailable(&'static str),
    /// Pretix answered something unusable (a server error, HTML instead of
    /// JSON, refused credentials). The text is ours, for logs.
    #[error("pretix failed: {0}")]
    PretixFailed(String),
    /// Ticket redemption is not configured on this server.
    #[error("redemption disabled")]
    RedemptionDisabled,
    /// This browser has no live redemption link.
    #[error("no pending redemption")]
    NoRedemption,
    /// This browser's pending redemption has begun to be applied to an
    /// account (it may be checked in at Pretix already): only that account
    /// can finish it, and it must be finished before another.
    #[error("redemption pending")]
    RedemptionPending,
    /// Another request is checking this redemption in right now.
    #[error("redemption busy")]
    RedemptionBusy,
    /// Registration requires a redeemed ticket in this browser first.
    #[error("ticket required")]
    TicketRequired,
    /// The operation needs the code of the member's second factor, and none
    /// was given.
    #[error("second factor required")]
    CodeRequired,
    /// A state-changing request came from a page of another site.
    #[error("cross-site request")]
    CrossSite,
    /// A second-factor code is wrong, was used already, or is out of time.
    #[error("invalid code")]
    InvalidCode,
    /// What was asked for does not exist, or is not visible to the asker;
    /// deliberately one variant for both. The text says what was looked for.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The request does not fit the present state (for example enrolling a
    /// second factor that is on already).
    #[error("{message}")]
    Conflict {
        /// Stable error code, for example `two_factor_enabled`.
        code: &'static str,
        /// What to do instead.
        message: String,
    },
    /// Account recovery was refused: the challenge or link is unknown,
    /// expired or used, or the signature does not verify with the
    /// account's key. One variant for all, so nothing is learnt from it.
    #[error("recovery refused")]
    RecoveryFailed,
    /// Recovery by e-mail is not configured on this server.
    #[error("mail recovery disabled")]
    MailRecoveryDisabled,
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
    /// Shorthand for [`Error::Conflict`].
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }
}
