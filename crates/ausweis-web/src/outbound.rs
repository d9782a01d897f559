//! A whole outgoing HTTP exchange under one deadline, for
//! [`crate::Outbound::send`]. The Spin adapter implements it over
//! `wasi:http/outgoing-handler`; tests implement it with canned answers.

use std::time::Duration;

/// An outgoing request.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The method.
    pub method: http::Method,
    /// The absolute URL.
    pub url: String,
    /// Headers to send. May hold credentials: never log them.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
    /// The whole exchange, from connecting to the last body byte, must end
    /// within this time.
    pub timeout: Duration,
    /// Largest response body accepted, in bytes.
    pub max_body: usize,
}

/// Why no response came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundError {
    /// The host does not allow this destination (`allowed_outbound_hosts`).
    Denied,
    /// The connection could not be made (refused, DNS, TLS).
    Unreachable,
    /// The deadline passed.
    Timeout,
    /// The response body was larger than allowed.
    TooLarge,
    /// The peer broke the protocol, or the request could not be built.
    Protocol,
}
