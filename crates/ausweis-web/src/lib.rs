//! The HTTP face of ausweis, without Spin: each component's handler takes an
//! [`http::Request`] and an [`Env`] (stores, variables, clock) and returns an
//! [`http::Response`]. Domain errors become statuses in one place,
//! [`problem::from_error`].

pub mod account;
pub mod admin;
pub mod auth;
pub mod cookie;
pub mod csrf;
pub mod form;
pub mod html;
pub mod i18n;
pub mod input;
pub mod login;
pub mod oidc;
pub mod outbound;
pub mod pretix;
pub mod problem;
pub mod profile;
pub mod qr;
pub mod redeem;
pub mod register;
pub mod reply;
pub mod token;

use ausweis::config::Vars;
use ausweis::kv::Kv;

pub use outbound::{OutboundError, OutboundRequest};

/// A request with its whole body.
pub type Request = http::Request<Vec<u8>>;
/// A response with its whole body.
pub type Response = http::Response<Vec<u8>>;

/// Largest request body accepted, in bytes; larger ones get 413.
pub const MAX_BODY: usize = 64 * 1024;

/// What a handler may use besides the request.
pub struct Env<'a> {
    /// The key-value stores granted to the component.
    pub kv: &'a dyn Kv,
    /// The component's variables.
    pub vars: &'a dyn Vars,
    /// Outgoing HTTP, limited by the host to the component's allowed hosts.
    pub outbound: &'a dyn Outbound,
    /// Current Unix time in seconds.
    pub now: u64,
}

/// Outgoing HTTP requests, as far as handlers need them.
pub trait Outbound {
    /// POSTs a form-encoded body and returns the response status. Gives up
    /// after `timeout_ms`.
    fn post_form(&self, url: &str, body: &str, timeout_ms: u64) -> Result<u16, String>;

    /// Sends `req` and reads the whole response, all within `req.timeout`
    /// (see [`outbound`]). Refuses by default, for hosts and doubles that
    /// offer only `post_form`.
    fn send(&self, req: &OutboundRequest) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let _ = req;
        Err(OutboundError::Denied)
    }
}

/// Writes one line about what happened, never to whom: an event name and
/// an outcome, both fixed words chosen by the caller.
pub fn log_event(event: &str, outcome: &str) {
    eprintln!("ausweis event={event} outcome={outcome}");
}
