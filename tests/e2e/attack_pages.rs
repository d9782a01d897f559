//! Failing tests for bugs found by attacking the pages (branch `attack`).
//! Each test states what should happen; the product does not do it yet.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{self, TestApp, PASSWORD};
use crate::member;
use crate::pages;

/// A browser logged in as `user` through the login page.
async fn logged_in(t: &TestApp, user: &str) -> reqwest::Client {
    let b = pages::browser("en");
    let csrf = pages::get(&b, t, "/login").await.csrf();
    let r = pages::post(
        &b,
        t,
        "/login",
        &[
            ("csrf", &csrf),
            ("username", user),
            ("password", PASSWORD),
            ("return_to", "/"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    b
}

async fn field_value(t: &TestApp, b: &reqwest::Client, name: &str) -> serde_json::Value {
    let r = member::send(t, b, Method::GET, "/api/profile", None).await;
    r.body["fields"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["name"] == name))
        .map(|f| f["value"].clone())
        .unwrap_or(serde_json::Value::Null)
}

/// BUG: a form post with the `value` field repeated is answered 303
/// "saved" and stores an empty value (the repeated field reads as absent,
/// and absent as ""), wiping what the member had. Repeated fields must be
/// refused with a 4xx, leaving the stored value as it was (as the login and
/// logout forms already refuse a repeated field).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_form_with_a_repeated_value_is_refused_and_keeps_the_old_value() {
    let t = common::start().await;
    member::register(&t, "bob", None).await;
    let b = logged_in(&t, "bob").await;
    let csrf = pages::get(&b, &t, "/profile").await.csrf();
    let r = pages::post(
        &b,
        &t,
        "/profile/fields",
        &[
            ("csrf", &csrf),
            ("name", "city"),
            ("type", "text"),
            ("value", "Berlin"),
            ("visibility", "public"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(field_value(&t, &b, "city").await, "Berlin");

    // change: value given twice
    let r = pages::post(
        &b,
        &t,
        "/profile/fields/city",
        &[
            ("csrf", &csrf),
            ("value", "Hamburg"),
            ("value", "Bremen"),
            ("visibility", "public"),
        ],
    )
    .await;
    assert!(
        r.status.is_client_error(),
        "a repeated value must be refused, got {} {}",
        r.status,
        r.location()
    );
    assert_eq!(
        field_value(&t, &b, "city").await,
        "Berlin",
        "a refused post must not change the stored value"
    );

    // add: value given twice must not add a field with an empty value
    let r = pages::post(
        &b,
        &t,
        "/profile/fields",
        &[
            ("csrf", &csrf),
            ("name", "town"),
            ("type", "text"),
            ("value", "Kiel"),
            ("value", "Lübeck"),
            ("visibility", "public"),
        ],
    )
    .await;
    assert!(
        r.status.is_client_error(),
        "a repeated value must be refused, got {} {}",
        r.status,
        r.location()
    );
    assert_eq!(field_value(&t, &b, "town").await, serde_json::Value::Null);
}

/// BUG: `POST /api/logout` checks neither origin nor content type, so a
/// page on another site (or any same-site service of the association,
/// whose requests carry the `SameSite=Lax` cookie) logs the member out
/// with a plain form post. The page's own `POST /logout` refuses this, and
/// the other state-changing API routes call `auth::same_origin`; this one
/// should too (403, session kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_logout_from_another_origin_keeps_the_session() {
    let t = common::start_provider(HashMap::new()).await;
    member::register(&t, "alice", None).await;
    let b = member::logged_in(&t, "alice", PASSWORD).await;
    let r = member::send(&t, &b, Method::GET, "/api/session", None).await;
    assert_eq!(r.body["authenticated"], true, "{}", r.body);

    for (origin, fetch_site) in [
        (Some("http://evil.example"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
    ] {
        let mut req = b
            .post(t.url("/api/logout"))
            .header("content-type", "text/plain")
            .body("x=1");
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = fetch_site {
            req = req.header("sec-fetch-site", s);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let r = member::send(&t, &b, Method::GET, "/api/session", None).await;
        assert_eq!(
            r.body["authenticated"], true,
            "logout from {origin:?}/{fetch_site:?} answered {status} and ended the session"
        );
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    // the same request from our own origin still works
    let resp = b
        .post(t.url("/api/logout"))
        .header("origin", t.url("").trim_end_matches('/'))
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
}
