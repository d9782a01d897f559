//! Property tests: every parser of outside input, fed arbitrary bytes,
//! answers (an error or a value) and never panics, and a refused request
//! writes nothing. Regressions found by these runs are kept as named cases.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::collections::HashMap;

use ausweis::kv::{MemoryKv, Store};
use ausweis_web::{Env, Outbound, Request};
use proptest::prelude::*;

struct NoOutbound;

impl Outbound for NoOutbound {
    fn post_form(&self, _: &str, _: &str, _: u64) -> Result<u16, String> {
        Err("no network in tests".into())
    }
}

fn vars() -> HashMap<String, String> {
    [
        ("issuer", "https://id.example.org"),
        ("mail_domain", "example.org"),
        ("admin_secret", "0123456789abcdef0123"),
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
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn request(
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Option<Request> {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(body).ok()
}

type Handler = fn(Request, &Env) -> ausweis_web::Response;

const ROUTES: &[(&str, Handler)] = &[
    ("/api/register", ausweis_web::register::handle),
    ("/api/login", ausweis_web::login::handle),
    ("/api/session", ausweis_web::login::handle),
    ("/login", ausweis_web::login::handle),
    ("/oidc/authorize", ausweis_web::oidc::handle),
    ("/oidc/userinfo", ausweis_web::oidc::handle),
    ("/oidc/token", ausweis_web::token::handle),
    ("/oidc/revoke", ausweis_web::token::handle),
    ("/oidc/logout", ausweis_web::token::handle),
    ("/admin/clients/x", ausweis_web::admin::handle),
    (
        "/admin/users/alice/permissions/cloud",
        ausweis_web::admin::handle,
    ),
    ("/admin/users/alice/claim", ausweis_web::admin::handle),
    ("/api/login/otp", ausweis_web::login::handle),
    ("/api/profile", ausweis_web::profile::handle),
    ("/api/profile/fields/name", ausweis_web::profile::handle),
    ("/api/users/alice/profile", ausweis_web::profile::handle),
    ("/api/account", ausweis_web::account::handle),
    ("/api/account/password", ausweis_web::account::handle),
    ("/api/account/two-factor", ausweis_web::account::handle),
    (
        "/api/account/two-factor/confirm",
        ausweis_web::account::handle,
    ),
    ("/api/account/export", ausweis_web::account::handle),
    (
        "/api/account/recovery/pgp/challenge",
        ausweis_web::account::handle,
    ),
    ("/api/account/recovery/pgp", ausweis_web::account::handle),
    ("/api/account/recovery/email", ausweis_web::account::handle),
    (
        "/api/account/recovery/email/confirm",
        ausweis_web::account::handle,
    ),
    ("/account/recover", ausweis_web::account::handle),
    ("/account", ausweis_web::account::handle),
    ("/account/password", ausweis_web::account::handle),
    ("/account/two-factor", ausweis_web::account::handle),
    ("/account/two-factor/confirm", ausweis_web::account::handle),
    ("/account/two-factor/off", ausweis_web::account::handle),
    ("/account/export", ausweis_web::account::handle),
    ("/account/delete", ausweis_web::account::handle),
    ("/account/recover/pgp", ausweis_web::account::handle),
    ("/account/recover/pgp/confirm", ausweis_web::account::handle),
    ("/account/recover/email", ausweis_web::account::handle),
];

fn header_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    let names = prop::sample::select(vec![
        "content-type",
        "cookie",
        "authorization",
        "origin",
        "spin-full-url",
        "sec-fetch-site",
    ]);
    let values = prop_oneof![
        Just("application/json".to_string()),
        Just("application/x-www-form-urlencoded".to_string()),
        Just("Basic YXBwOnNlY3JldA==".to_string()),
        Just("Bearer 0123456789abcdef0123".to_string()),
        Just("ausweis_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string()),
        "[ -~]{0,80}",
    ];
    prop::collection::vec((names.prop_map(String::from), values), 0..5)
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        "\\{\"username\":\"[a-z]{0,12}\",\"password\":\"[ -~]{0,30}\"(,\"[a-z_]{1,10}\":[0-9a-z\"]{0,10})?\\}"
            .prop_map(String::into_bytes),
        "(grant_type|code|redirect_uri|client_id|client_secret|refresh_token|token|scope|state|response_type|prompt|max_age|consent|csrf)=[ -~]{0,40}(&[a-z_]{1,12}=[ -~]{0,20}){0,4}"
            .prop_map(String::into_bytes),
        "\\{\"(email|code|pending|token|new_password|current_password|password|value|type|visibility|signed_message|signature|challenge)\":(\"[ -~]{0,40}\"|[0-9]{1,5}|true|null|\\[\\])(,\"[a-z_]{1,16}\":\"[ -~]{0,20}\"){0,3}\\}"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn no_handler_panics_and_refused_requests_write_nothing(
        route in 0..ROUTES.len(),
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
        query in "[ -~]{0,60}",
        headers in header_strategy(),
        body in body_strategy(),
    ) {
        let (path, handler) = ROUTES[route];
        let query: String = query.chars().filter(|c| !c.is_whitespace() && *c != '#').collect();
        let uri = format!("{path}?{query}");
        let Some(req) = request(method, &uri, &headers, body) else { return Ok(()); };
        let kv = MemoryKv::new();
        let vars = vars();
        let env = Env { kv: &kv, vars: &vars, outbound: &NoOutbound, now: 1_900_000_000 };
        let resp = handler(req, &env);
        let status = resp.status().as_u16();
        prop_assert!((200..600).contains(&status));
        if status >= 400 && status != 401 && status != 429 {
            // a refused request leaves no account, credential or grant
            for store in [Store::Accounts, Store::Credentials, Store::Permissions, Store::Clients] {
                prop_assert!(kv.all_keys(store).is_empty(), "{path} {status} wrote to {store:?}");
            }
        }
    }

    #[test]
    fn authorize_request_parsing_never_panics(pairs in prop::collection::vec(("[a-z_]{1,20}", "[ -~]{0,60}"), 0..12)) {
        let _ = ausweis::oidc::authorize::AuthRequest::from_pairs(&pairs);
    }

    #[test]
    fn armour_parsing_never_panics(text in "(-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n)?[A-Za-z0-9+/=\n]{0,400}(\n-----END PGP PUBLIC KEY BLOCK-----)?") {
        prop_assert!(ausweis::openpgp::check_public_key(&text).is_err());
    }

    #[test]
    fn username_and_email_parsing_never_panic(s in "\\PC{0,80}") {
        let _ = ausweis::username::Username::parse(&s);
        let _ = ausweis::email::Email::parse(&s);
    }
}
