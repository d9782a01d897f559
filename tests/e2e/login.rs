//! Login, sessions and logout through the real `login` component.

use std::collections::HashMap;
use std::time::Instant;

use reqwest::StatusCode;

use crate::common::{self, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_session_cookie_that_session_and_logout_honour() {
    let mut t = common::start().await;
    assert_eq!(t.register("alice").await.status, StatusCode::CREATED);

    assert_eq!(t.get("/api/session").await.status, StatusCode::UNAUTHORIZED);
    let r = t.login("ALICE", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["username"], "alice");
    let cookie = r.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("ausweis_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(
        !cookie.contains("Secure"),
        "plain http on 127.0.0.1 cannot keep a Secure cookie"
    );
    let id = cookie["ausweis_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 43, "256 bits as base64url");
    t.secrets.push(id);

    let s = t.get("/api/session").await;
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(s.body["username"], "alice");
    assert_eq!(s.body["authenticated"], true);

    let out = t.post("/api/logout", serde_json::json!({})).await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(t.get("/api/session").await.status, StatusCode::UNAUTHORIZED);
    let sessions = t.kv().dump().get("sessions").map(|m| m.len()).unwrap_or(0);
    assert_eq!(sessions, 0, "logout must remove the session record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_ended_session_cookie_is_not_accepted() {
    let t = common::start().await;
    let forged = "A".repeat(43);
    let r = common::read(
        t.http
            .get(t.url("/api/session"))
            .header("cookie", format!("ausweis_session={forged}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "not_authenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_reads_as_absent_and_is_removed() {
    let t = common::start().await;
    t.register("erin").await;
    assert_eq!(t.login("erin", PASSWORD).await.status, StatusCode::OK);
    // age the session record in the store: its expiry lies in the past
    let kv = t.kv();
    let (key, value) = kv.dump()["sessions"]
        .iter()
        .find(|(k, _)| k.starts_with("session:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    let mut record: serde_json::Value = serde_json::from_slice(&value).unwrap();
    record["exp"] = serde_json::json!(1);
    kv.set("sessions", &key, &serde_json::to_vec(&record).unwrap())
        .unwrap();

    assert_eq!(t.get("/api/session").await.status, StatusCode::UNAUTHORIZED);
    assert!(
        kv.get("sessions", &key).unwrap().is_none(),
        "expired record not removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_and_wrong_password_get_the_same_answer_in_similar_time() {
    let t = common::start().await;
    t.register("frank").await;
    // warm both paths once
    t.login("frank", "wrong password here").await;
    t.login("nobody-here", "wrong password here").await;

    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..3 {
        let start = Instant::now();
        let a = t.login("frank", &format!("wrong password {i}")).await;
        wrong.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let b = t
            .login(&format!("nobody-{i}"), &format!("wrong password {i}"))
            .await;
        unknown.push(start.elapsed().as_secs_f64());
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.status, b.status);
        assert_eq!(a.body, b.body);
    }
    wrong.sort_by(f64::total_cmp);
    unknown.sort_by(f64::total_cmp);
    let ratio = wrong[1] / unknown[1];
    assert!(
        (0.5..2.0).contains(&ratio),
        "median times differ: {wrong:?} vs {unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_five_failures_attempts_are_slowed_down_for_that_name_only() {
    let t = common::start().await;
    t.register("grace").await;
    t.register("heidi").await;
    for _ in 0..5 {
        assert_eq!(
            t.login("grace", "wrong password here").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // the fifth failure locks the name for 1 s, the sixth for 2 s
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        t.login("grace", "wrong password here").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = t.login("grace", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(r.error_code(), "too_many_attempts");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // another name is not affected
    assert_eq!(t.login("heidi", PASSWORD).await.status, StatusCode::OK);
    // after the wait, the right password works and clears the count
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(t.login("grace", PASSWORD).await.status, StatusCode::OK);
    assert!(
        !t.store_text().contains("throttle:"),
        "success must clear the count"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_rehashes_a_password_stored_with_older_parameters() {
    let kv = ausweis_tests::KvBackend::in_memory().unwrap();
    let old = HashMap::from([("argon2_iterations".to_string(), "1".to_string())]);
    let t = common::start_with(old, Some(kv.clone())).await;
    t.register("ivan").await;
    assert!(t.store_text().contains("t=1,p=1"));
    drop(t);

    let t = common::start_with(HashMap::new(), Some(kv)).await;
    assert_eq!(t.login("ivan", PASSWORD).await.status, StatusCode::OK);
    let stored = t.store_text();
    assert!(
        stored.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    // and the new hash still verifies
    t.post("/api/logout", serde_json::json!({})).await;
    assert_eq!(t.login("ivan", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sent_spin_full_url_does_not_change_the_cookie() {
    let t = common::start().await;
    t.register("judy").await;
    let r = common::read(
        t.http
            .post(t.url("/api/login"))
            .header("spin-full-url", "https://spoofed.example/api/login")
            .json(&serde_json::json!({"username": "judy", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("ausweis_session=") && !cookie.contains("Secure"),
        "{cookie}"
    );
}
