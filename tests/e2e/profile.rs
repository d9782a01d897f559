//! Profiles through the real `profile` component: the member's own view,
//! fields and their checks, visibility for every kind of asker, and the
//! `name` claim.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{self, PASSWORD};
use crate::member::{self, send};

fn field_names(body: &Value) -> Vec<String> {
    body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_profile_shows_member_flag_permissions_and_fields() {
    let t = common::start_provider(HashMap::new()).await;
    member::register(&t, "alice", None).await;
    member::grant(&t, "alice", "cloud", "2099-12-31").await;
    member::grant(&t, "alice", "old-wiki", "2001-01-01").await;
    let alice = member::logged_in(&t, "alice", PASSWORD).await;

    let r = send(
        &t,
        &alice,
        Method::PUT,
        "/api/profile/fields/name",
        Some(json!({"value": "Alice Liddell", "visibility": "public"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"name": "name", "value": "Alice Liddell", "type": "text", "visibility": "public"})
    );
    let r = send(
        &t,
        &alice,
        Method::PUT,
        "/api/profile/fields/name",
        Some(json!({"value": "Alice L.", "type": "text", "visibility": "protected"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "replacing is not creating");

    let r = send(&t, &alice, Method::GET, "/api/profile", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["username"], "alice");
    assert_eq!(r.body["member"], true);
    let perms = r.body["permissions"].as_array().unwrap();
    assert_eq!(perms.len(), 2);
    let cloud = perms.iter().find(|p| p["name"] == "cloud").unwrap();
    assert_eq!(cloud["expires"], "2099-12-31T00:00:00Z");
    assert_eq!(cloud["active"], true);
    let old = perms.iter().find(|p| p["name"] == "old-wiki").unwrap();
    assert_eq!(old["active"], false);
    assert_eq!(
        r.body["fields"],
        json!([{"name": "name", "value": "Alice L.", "type": "text", "visibility": "protected"}])
    );

    // logged out: no own profile
    let anonymous = common::client();
    let r = send(&t, &anonymous, Method::GET, "/api/profile", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "not_authenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_checked_against_their_type_and_limits_hold() {
    let t = common::start().await;
    member::register(&t, "bob", None).await;
    let bob = member::logged_in(&t, "bob", PASSWORD).await;
    let put = |name: &'static str, body: Value| {
        let (t, bob) = (&t, &bob);
        async move {
            send(
                t,
                bob,
                Method::PUT,
                &format!("/api/profile/fields/{name}"),
                Some(body),
            )
            .await
        }
    };
    let before = t.store_text();
    for (body, code) in [
        (json!({"value": 5}), "invalid_value"),
        (json!({"value": "x", "type": "colour"}), "invalid_type"),
        (
            json!({"value": "x", "visibility": "friends"}),
            "invalid_visibility",
        ),
        (
            json!({"value": "no address", "type": "email"}),
            "invalid_value",
        ),
        (
            json!({"value": "javascript:alert(1)", "type": "url"}),
            "invalid_value",
        ),
        (
            json!({"value": "2023-02-29", "type": "date"}),
            "invalid_value",
        ),
        (json!({"value": "yes", "type": "bool"}), "invalid_value"),
        (json!({"value": "12", "type": "number"}), "invalid_value"),
        (json!({"value": "x".repeat(4096)}), "invalid_value"),
        (json!({"type": "text"}), "missing_field"),
        (json!({"value": "x", "colour": "red"}), "unknown_field"),
    ] {
        let r = put("f", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(r.error_code(), code, "{body}");
    }
    let r = put("Bad-Name", json!({"value": "x"})).await;
    assert_eq!(r.error_code(), "invalid_field_name");
    let long: &'static str = Box::leak("a".repeat(65).into_boxed_str());
    assert_eq!(
        put(long, json!({"value": "x"})).await.error_code(),
        "invalid_field_name"
    );
    assert_eq!(t.store_text(), before, "a refused field wrote something");

    for (name, body) in [
        ("mail", json!({"value": "Bob@Example.ORG", "type": "email"})),
        (
            "site",
            json!({"value": "https://bob.example.org", "type": "url"}),
        ),
        ("born", json!({"value": "2000-02-29", "type": "date"})),
        ("vegan", json!({"value": true, "type": "bool"})),
        ("height", json!({"value": 1.85, "type": "number"})),
        ("bio", json!({"value": "x".repeat(4000)})),
    ] {
        let r = put(name, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}: {}", r.body);
    }
    let r = send(&t, &bob, Method::GET, "/api/profile", None).await;
    let fields = &r.body["fields"];
    assert_eq!(fields[3]["value"], "Bob@example.org", "domain lowercased");
    assert_eq!(fields[4]["value"], "https://bob.example.org/");

    // at most 50 fields
    for i in 6..50 {
        let name: &'static str = Box::leak(format!("f{i}").into_boxed_str());
        assert_eq!(
            put(name, json!({"value": "x"})).await.status,
            StatusCode::CREATED
        );
    }
    let r = put("one-too-many", json!({"value": "x"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "too_many_fields");
    assert_eq!(
        put("bio", json!({"value": "shorter"})).await.status,
        StatusCode::OK
    );

    // delete
    let r = send(&t, &bob, Method::DELETE, "/api/profile/fields/bio", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = send(&t, &bob, Method::DELETE, "/api/profile/fields/bio", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        put("one-more", json!({"value": "x"})).await.status,
        StatusCode::CREATED
    );

    // wrong method, and a page of another site
    let r = send(&t, &bob, Method::POST, "/api/profile/fields/x", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = common::read(
        bob.put(t.url("/api/profile/fields/x"))
            .header("origin", "https://evil.example")
            .json(&json!({"value": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "cross_site_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_decides_what_anonymous_members_and_the_owner_see() {
    let t = common::start().await;
    member::register(&t, "alice", None).await;
    member::register(&t, "bob", None).await;
    member::register(&t, "carol", None).await;
    let alice = member::logged_in(&t, "alice", PASSWORD).await;
    let bob = member::logged_in(&t, "bob", PASSWORD).await;
    let carol = member::logged_in(&t, "carol", PASSWORD).await;
    for (name, visibility) in [
        ("site", "public"),
        ("chat", "protected"),
        ("phone", "private"),
    ] {
        let r = send(
            &t,
            &alice,
            Method::PUT,
            &format!("/api/profile/fields/{name}"),
            Some(json!({"value": format!("{name} of alice"), "visibility": visibility})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    // carol keeps only a private field
    send(
        &t,
        &carol,
        Method::PUT,
        "/api/profile/fields/phone",
        Some(json!({"value": "secret number", "visibility": "private"})),
    )
    .await;

    let anonymous = common::client();
    let r = send(
        &t,
        &anonymous,
        Method::GET,
        "/api/users/alice/profile",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["username"], "alice");
    assert_eq!(field_names(&r.body), ["site"]);

    let r = send(&t, &bob, Method::GET, "/api/users/ALICE/profile", None).await;
    assert_eq!(field_names(&r.body), ["chat", "site"]);

    // the owner sees here what other members see: never private fields
    let r = send(&t, &alice, Method::GET, "/api/users/alice/profile", None).await;
    assert_eq!(field_names(&r.body), ["chat", "site"]);
    assert!(!r.body.to_string().contains("phone of alice"));
    let r = send(&t, &alice, Method::GET, "/api/profile", None).await;
    assert_eq!(field_names(&r.body), ["chat", "phone", "site"]);

    // unknown, invalid, and nothing visible: one and the same 404
    let nobody = send(
        &t,
        &bob,
        Method::GET,
        "/api/users/nobody-here/profile",
        None,
    )
    .await;
    let private_only = send(&t, &bob, Method::GET, "/api/users/carol/profile", None).await;
    let invalid = send(&t, &bob, Method::GET, "/api/users/x/profile", None).await;
    for r in [&nobody, &private_only, &invalid] {
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.body, nobody.body);
    }
    let r = send(
        &t,
        &anonymous,
        Method::GET,
        "/api/users/carol/profile",
        None,
    )
    .await;
    assert_eq!(r.body, nobody.body);

    // a protected-only profile is not there for anonymous askers
    send(&t, &alice, Method::DELETE, "/api/profile/fields/site", None).await;
    let r = send(
        &t,
        &anonymous,
        Method::GET,
        "/api/users/alice/profile",
        None,
    )
    .await;
    assert_eq!((r.status, &r.body), (StatusCode::NOT_FOUND, &nobody.body));
    let r = send(&t, &bob, Method::GET, "/api/users/alice/profile", None).await;
    assert_eq!(field_names(&r.body), ["chat"]);
}

async fn set_name(t: &common::TestApp, browser: &reqwest::Client, visibility: &str) {
    let r = send(
        t,
        browser,
        Method::PUT,
        "/api/profile/fields/name",
        Some(json!({"value": "Alice Liddell", "visibility": visibility})),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_name_field_is_the_name_claim() {
    let mut t = common::start_provider(HashMap::new()).await;
    member::register(&t, "alice", None).await;
    let secret = member::add_client(&mut t, "wiki").await;
    let browser = member::logged_in(&t, "alice", PASSWORD).await;

    set_name(&t, &browser, "protected").await;
    let tokens = member::sign_in(&mut t, &browser, "wiki", &secret, "openid profile").await;
    let id = member::claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["name"], "Alice Liddell");
    assert_eq!(id["preferred_username"], "alice");
    let info = common::read(
        reqwest::Client::new()
            .get(t.url("/oidc/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(info.body["name"], "Alice Liddell");

    // private: not released; without the profile scope: not released
    set_name(&t, &browser, "private").await;
    let tokens = member::sign_in(&mut t, &browser, "wiki", &secret, "openid profile").await;
    assert!(member::claims(tokens["id_token"].as_str().unwrap())
        .get("name")
        .is_none());
    set_name(&t, &browser, "public").await;
    let tokens = member::sign_in(&mut t, &browser, "wiki", &secret, "openid").await;
    assert!(member::claims(tokens["id_token"].as_str().unwrap())
        .get("name")
        .is_none());
    let discovery = t.get("/.well-known/openid-configuration").await;
    assert!(discovery.body["claims_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("name")));
}
