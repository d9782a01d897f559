//! Outgoing HTTP over `wasi:http/outgoing-handler`, blocking: handlers are
//! synchronous and send little (back-channel logout tokens).

use ausweis_web::Outbound;
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use url::Url;

/// The Spin host's outgoing HTTP (allowed hosts come from `spin.toml`).
pub struct SpinOutbound;

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
}
