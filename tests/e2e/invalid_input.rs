//! Bad input gets a clear 4xx JSON error and writes nothing.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{self, PASSWORD};

fn problem_shape(body: &serde_json::Value) {
    assert!(body["error"].is_string(), "no error code: {body}");
    assert!(body["message"].is_string(), "no message: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_or_405_or_413_and_leave_the_stores_empty() {
    let t = common::start().await;
    let url = t.url("/api/register");

    // wrong method
    for (method, path, allow) in [
        (reqwest::Method::GET, "/api/register", "POST"),
        (reqwest::Method::PUT, "/api/login", "POST"),
        (reqwest::Method::GET, "/api/logout", "POST"),
        (reqwest::Method::POST, "/api/session", "GET"),
    ] {
        let r = common::read(t.http.request(method, t.url(path)).send().await.unwrap()).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(r.headers["allow"], allow);
        problem_shape(&r.body);
    }

    // wrong content type, malformed JSON, not an object
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "text/plain",
            r#"{"username":"x","password":"y"}"#,
            "unsupported_content_type",
        ),
        (
            "application/x-www-form-urlencoded",
            "username=x&password=y",
            "unsupported_content_type",
        ),
        ("application/json", "{\"username\": ", "malformed_json"),
        ("application/json", "[1,2]", "malformed_json"),
        ("application/json", "", "malformed_json"),
    ];
    for (ct, body, code) in cases {
        let r = common::read(
            t.http
                .post(&url)
                .header("content-type", ct)
                .body(body.to_string())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{ct} {body}");
        assert_eq!(r.error_code(), code, "{ct} {body}");
        problem_shape(&r.body);
    }

    // missing, unknown and invalid fields
    let long = "x".repeat(2000);
    let fields = vec![
        (json!({"password": PASSWORD}), "missing_field"),
        (json!({"username": "alice"}), "missing_field"),
        (
            json!({"username": "alice", "password": PASSWORD, "admin": true}),
            "unknown_field",
        ),
        (
            json!({"username": 42, "password": PASSWORD}),
            "invalid_field",
        ),
        (
            json!({"username": "alice", "password": ["x"]}),
            "invalid_field",
        ),
        (
            json!({"username": "al", "password": PASSWORD}),
            "invalid_username",
        ),
        (
            json!({"username": "9lives", "password": PASSWORD}),
            "invalid_username",
        ),
        (
            json!({"username": "al ice", "password": PASSWORD}),
            "invalid_username",
        ),
        (
            json!({"username": "postmaster", "password": PASSWORD}),
            "reserved_username",
        ),
        (
            json!({"username": "alice", "password": "short"}),
            "weak_password",
        ),
        (
            json!({"username": "alice", "password": "Password123"}),
            "weak_password",
        ),
        (
            json!({"username": "alice", "password": long}),
            "invalid_field",
        ),
        (
            json!({"username": "alice", "password": PASSWORD, "email": "nope"}),
            "invalid_email",
        ),
        (
            json!({"username": "alice", "password": PASSWORD, "public_key": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----"}),
            "invalid_public_key",
        ),
    ];
    for (body, code) in fields {
        let r = t.post("/api/register", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.error_code(), code, "{body}: {}", r.body);
        problem_shape(&r.body);
        let message = r.body["message"].as_str().unwrap();
        assert!(!message.contains(PASSWORD), "message echoes the password");
    }

    // login with bad bodies
    let r = t.post("/api/login", json!({"username": "alice"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "missing_field");

    // bodies over 64 KiB
    let big = format!(
        r#"{{"username":"alice","password":"{}"}}"#,
        "y".repeat(70 * 1024)
    );
    let r = common::read(
        t.http
            .post(&url)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "body_too_large");

    assert!(
        t.store_text().is_empty(),
        "refused requests wrote:\n{}",
        t.store_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_get_404() {
    let t = common::start().await;
    let r = t.http.get(t.url("/api/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
