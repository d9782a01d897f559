//! Cookie headers and `Authorization` headers: many, duplicate, quoted and
//! empty cookies; odd schemes, spaces, base64 garbage, and HTTP Basic with
//! colons and percent-encoding (RFC 6749 section 2.3.1).

use ausweis::kv::MemoryKv;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;

use crate::{
    browser_headers, config, error_code, request, run, seeded, session_cookie, snapshot,
    ADMIN_SECRET, CLIENT, CLIENT_SECRET,
};

/// `Authorization: Basic` as RFC 6749 section 2.3.1 asks: id and secret
/// each form-encoded, then joined by a colon and base64-encoded.
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// One item of a cookie header.
fn cookie_item() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("=".to_string()),
        Just("a=b".to_string()),
        Just("__Host-ausweis_session=".to_string()),
        Just("__Host-ausweis_session".to_string()),
        Just("ausweis_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string()),
        Just("__host-ausweis_session=x".to_string()),
        "__Host-ausweis_session=\"?[A-Za-z0-9_-]{0,50}\"?",
        "__Host-ausweis_redeem=[ -:<-~]{0,50}",
        "[a-zA-Z_-]{1,12}=\"?[ -:<-~]{0,20}\"?",
        "[ -:<-~]{0,30}",
    ]
}

/// The member's cookie, sometimes quoted or padded.
fn real_cookie() -> impl Strategy<Value = String> {
    prop::sample::select(vec![0u8, 1, 2, 3]).prop_map(|how| {
        let id = session_cookie();
        match how {
            0 => format!("__Host-ausweis_session={id}"),
            1 => format!("__Host-ausweis_session=\"{id}\""),
            2 => format!("  __Host-ausweis_session={id} "),
            _ => format!("__Host-ausweis_session={id}"),
        }
    })
}

/// A header value of odd schemes and tokens.
fn authorization() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec![
        "Bearer ", "bearer ", "BEARER ", "Bearer  ", "Bearer\t", "Bearer", "Basic ", "Token ",
        "Digest ", "", " Bearer ", "Bearer:",
    ]);
    let token = prop_oneof![
        Just(ADMIN_SECRET.to_string()),
        Just(format!(" {ADMIN_SECRET} ")),
        Just(format!("{ADMIN_SECRET}x")),
        Just(ADMIN_SECRET[1..].to_string()),
        Just(ADMIN_SECRET.to_uppercase()),
        Just(String::new()),
        "[A-Za-z0-9+/=]{0,60}",
        "[ -~]{0,60}",
    ];
    (scheme, token).prop_map(|(s, t)| format!("{s}{t}"))
}

/// A Basic credential for the client `app`, spelled many ways.
fn basic_credential() -> impl Strategy<Value = String> {
    let right = prop_oneof![
        Just(basic(CLIENT, CLIENT_SECRET)),
        Just(basic(CLIENT, CLIENT_SECRET).replacen("Basic", "basic", 1)),
        Just(format!("{}  ", basic(CLIENT, CLIENT_SECRET))),
    ];
    let odd = prop_oneof![
        // unencoded, as many clients send it
        Just(format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT}:{CLIENT_SECRET}"))
        )),
        // colons in the id, none at all, several
        Just(format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT}:x:{CLIENT_SECRET}"))
        )),
        Just(format!("Basic {}", STANDARD.encode(CLIENT))),
        Just(format!(
            "Basic {}",
            STANDARD.encode(format!(":{CLIENT_SECRET}"))
        )),
        Just(format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT}%3A:{CLIENT_SECRET}"))
        )),
        Just(format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT}:{CLIENT_SECRET}&junk"))
        )),
        Just("Basic".to_string()),
        Just("Basic ".to_string()),
        Just("Basic ====".to_string()),
        Just(format!(
            "Basic {}",
            STANDARD.encode([0xffu8, 0xfe, b':', 0x80])
        )),
        "Basic [A-Za-z0-9+/=]{0,60}",
        "Basic [ -~]{0,60}",
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| format!("Basic {}", STANDARD.encode(b))),
        prop::collection::vec(("\\PC{0,12}", "\\PC{0,40}"), 1..2)
            .prop_map(|v| basic(&v[0].0, &v[0].1)),
    ];
    prop_oneof![1 => right, 4 => odd]
}

proptest! {
    #![proptest_config(config(1024))]

    /// Whatever else the cookie headers hold, the member's one session
    /// cookie is found; without it nobody is logged in; never a 500.
    #[test]
    fn session_cookie_is_found_among_odd_cookies(
        before in prop::collection::vec(cookie_item(), 0..6),
        after in prop::collection::vec(cookie_item(), 0..6),
        real in prop::option::of(real_cookie()),
        split in prop::sample::select(vec![1usize, 2, 3]),
    ) {
        let mut items = before.clone();
        items.extend(real.clone());
        items.extend(after);
        // browsers send one header; HTTP/2 may split it into several
        let chunk = items.len().div_ceil(split).max(1);
        let mut headers = browser_headers("/api/session", "", "");
        for part in items.chunks(chunk) {
            headers.push(("cookie".into(), part.join("; ")));
        }
        let Some(req) = request("GET", "/api/session", &headers, Vec::new()) else { return Ok(()); };
        let kv = seeded();
        let resp = run(&kv, ausweis_web::login::handle, req);
        let status = resp.status().as_u16();
        prop_assert!(status == 200 || status == 401, "{status}");
        let other_session_cookie = before.iter().any(|c| c.trim_start().starts_with("__Host-ausweis_session="));
        if real.is_some() && !other_session_cookie {
            prop_assert_eq!(status, 200);
        }
        if real.is_none() {
            prop_assert_eq!(status, 401);
            prop_assert_eq!(error_code(&resp), Some("not_authenticated".to_string()));
        }
    }

    /// The admin API opens for the bearer secret only, in any case of the
    /// scheme, and answers every other header with 401.
    #[test]
    fn admin_authorization_opens_for_the_secret_only(value in authorization()) {
        let headers = vec![("authorization".to_string(), value.clone())];
        let Some(req) = request("GET", "/admin/clients", &headers, Vec::new()) else { return Ok(()); };
        let kv = MemoryKv::new();
        let resp = run(&kv, ausweis_web::admin::handle, req);
        let status = resp.status().as_u16();
        prop_assert!(status == 200 || status == 401, "{status}");
        let right = value
            .split_once(' ')
            .is_some_and(|(s, t)| s.eq_ignore_ascii_case("bearer") && t.trim() == ADMIN_SECRET);
        prop_assert_eq!(status == 200, right, "{}", value);
        if status == 401 {
            prop_assert!(resp.headers().contains_key("www-authenticate"));
        }
    }

    /// The token endpoint reads Basic credentials as RFC 6749 section
    /// 2.3.1 says, refuses odd ones with 400 or 401, and authenticates
    /// only the right id and secret.
    #[test]
    fn basic_credentials_are_decoded_strictly(value in basic_credential(), body_id in any::<bool>()) {
        let mut headers = browser_headers("/oidc/token", "", "application/x-www-form-urlencoded");
        headers.push(("authorization".into(), value.clone()));
        let body = if body_id { format!("client_id={CLIENT}") } else { String::new() };
        let Some(req) = request("POST", "/oidc/token", &headers, body.into_bytes()) else { return Ok(()); };
        let kv = seeded();
        let before = snapshot(&kv);
        let resp = run(&kv, ausweis_web::token::handle, req);
        let status = resp.status().as_u16();
        prop_assert!(status == 400 || status == 401, "{status}");
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        // no grant_type was sent: only an authenticated client gets this far
        let authenticated = v["error_description"] == "grant_type is required";
        let decoded = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let right = format!(
            "{}:{}",
            CLIENT,
            url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect::<String>()
        );
        prop_assert_eq!(authenticated, decoded.as_deref() == Some(right.as_str()), "{}", value);
        if status == 401 {
            prop_assert_eq!(v["error"].as_str(), Some("invalid_client"));
            prop_assert!(resp.headers().contains_key("www-authenticate"));
        }
        prop_assert_eq!(before, snapshot(&kv));
    }

    /// Any client secret round-trips through RFC 6749 Basic encoding, and
    /// a secret with bytes appended raw never authenticates.
    #[test]
    fn basic_encoding_round_trips_for_any_secret(
        id in "[A-Za-z0-9._-]{1,64}",
        secret in "\\PC{32,60}",
        suffix in prop::sample::select(vec!["&", "&x", "&x=y", "%", "+", "=", ":"]),
    ) {
        let kv = MemoryKv::new();
        let input: ausweis::oidc::client::ClientInput = serde_json::from_value(serde_json::json!({
            "secret": secret, "redirect_uris": ["https://rp.example.org/cb"]
        })).unwrap();
        ausweis::oidc::client::put(&kv, input, &id).unwrap();
        let outcome = |header: String| -> serde_json::Value {
            let mut headers = browser_headers("/oidc/token", "", "application/x-www-form-urlencoded");
            headers.push(("authorization".into(), header));
            let req = request("POST", "/oidc/token", &headers, Vec::new()).unwrap();
            serde_json::from_slice(run(&kv, ausweis_web::token::handle, req).body()).unwrap()
        };
        prop_assert_eq!(&outcome(basic(&id, &secret))["error_description"], "grant_type is required");
        let raw = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}{suffix}")));
        prop_assert_eq!(&outcome(raw)["error"], "invalid_client");
    }

    /// The userinfo endpoint answers any `Authorization` header with a
    /// bearer error or claims, never a 500.
    #[test]
    fn userinfo_takes_any_authorization(value in prop_oneof![authorization(), basic_credential(),
        "Bearer [A-Za-z0-9_-]{1,40}\\.[A-Za-z0-9_-]{1,80}\\.[A-Za-z0-9_-]{0,40}"]) {
        let headers = vec![("authorization".to_string(), value)];
        let Some(req) = request("GET", "/oidc/userinfo", &headers, Vec::new()) else { return Ok(()); };
        let kv = seeded();
        let resp = run(&kv, ausweis_web::oidc::handle, req);
        prop_assert_eq!(resp.status().as_u16(), 401);
        prop_assert_eq!(error_code(&resp), Some("invalid_token".to_string()));
    }
}
