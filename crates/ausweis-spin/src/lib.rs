//! Adapts Spin to the ausweis crates: reads the incoming request (bounded),
//! opens the component's key-value stores on first use, reads variables,
//! and writes the handler's response. Every component is one call to
//! [`serve`].

mod kv;
mod outbound;

use ausweis::config::Vars;
use ausweis_web::{problem, Env, Request, Response, MAX_BODY};
use futures::StreamExt;
use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingResponse, ResponseOutparam};

pub use kv::SpinKv;
pub use outbound::SpinOutbound;

/// Spin variables of the running component.
pub struct SpinVars;

impl Vars for SpinVars {
    fn get(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(name).ok()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn method(m: Method) -> http::Method {
    match m {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Patch => http::Method::PATCH,
        Method::Options => http::Method::OPTIONS,
        Method::Connect => http::Method::CONNECT,
        Method::Trace => http::Method::TRACE,
        Method::Other(o) => http::Method::from_bytes(o.as_bytes()).unwrap_or(http::Method::GET),
    }
}

/// Reads the request; `Err` carries the answer when it cannot be read or is
/// too large.
async fn read(req: IncomingRequest) -> Result<Request, Response> {
    let mut builder = http::Request::builder()
        .method(method(req.method()))
        .uri(req.path_with_query().unwrap_or_else(|| "/".into()));
    let mut declared: Option<usize> = None;
    for (name, value) in req.headers().entries() {
        if name.eq_ignore_ascii_case("content-length") {
            declared = std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        }
        builder = builder.header(name, value);
    }
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(problem::too_large());
    }
    let mut body = Vec::new();
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            problem::new(
                http::StatusCode::BAD_REQUEST,
                "unreadable_body",
                "the request body could not be read",
            )
        })?;
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            return Err(problem::too_large());
        }
    }
    builder.body(body).map_err(|_| {
        problem::new(
            http::StatusCode::BAD_REQUEST,
            "malformed_request",
            "the request line or headers are malformed",
        )
    })
}

async fn write(resp: Response, out: ResponseOutparam) {
    let (parts, body) = resp.into_parts();
    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(parts.status.as_u16());
    if out.set_with_body(outgoing, body).await.is_err() {
        eprintln!("ausweis event=response outcome=write_failed");
    }
}

/// Serves one request with `handler`.
pub async fn serve(
    req: IncomingRequest,
    out: ResponseOutparam,
    handler: fn(Request, &Env) -> Response,
) {
    let resp = match read(req).await {
        Ok(request) => {
            let kv = SpinKv::default();
            let env = Env {
                kv: &kv,
                vars: &SpinVars,
                outbound: &SpinOutbound,
                now: now(),
            };
            handler(request, &env)
        }
        Err(resp) => resp,
    };
    write(resp, out).await;
}
