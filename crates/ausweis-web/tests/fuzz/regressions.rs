//! Inputs the properties of this binary once failed on, kept as plain,
//! named tests (their seeds are in `tests/proptest-regressions/`).

use ausweis::permissions::{self, Grants};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::headers::basic;
use crate::{
    browser_headers, error_code, request, run, seeded, ADMIN_SECRET, CLIENT, CLIENT_SECRET,
};

fn token_answer(authorization: &str, body: &str) -> (u16, serde_json::Value, bool) {
    let mut headers = browser_headers("/oidc/token", "", "application/x-www-form-urlencoded");
    headers.push(("authorization".into(), authorization.into()));
    let req = request("POST", "/oidc/token", &headers, body.as_bytes().to_vec()).unwrap();
    let resp = run(&seeded(), ausweis_web::token::handle, req);
    let challenged = resp.headers().contains_key("www-authenticate");
    let v = serde_json::from_slice(resp.body()).unwrap();
    (resp.status().as_u16(), v, challenged)
}

/// Found by `basic_encoding_round_trips_for_any_secret`: Basic credentials
/// `id:SECRET&x`, sent without form-encoding, were read as `SECRET`.
#[test]
fn a_raw_ampersand_in_basic_credentials_is_part_of_the_secret() {
    let prefix = CLIENT_SECRET.split('&').next().unwrap();
    assert!(prefix.len() < CLIENT_SECRET.len());
    let kv = seeded();
    let input: ausweis::oidc::client::ClientInput = serde_json::from_value(serde_json::json!({
        "secret": "0123456789abcdef0123456789abcdef", "redirect_uris": ["https://rp.example.org/cb"]
    }))
    .unwrap();
    ausweis::oidc::client::put(&kv, input, "rp").unwrap();
    let raw = format!(
        "Basic {}",
        STANDARD.encode("rp:0123456789abcdef0123456789abcdef&x")
    );
    let mut headers = browser_headers("/oidc/token", "", "application/x-www-form-urlencoded");
    headers.push(("authorization".into(), raw));
    let req = request("POST", "/oidc/token", &headers, Vec::new()).unwrap();
    let resp = run(&kv, ausweis_web::token::handle, req);
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(&resp).as_deref(), Some("invalid_client"));
}

/// Found by `basic_credentials_are_decoded_strictly`: a bare `Basic` was
/// ignored, so the client was refused with 401 and no `WWW-Authenticate`.
#[test]
fn a_bare_basic_scheme_is_malformed_credentials() {
    let (status, v, _) = token_answer("Basic", &format!("client_id={CLIENT}"));
    assert_eq!(status, 400);
    assert_eq!(v["error"], "invalid_request");
}

/// The scheme is case-insensitive (RFC 9110 section 11.1).
#[test]
fn an_upper_case_basic_scheme_is_read() {
    let header = basic(CLIENT, CLIENT_SECRET).replacen("Basic", "BASIC", 1);
    let (status, v, _) = token_answer(&header, "");
    assert_eq!(status, 400);
    assert_eq!(v["error_description"], "grant_type is required");
    let (status, v, challenged) =
        token_answer(&basic(CLIENT, "wrong").replacen("Basic", "BASIC", 1), "");
    assert_eq!((status, v["error"].as_str()), (401, Some("invalid_client")));
    assert!(challenged);
}

/// Found while writing `admin_expiry_is_bounded`: `{"expires": 18446744073709551615}`
/// was stored, and extending it by a redemption wrapped around to a time
/// long past.
#[test]
fn an_expiry_past_the_year_9999_is_refused_and_extending_saturates() {
    let headers = {
        let mut h = browser_headers(
            "/admin/users/alice/permissions/cloud",
            "",
            "application/json",
        );
        h.push(("authorization".into(), format!("Bearer {ADMIN_SECRET}")));
        h
    };
    for expires in [
        "18446744073709551615",
        "253402300800",
        "\"9999-12-31T23:59:59-01:00\"",
    ] {
        let body = format!("{{\"expires\": {expires}}}");
        let req = request(
            "PUT",
            "/admin/users/alice/permissions/cloud",
            &headers,
            body.into_bytes(),
        )
        .unwrap();
        let resp = run(&seeded(), ausweis_web::admin::handle, req);
        assert_eq!(resp.status(), 400, "{expires}");
        assert_eq!(error_code(&resp).as_deref(), Some("invalid_expires"));
    }
    let mut g = Grants::default();
    g.permissions.insert("cloud".into(), u64::MAX - 10);
    permissions::extend(&mut g, "cloud", 365 * 86_400, crate::NOW);
    assert_eq!(g.permissions["cloud"], u64::MAX);
}
