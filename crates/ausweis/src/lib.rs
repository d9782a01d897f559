//! Domain logic of ausweis, independent of Spin and of HTTP.
//!
//! Every operation takes a [`kv::Kv`] (the key-value stores), the
//! configuration it needs and the current time, and returns domain values or
//! an [`Error`]. The `ausweis-web` crate maps these to HTTP; the Spin
//! components only adapt Spin's types.

pub mod account;
pub mod config;
pub mod credentials;
pub mod date;
pub mod email;
pub mod entitlements;
pub mod erase;
pub mod error;
pub mod expiring;
pub mod export;
pub mod kv;
pub mod login;
pub mod oidc;
pub mod openpgp;
pub mod password;
pub mod permissions;
pub mod profile;
pub mod random;
pub mod record;
pub mod recovery;
pub mod redeem;
pub mod register;
pub mod seal;
pub mod secret;
pub mod session;
pub mod throttle;
pub mod totp;
pub mod twofactor;
pub mod username;

pub use error::{Error, Result};
