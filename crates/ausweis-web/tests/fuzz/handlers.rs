//! Every handler, fed arbitrary requests: it answers (never panics, never
//! 500), and a refused request leaves the stores as they were, on an empty
//! store and on one with a logged-in member.

use proptest::prelude::*;

use crate::{
    config, request, run, seeded, session_cookie, snapshot, unchanged_where_it_must, Handler,
};

pub const ROUTES: &[(&str, Handler)] = &[
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
    ("/register", ausweis_web::register::handle),
    ("/redeem", ausweis_web::redeem::handle),
    ("/redeem/apply", ausweis_web::redeem::handle),
    ("/", ausweis_web::profile::handle),
    ("/profile", ausweis_web::profile::handle),
    ("/profile/fields", ausweis_web::profile::handle),
    ("/profile/fields/name", ausweis_web::profile::handle),
    ("/profile/fields/name/delete", ausweis_web::profile::handle),
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
        "(grant_type|code|redirect_uri|client_id|client_secret|refresh_token|token|scope|state|response_type|prompt|max_age|consent|csrf|secret|username|password|key|public_key|name|type|value|visibility|return_to)=[ -~]{0,40}(&[a-z_]{1,12}=[ -~]{0,20}){0,4}"
            .prop_map(String::into_bytes),
        "\\{\"(email|code|pending|token|new_password|current_password|password|value|type|visibility|signed_message|signature|challenge)\":(\"[ -~]{0,40}\"|[0-9]{1,5}|true|null|\\[\\])(,\"[a-z_]{1,16}\":\"[ -~]{0,20}\"){0,3}\\}"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn no_handler_panics_and_refused_requests_write_nothing(
        route in 0..ROUTES.len(),
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
        query in "[ -~]{0,60}",
        headers in header_strategy(),
        body in body_strategy(),
        logged_in in any::<bool>(),
    ) {
        let (path, handler) = ROUTES[route];
        let query: String = query.chars().filter(|c| !c.is_whitespace() && *c != '#').collect();
        let uri = format!("{path}?{query}");
        let mut headers = headers;
        let kv = if logged_in {
            headers.push(("cookie".into(), format!("__Host-ausweis_session={}", session_cookie())));
            seeded()
        } else {
            ausweis::kv::MemoryKv::new()
        };
        let Some(req) = request(method, &uri, &headers, body) else { return Ok(()); };
        let before = snapshot(&kv);
        let resp = run(&kv, handler, req);
        let status = resp.status().as_u16();
        prop_assert!((200..600).contains(&status));
        prop_assert!(status != 500, "{method} {path}: 500");
        if (400..500).contains(&status) {
            let after = snapshot(&kv);
            prop_assert!(unchanged_where_it_must(&before, &after, status), "{method} {path} {status} wrote");
        }
    }

    /// The admin API stores no expiry past 9999-12-31T23:59:59Z, so
    /// extending one by days cannot overflow.
    #[test]
    fn admin_expiry_is_bounded(expires in prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (253_402_300_000u64..253_402_400_000).prop_map(|n| n.to_string()),
        "\"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2}))?\"",
        "\"9999-12-31T2[0-9]:[0-5][0-9]:[0-5][0-9][+-]0[0-9]:[0-5][0-9]\"",
        "\"[ -~]{0,30}\"",
    ]) {
        let mut headers = crate::browser_headers("/admin/users/alice/permissions/cloud", "", "application/json");
        headers.push(("authorization".into(), format!("Bearer {}", crate::ADMIN_SECRET)));
        let body = format!("{{\"expires\": {expires}}}");
        let Some(req) = request("PUT", "/admin/users/alice/permissions/cloud", &headers, body.into_bytes()) else { return Ok(()); };
        let kv = seeded();
        let resp = run(&kv, ausweis_web::admin::handle, req);
        match resp.status().as_u16() {
            200 => {
                let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
                prop_assert!(v["permissions"]["cloud"].as_u64().unwrap() <= 253_402_300_799);
            }
            400 => prop_assert!(matches!(crate::error_code(&resp).as_deref(), Some("invalid_expires" | "invalid_body"))),
            s => prop_assert!(false, "{s}"),
        }
    }

    #[test]
    fn username_and_email_parsing_never_panic(s in "\\PC{0,80}") {
        let _ = ausweis::username::Username::parse(&s);
        let _ = ausweis::email::Email::parse(&s);
    }
}
