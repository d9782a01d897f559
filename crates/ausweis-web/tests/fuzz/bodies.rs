//! JSON bodies and form posts, built near-valid: the right field names with
//! wrong types, duplicate keys, deep nesting, huge numbers, NUL, invalid
//! UTF-8 and overlong strings; forms with repeated and percent-garbled keys.

use ausweis::Error;
use ausweis_web::{form, input};
use proptest::prelude::*;

use crate::{
    browser_headers, config, error_code, is_problem, request, run, seeded, session_cookie,
    snapshot, unchanged_where_it_must, Handler,
};

/// A JSON value as text, often of the wrong type or shape.
fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        // plausible strings
        prop::sample::select(vec![
            "\"alice\"",
            "\"correct horse battery\"",
            "\"123456\"",
            "\"alice@example.org\"",
            "\"public\"",
            "\"text\"",
            "\"2027-01-31\"",
            "\"\"",
        ])
        .prop_map(String::from),
        "\"[ -~]{0,40}\"".prop_map(|s| s.replace('\\', "\\\\")),
        "\\PC{0,20}".prop_map(|s| serde_json::Value::String(s).to_string()),
        // NUL, escapes, lone surrogates
        prop::sample::select(vec![
            "\"a\\u0000b\"",
            "\"\\ud800\"",
            "\"\\udc00\\ud800\"",
            "\"\\x41\"",
            "\"\\/\"",
            "\"\u{202e}admin\"",
        ])
        .prop_map(String::from),
        // numbers at and past every limit
        prop::sample::select(vec![
            "0",
            "-0",
            "1.5",
            "-1",
            "1e400",
            "-1e400",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775808",
            "-9223372036854775809",
            "253402300800",
            "1e-400",
            "00",
            "1.",
            "NaN",
            "Infinity",
        ])
        .prop_map(String::from),
        prop::sample::select(vec![
            "true",
            "false",
            "null",
            "[]",
            "{}",
            "[\"a\"]",
            "{\"a\":1}"
        ])
        .prop_map(String::from),
        // deep nesting
        (1usize..400, any::<bool>()).prop_map(|(depth, array)| if array {
            format!("{}{}", "[".repeat(depth), "]".repeat(depth))
        } else {
            format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
        }),
        // overlong strings
        (1000usize..70_000).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
    ]
}

/// A JSON object body for a route with the fields `names`: known and
/// unknown keys, some repeated, values of any type; sometimes mangled bytes.
fn json_body(names: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![
        4 => prop::sample::select(names.to_vec()).prop_map(String::from),
        1 => "[a-z_]{1,12}",
        1 => prop::sample::select(vec!["", "__proto__", "USERNAME", "user\u{0}name"]).prop_map(String::from),
    ];
    let object = prop::collection::vec((key, json_value()), 0..6).prop_map(|fields| {
        let inner: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", serde_json::Value::String(k.clone())))
            .collect();
        format!("{{{}}}", inner.join(","))
    });
    (
        object,
        prop::option::of((any::<prop::sample::Index>(), mangle())),
    )
        .prop_map(|(text, mangle)| {
            let mut bytes = text.into_bytes();
            if let Some((at, m)) = mangle {
                let i = at.index(bytes.len() + 1);
                match m {
                    Mangle::Insert(b) => bytes.insert(i, b),
                    Mangle::Truncate => bytes.truncate(i),
                    Mangle::Replace(b) if i < bytes.len() => bytes[i] = b,
                    Mangle::Replace(b) => bytes.push(b),
                }
            }
            bytes
        })
}

#[derive(Debug, Clone)]
enum Mangle {
    Insert(u8),
    Replace(u8),
    Truncate,
}

fn mangle() -> impl Strategy<Value = Mangle> {
    let byte = prop_oneof![
        prop::sample::select(vec![
            0u8, 0xff, 0xc3, 0xe2, 0x80, b'"', b'\\', b'{', b',', b'\n'
        ]),
        any::<u8>(),
    ];
    prop_oneof![
        byte.clone().prop_map(Mangle::Insert),
        byte.prop_map(Mangle::Replace),
        Just(Mangle::Truncate),
    ]
}

/// The JSON routes: method, path, handler, fields.
const JSON_ROUTES: &[(&str, &str, Handler, &[&str])] = &[
    (
        "POST",
        "/api/register",
        ausweis_web::register::handle,
        &["username", "password", "email", "public_key"],
    ),
    (
        "POST",
        "/api/login",
        ausweis_web::login::handle,
        &["username", "password"],
    ),
    (
        "POST",
        "/api/login/otp",
        ausweis_web::login::handle,
        &["pending", "code"],
    ),
    (
        "PUT",
        "/api/profile/fields/name",
        ausweis_web::profile::handle,
        &["value", "type", "visibility"],
    ),
    (
        "POST",
        "/api/account/password",
        ausweis_web::account::handle,
        &["current_password", "new_password"],
    ),
    (
        "POST",
        "/api/account/two-factor/confirm",
        ausweis_web::account::handle,
        &["code"],
    ),
    (
        "DELETE",
        "/api/account/two-factor",
        ausweis_web::account::handle,
        &["code"],
    ),
    (
        "DELETE",
        "/api/account",
        ausweis_web::account::handle,
        &["password", "code"],
    ),
    (
        "POST",
        "/api/account/recovery/pgp/challenge",
        ausweis_web::account::handle,
        &["username"],
    ),
    (
        "POST",
        "/api/account/recovery/pgp",
        ausweis_web::account::handle,
        &["signed_message", "signature", "challenge", "new_password"],
    ),
    (
        "POST",
        "/api/account/recovery/email",
        ausweis_web::account::handle,
        &["email"],
    ),
    (
        "POST",
        "/api/account/recovery/email/confirm",
        ausweis_web::account::handle,
        &["token", "new_password"],
    ),
    (
        "PUT",
        "/admin/clients/fuzzed",
        ausweis_web::admin::handle,
        &[
            "secret",
            "public",
            "redirect_uris",
            "post_logout_redirect_uris",
            "backchannel_logout_uri",
            "scopes",
            "signing_alg",
            "first_party",
            "required_permission",
            "rotate_secret",
            "name",
        ],
    ),
    (
        "PUT",
        "/admin/users/alice/permissions/cloud",
        ausweis_web::admin::handle,
        &["expires", "member"],
    ),
];

fn json_route_and_body() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (0..JSON_ROUTES.len()).prop_flat_map(|i| (Just(i), json_body(JSON_ROUTES[i].3)))
}

/// A form body: the names `names` and others, repeated, with values and
/// keys percent-encoded, half-encoded or garbled.
fn form_body(names: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        4 => prop::sample::select(names.to_vec()).prop_map(String::from),
        1 => "[a-z_]{1,10}",
    ];
    let value = prop_oneof![
        "[ -~]{0,30}",
        "\\PC{0,12}",
        prop::sample::select(vec![
            "%", "%2", "%zz", "%00", "%FF%FE", "+", "%2B", "a=b", "&", "%26"
        ])
        .prop_map(String::from),
    ];
    let spelling = prop::sample::select(vec![0u8, 1, 2]);
    prop::collection::vec((name, value, spelling), 0..8).prop_map(|pairs| {
        let parts: Vec<String> = pairs
            .iter()
            .map(|(k, v, how)| match how {
                // properly encoded
                0 => url::form_urlencoded::Serializer::new(String::new())
                    .append_pair(k, v)
                    .finish(),
                // raw
                1 => format!("{k}={v}"),
                // key percent-encoded byte by byte, value raw
                _ => format!(
                    "{}={v}",
                    k.bytes().map(|b| format!("%{b:02x}")).collect::<String>()
                ),
            })
            .collect();
        parts.join("&").into_bytes()
    })
}

const FORM_ROUTES: &[(&str, Handler, &[&str])] = &[
    (
        "/oidc/token",
        ausweis_web::token::handle,
        &[
            "grant_type",
            "code",
            "redirect_uri",
            "code_verifier",
            "refresh_token",
            "scope",
            "client_id",
            "client_secret",
        ],
    ),
    (
        "/oidc/revoke",
        ausweis_web::token::handle,
        &["token", "token_type_hint", "client_id", "client_secret"],
    ),
    (
        "/oidc/logout",
        ausweis_web::token::handle,
        &[
            "id_token_hint",
            "post_logout_redirect_uri",
            "state",
            "client_id",
            "csrf",
        ],
    ),
    (
        "/oidc/userinfo",
        ausweis_web::oidc::handle,
        &["access_token"],
    ),
    (
        "/login",
        ausweis_web::login::handle,
        &["username", "password", "return_to", "pending", "code"],
    ),
    (
        "/account/recover",
        ausweis_web::account::handle,
        &["token", "new_password", "new_password_again"],
    ),
    (
        "/account/recover/pgp",
        ausweis_web::account::handle,
        &["username"],
    ),
    (
        "/account/recover/pgp/confirm",
        ausweis_web::account::handle,
        &["challenge", "signature", "new_password"],
    ),
    (
        "/account/recover/email",
        ausweis_web::account::handle,
        &["who"],
    ),
    (
        "/account/password",
        ausweis_web::account::handle,
        &["current_password", "new_password"],
    ),
    (
        "/account/delete",
        ausweis_web::account::handle,
        &["confirm_username", "password", "code"],
    ),
    (
        "/account/two-factor/off",
        ausweis_web::account::handle,
        &["off_password", "code"],
    ),
];

fn form_route_and_body() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (0..FORM_ROUTES.len()).prop_flat_map(|i| (Just(i), form_body(FORM_ROUTES[i].2)))
}

proptest! {
    #![proptest_config(config(1536))]

    /// The strict JSON reader refuses every bad body with a 400-class
    /// code and keeps every good one.
    #[test]
    fn json_reader_refuses_with_a_code_and_never_panics(
        (route, body) in json_route_and_body(),
        content_type in prop::sample::select(vec![
            "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
            "application/jsonx", "text/json", "application/json;", " application/json ",
        ]),
    ) {
        let names = JSON_ROUTES[route].3;
        let req = request("POST", "/", &[("content-type".into(), content_type.into())], body.clone()).unwrap();
        match input::json_object(&req, names) {
            Ok(fields) => {
                // a kept body is a JSON object of known fields
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                prop_assert!(v.as_object().unwrap().keys().all(|k| names.contains(&k.as_str())));
                for name in names {
                    match fields.optional(name, 1024) {
                        Ok(_) | Err(Error::Invalid { code: "invalid_field", .. }) => {}
                        Err(e) => prop_assert!(false, "field {name}: {e:?}"),
                    }
                }
            }
            Err(Error::Invalid { code, message }) => {
                prop_assert!(["unsupported_content_type", "malformed_json", "unknown_field", "body_too_large"].contains(&code), "{code}");
                // messages never echo a value
                prop_assert!(!message.contains("correct horse"));
            }
            Err(e) => prop_assert!(false, "{e:?}"),
        }
    }

    /// Every JSON route answers a near-valid body with a JSON problem (or
    /// success), never a 500, and a refused one writes nothing.
    #[test]
    fn json_routes_refuse_near_valid_bodies_cleanly(
        (route, body) in json_route_and_body(),
        logged_in in any::<bool>(),
    ) {
        let (method, path, handler, _) = JSON_ROUTES[route];
        let cookie = if logged_in { format!("__Host-ausweis_session={}", session_cookie()) } else { String::new() };
        let mut headers = browser_headers(path, &cookie, "application/json");
        headers.push(("authorization".into(), format!("Bearer {}", crate::ADMIN_SECRET)));
        let req = request(method, path, &headers, body).unwrap();
        let kv = seeded();
        let before = snapshot(&kv);
        let resp = run(&kv, handler, req);
        let status = resp.status().as_u16();
        // 502 and 503 only for the mail relay, which cannot be reached here
        prop_assert!(status < 500 || (status == 502 || status == 503) && path.contains("email"),
            "{method} {path}: {status} {:?}", error_code(&resp));
        if status >= 400 {
            prop_assert!(is_problem(&resp) || status >= 500, "{method} {path}: {status} without a problem body");
            prop_assert!(unchanged_where_it_must(&before, &snapshot(&kv), status), "{method} {path} {status} wrote");
        }
    }

    /// Form posts with repeated and garbled names answer without a 500
    /// and, refused, write nothing.
    #[test]
    fn form_routes_refuse_garbled_posts_cleanly(
        (route, body) in form_route_and_body(),
        logged_in in any::<bool>(),
        basic in any::<bool>(),
    ) {
        let (path, handler, _) = FORM_ROUTES[route];
        let cookie = if logged_in { format!("__Host-ausweis_session={}", session_cookie()) } else { String::new() };
        let mut headers = browser_headers(path, &cookie, "application/x-www-form-urlencoded");
        if basic {
            headers.push(("authorization".into(), crate::headers::basic(crate::CLIENT, crate::CLIENT_SECRET)));
        }
        let req = request("POST", path, &headers, body).unwrap();
        let kv = seeded();
        let before = snapshot(&kv);
        let resp = run(&kv, handler, req);
        let status = resp.status().as_u16();
        prop_assert!(status < 500, "{path}: {status} {:?}", error_code(&resp));
        if status >= 400 {
            prop_assert!(unchanged_where_it_must(&before, &snapshot(&kv), status), "{path} {status} wrote");
        }
    }

    /// Form encoding round-trips through the form reader, and `single`
    /// finds a name exactly when it is there once.
    #[test]
    fn form_encoding_round_trips(pairs in prop::collection::vec(("\\PC{0,12}", "\\PC{0,20}"), 0..8)) {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        let req = request("POST", &format!("/x?{body}"), &[], body.clone().into_bytes());
        // `http` refuses some query bytes; the body carries everything
        let parsed = form::body(&request("POST", "/", &[], body.into_bytes()).unwrap());
        prop_assert_eq!(&parsed, &pairs);
        if let Some(req) = req {
            prop_assert_eq!(form::query(&req), pairs.clone());
        }
        for (k, v) in &pairs {
            let count = pairs.iter().filter(|(n, _)| n == k).count();
            match form::single(&parsed, k) {
                Ok(found) => {
                    prop_assert_eq!(count, 1);
                    prop_assert_eq!(found, Some(v.as_str()).filter(|v| !v.is_empty()));
                }
                Err(_) => prop_assert!(count > 1),
            }
        }
    }

    /// Arbitrary bytes as a form body or query never panic the reader.
    #[test]
    fn form_reader_takes_any_bytes(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let req = request("POST", "/", &[], body).unwrap();
        let pairs = form::body(&req);
        let _ = form::single(&pairs, "code");
    }
}
