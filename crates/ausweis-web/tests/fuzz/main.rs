//! Property tests of every parser of outside input, fed structured
//! near-valid inputs as well as noise: nothing panics, a refused input gets
//! its documented 4xx answer (502 for a broken Pretix answer), round trips
//! hold, and a refused request leaves the stores as they were.
//!
//! One test binary, one request helper ([`request`]) and one seeded store
//! ([`seeded`]) for every module. Each property runs a bounded number of
//! cases ([`config`]); `PROPTEST_CASES=100000` runs them longer (see the
//! README). Crashes found are kept as named tests in [`regressions`].

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod armour;
mod authorize;
mod bodies;
mod handlers;
mod headers;
mod pretix;
mod regressions;
mod totp;

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use ausweis::kv::{Kv, MemoryKv, Store};
use ausweis_web::{Env, Outbound, Request, Response};
use proptest::test_runner::Config as ProptestConfig;

/// The configuration of one property: `default_cases` cases unless the
/// environment sets `PROPTEST_CASES`.
pub fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        // shrinking must end too
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

/// Unix time of every request.
pub const NOW: u64 = 1_900_000_000;
/// The public URL the app is served at.
pub const ISSUER: &str = "https://id.example.org";
/// The admin API's bearer secret.
pub const ADMIN_SECRET: &str = "0123456789abcdef0123";
/// The seeded member and her password.
pub const USER: &str = "alice";
/// The seeded member's password.
pub const PASSWORD: &str = "correct horse battery";
/// A confidential client with a redirect URI and its secret.
pub const CLIENT: &str = "app";
/// The confidential client's secret.
pub const CLIENT_SECRET: &str = "s3cret:with%odd+chars&more=0123456789";
/// The confidential client's redirect URI.
pub const REDIRECT: &str = "https://app.example.org/cb?x=1";

/// Outgoing HTTP that never reaches anything.
pub struct NoOutbound;

impl Outbound for NoOutbound {
    fn post_form(&self, _: &str, _: &str, _: u64) -> Result<u16, String> {
        Err("no network in tests".into())
    }

    fn send(
        &self,
        _: &ausweis_web::OutboundRequest,
    ) -> Result<http::Response<Vec<u8>>, ausweis_web::OutboundError> {
        Err(ausweis_web::OutboundError::Unreachable)
    }
}

/// Variables of a small, fast configuration (Argon2 with 64 KiB).
pub fn vars() -> HashMap<String, String> {
    [
        ("issuer", ISSUER),
        ("mail_domain", "example.org"),
        ("admin_secret", ADMIN_SECRET),
        ("argon2_memory_kib", "64"),
        ("argon2_iterations", "1"),
        ("argon2_parallelism", "1"),
        ("session_idle_minutes", "60"),
        ("session_max_hours", "24"),
        ("oidc_code_seconds", "60"),
        ("oidc_access_token_seconds", "600"),
        ("oidc_refresh_token_days", "30"),
        ("signing_key_rotate_seconds", "7776000"),
        ("signing_key_publish_lead_seconds", "0"),
        ("site_name", "ausweis"),
        ("recovery_link_minutes", "30"),
        ("mail_relay_url", "https://relay.example.org/send"),
        ("backchannel_logout_hosts", "https://backchannel.invalid"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The one request builder of the fuzz tests: `None` when `http` refuses
/// the method, URI or a header (the host would never deliver such a request).
pub fn request(
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Option<Request> {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(
            k.as_bytes(),
            http::HeaderValue::from_bytes(v.as_bytes()).ok()?,
        );
    }
    b.body(body).ok()
}

/// Headers of a browser on our own pages over HTTPS, with a cookie header.
pub fn browser_headers(path: &str, cookie: &str, content_type: &str) -> Vec<(String, String)> {
    let mut h = vec![
        ("spin-full-url".to_string(), format!("{ISSUER}{path}")),
        ("origin".to_string(), ISSUER.to_string()),
    ];
    if !cookie.is_empty() {
        h.push(("cookie".into(), cookie.into()));
    }
    if !content_type.is_empty() {
        h.push(("content-type".into(), content_type.into()));
    }
    h
}

/// Every key and value of every store.
pub type Snapshot = BTreeMap<(Store, String), Vec<u8>>;

const STORES: [Store; 9] = [
    Store::Accounts,
    Store::Credentials,
    Store::Sessions,
    Store::Permissions,
    Store::Redemptions,
    Store::Oidc,
    Store::Clients,
    Store::ClientSecrets,
    Store::Signing,
];

/// Copies every store.
pub fn snapshot(kv: &MemoryKv) -> Snapshot {
    let mut out = Snapshot::new();
    for store in STORES {
        for key in kv.all_keys(store) {
            if let Ok(Some(v)) = kv.get(store, &key) {
                out.insert((store, key), v);
            }
        }
    }
    out
}

/// The seed: the stores, and the member's session cookie value.
struct Seed {
    data: Snapshot,
    session: String,
}

fn call(kv: &MemoryKv, handler: Handler, req: Request) -> Response {
    let vars = vars();
    let env = Env {
        kv,
        vars: &vars,
        outbound: &NoOutbound,
        now: NOW,
    };
    handler(req, &env)
}

/// A handler of one component.
pub type Handler = fn(Request, &Env) -> Response;

fn make_seed() -> Seed {
    let kv = MemoryKv::new();
    let json = |path: &str, method: &str, body: serde_json::Value, extra: &[(&str, &str)]| {
        let mut h = browser_headers(path, "", "application/json");
        h.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        request(method, path, &h, body.to_string().into_bytes()).expect("seed request")
    };
    let resp = call(
        &kv,
        ausweis_web::register::handle,
        json(
            "/api/register",
            "POST",
            serde_json::json!({"username": USER, "password": PASSWORD}),
            &[],
        ),
    );
    assert_eq!(resp.status(), 201, "seed: register");
    let resp = call(
        &kv,
        ausweis_web::login::handle,
        json(
            "/api/login",
            "POST",
            serde_json::json!({"username": USER, "password": PASSWORD}),
            &[],
        ),
    );
    assert_eq!(resp.status(), 200, "seed: login");
    let set_cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("seed: cookie");
    let session = set_cookie
        .split(';')
        .next()
        .and_then(|c| c.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("seed: cookie value");
    let bearer = format!("Bearer {ADMIN_SECRET}");
    let admin = [("authorization", bearer.as_str())];
    for (id, body) in [
        (
            CLIENT,
            serde_json::json!({"secret": CLIENT_SECRET, "redirect_uris": [REDIRECT],
                "post_logout_redirect_uris": ["https://app.example.org/bye"]}),
        ),
        (
            "spa",
            serde_json::json!({"public": true, "redirect_uris": ["http://127.0.0.1:8080/cb"],
                "first_party": true}),
        ),
    ] {
        let path = format!("/admin/clients/{id}");
        let resp = call(
            &kv,
            ausweis_web::admin::handle,
            json(&path, "PUT", body, &admin),
        );
        assert_eq!(resp.status(), 201, "seed: client {id}");
    }
    let path = format!("/admin/users/{USER}/permissions/cloud");
    let resp = call(
        &kv,
        ausweis_web::admin::handle,
        json(
            &path,
            "PUT",
            serde_json::json!({"expires": NOW + 86_400, "member": true}),
            &admin,
        ),
    );
    assert_eq!(resp.status(), 200, "seed: grant");
    Seed {
        data: snapshot(&kv),
        session,
    }
}

fn seed() -> &'static Seed {
    static SEED: OnceLock<Seed> = OnceLock::new();
    SEED.get_or_init(make_seed)
}

/// A fresh store holding the member `alice` (logged in), the clients `app`
/// (confidential) and `spa` (public), and a grant of `cloud`.
pub fn seeded() -> MemoryKv {
    let kv = MemoryKv::new();
    for ((store, key), value) in &seed().data {
        kv.set(*store, key, value).expect("memory store");
    }
    kv
}

/// The seeded member's session cookie value.
pub fn session_cookie() -> &'static str {
    &seed().session
}

/// Runs `handler` on `req` over `kv` with the test variables.
pub fn run(kv: &MemoryKv, handler: Handler, req: Request) -> Response {
    call(kv, handler, req)
}

/// The answer's `error` code, if its body is a JSON problem.
pub fn error_code(resp: &Response) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(resp.body()).ok()?;
    v.get("error")?.as_str().map(String::from)
}

/// Whether a refusal of a JSON API is well-formed: a 4xx status and a
/// JSON body with an `error` code.
pub fn is_problem(resp: &Response) -> bool {
    resp.status().is_client_error() && error_code(resp).is_some_and(|c| !c.is_empty())
}

/// The stores a refused request may still change: login throttling and
/// failed-code counters live in `sessions` (401 and 429 answers count).
pub fn unchanged_where_it_must(before: &Snapshot, after: &Snapshot, status: u16) -> bool {
    let outside_sessions = |s: &Snapshot| -> Snapshot {
        s.iter()
            .filter(|((store, _), _)| *store != Store::Sessions)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    if status == 401 || status == 429 {
        outside_sessions(before) == outside_sessions(after)
    } else {
        before == after
    }
}
