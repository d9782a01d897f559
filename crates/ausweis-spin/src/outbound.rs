//! [`Outbound`] over `wasi:http/outgoing-handler`, blocking: handlers are
//! synchronous.
//!
//! - `post_form` sends little and reads only the status (back-channel
//!   logout tokens).
//! - `send` reads a whole answer (Pretix, for the redeem component). The
//!   whole exchange (connect, send, first byte, body) must end before the
//!   request's deadline: the wait polls the response together with a
//!   monotonic-clock timer, so a slow or silent server cannot hold the
//!   component, whatever the host's own timeouts are. Connect and
//!   first-byte timeouts are also passed to the host as request options.

use ausweis_web::{Outbound, OutboundError, OutboundRequest};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions,
    Scheme,
};
use url::Url;
use wasi::clocks::monotonic_clock;
use wasi::io::poll::{poll, Pollable};
use wasi::io::streams::StreamError;

/// Sends requests through the host; Spin lets them out only to the
/// component's `allowed_outbound_hosts`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpinOutbound;

/// Largest chunk `blocking-write-and-flush` takes (wasi:io 0.2).
const WRITE_CHUNK: usize = 4096;

fn method(m: &http::Method) -> Method {
    match *m {
        http::Method::GET => Method::Get,
        http::Method::POST => Method::Post,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        http::Method::HEAD => Method::Head,
        http::Method::PATCH => Method::Patch,
        ref other => Method::Other(other.as_str().to_owned()),
    }
}

fn classify(e: &ErrorCode) -> OutboundError {
    match e {
        ErrorCode::HttpRequestDenied => OutboundError::Denied,
        ErrorCode::DnsTimeout
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => OutboundError::Timeout,
        ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_) => OutboundError::Unreachable,
        ErrorCode::HttpResponseBodySize(_) => OutboundError::TooLarge,
        _ => OutboundError::Protocol,
    }
}

/// Waits until `p` is ready or the `timer` fires; `false` on the timer.
fn wait(p: &Pollable, timer: &Pollable) -> bool {
    poll(&[p, timer]).contains(&0)
}

fn build(req: &OutboundRequest) -> Result<OutgoingRequest, OutboundError> {
    let uri: http::Uri = req.url.parse().map_err(|_| OutboundError::Protocol)?;
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Https,
        Some("http") => Scheme::Http,
        _ => return Err(OutboundError::Protocol),
    };
    let authority = uri.authority().ok_or(OutboundError::Protocol)?.as_str();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut headers: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    // a declared length rather than chunked encoding, which some servers
    // in front of Pretix (and Django's own) do not read
    if !req.body.is_empty() {
        headers.push((
            "content-length".into(),
            req.body.len().to_string().into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers).map_err(|_| OutboundError::Protocol)?;
    let out = OutgoingRequest::new(fields);
    out.set_method(&method(&req.method))
        .and_then(|()| out.set_scheme(Some(&scheme)))
        .and_then(|()| out.set_authority(Some(authority)))
        .and_then(|()| out.set_path_with_query(Some(path)))
        .map_err(|()| OutboundError::Protocol)?;
    Ok(out)
}

fn options(timeout_ns: u64) -> RequestOptions {
    let opts = RequestOptions::new();
    // the host may refuse options it does not support; the timer still holds
    let _ = opts.set_connect_timeout(Some(timeout_ns));
    let _ = opts.set_first_byte_timeout(Some(timeout_ns));
    let _ = opts.set_between_bytes_timeout(Some(timeout_ns));
    opts
}

fn read_body(
    resp: IncomingResponse,
    max: usize,
    timer: &Pollable,
) -> Result<Vec<u8>, OutboundError> {
    let body = resp.consume().map_err(|()| OutboundError::Protocol)?;
    let stream = body.stream().map_err(|()| OutboundError::Protocol)?;
    let mut out = Vec::new();
    // bounded: each round reads bytes or waits for the stream or the timer
    loop {
        match stream.read(64 * 1024) {
            Ok(chunk) if chunk.is_empty() => {
                if !wait(&stream.subscribe(), timer) {
                    return Err(OutboundError::Timeout);
                }
            }
            Ok(chunk) => {
                out.extend_from_slice(&chunk);
                if out.len() > max {
                    return Err(OutboundError::TooLarge);
                }
            }
            Err(StreamError::Closed) => return Ok(out),
            Err(StreamError::LastOperationFailed(_)) => return Err(OutboundError::Protocol),
        }
    }
}

impl Outbound for SpinOutbound {
    fn post_form(&self, url: &str, body: &str, timeout_ms: u64) -> Result<u16, String> {
        let url = Url::parse(url).map_err(|_| "bad url".to_string())?;
        let scheme = match url.scheme() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            _ => return Err("unsupported scheme".into()),
        };
        let host = url.host_str().ok_or("no host")?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let headers = Fields::from_list(&[
            (
                "content-type".to_owned(),
                b"application/x-www-form-urlencoded".to_vec(),
            ),
            (
                "content-length".to_owned(),
                body.len().to_string().into_bytes(),
            ),
        ])
        .map_err(|_| "headers")?;
        let req = OutgoingRequest::new(headers);
        req.set_method(&Method::Post).map_err(|_| "method")?;
        req.set_scheme(Some(&scheme)).map_err(|_| "scheme")?;
        req.set_authority(Some(&authority))
            .map_err(|_| "authority")?;
        req.set_path_with_query(Some(&path)).map_err(|_| "path")?;
        let out_body = req.body().map_err(|_| "body")?;
        {
            let stream = out_body.write().map_err(|_| "body stream")?;
            for chunk in body.as_bytes().chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|_| "write")?;
            }
        }
        OutgoingBody::finish(out_body, None).map_err(|_| "finish")?;
        let opts = RequestOptions::new();
        let nanos = timeout_ms.saturating_mul(1_000_000);
        let _ = opts.set_connect_timeout(Some(nanos));
        let _ = opts.set_first_byte_timeout(Some(nanos));
        let future = outgoing_handler::handle(req, Some(opts)).map_err(|e| format!("{e:?}"))?;
        future.subscribe().block();
        match future.get() {
            Some(Ok(Ok(resp))) => Ok(resp.status()),
            Some(Ok(Err(e))) => Err(format!("{e:?}")),
            _ => Err("no response".into()),
        }
    }

    fn send(&self, req: &OutboundRequest) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let timeout_ns = u64::try_from(req.timeout.as_nanos()).unwrap_or(u64::MAX);
        let timer =
            monotonic_clock::subscribe_instant(monotonic_clock::now().saturating_add(timeout_ns));
        let out = build(req)?;
        let body = out.body().map_err(|()| OutboundError::Protocol)?;
        let future =
            outgoing_handler::handle(out, Some(options(timeout_ns))).map_err(|e| classify(&e))?;
        {
            let stream = body.write().map_err(|()| OutboundError::Protocol)?;
            for chunk in req.body.chunks(WRITE_CHUNK) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|_| OutboundError::Unreachable)?;
            }
        }
        OutgoingBody::finish(body, None).map_err(|e| classify(&e))?;

        if !wait(&future.subscribe(), &timer) {
            return Err(OutboundError::Timeout);
        }
        let resp = match future.get() {
            Some(Ok(Ok(resp))) => resp,
            Some(Ok(Err(e))) => return Err(classify(&e)),
            Some(Err(())) | None => return Err(OutboundError::Protocol),
        };
        let status = resp.status();
        let bytes = read_body(resp, req.max_body, &timer)?;
        let mut answer = http::Response::new(bytes);
        *answer.status_mut() =
            http::StatusCode::from_u16(status).map_err(|_| OutboundError::Protocol)?;
        Ok(answer)
    }
}
