//! Store failures give 503 with a JSON error and leave nothing half-written.

use ausweis_tests::{Op, OpKind};
use reqwest::StatusCode;

use crate::common::{self, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_claim_gives_503_and_leaves_no_credential() {
    let t = common::start().await;
    t.kv()
        .set_fault(Some(Box::new(|op: &Op| op.kind == OpKind::Increment)));
    let r = t.register("alice").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.error_code(), "store_unavailable");
    assert!(r.body["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(
        t.store_text().is_empty(),
        "half-written:\n{}",
        t.store_text()
    );

    // the log names the failure by its id only
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(t.app().guest_output().contains(&id));

    // once the store is back, the same registration works
    t.kv().set_fault(None);
    assert_eq!(t.register("alice").await.status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_account_write_gives_503_and_releases_the_name() {
    let t = common::start().await;
    t.kv().set_fault(Some(Box::new(|op: &Op| {
        op.kind == OpKind::Set && op.key.as_deref().is_some_and(|k| k.starts_with("user:"))
    })));
    let r = t.register("bob").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(
        t.store_text().is_empty(),
        "half-written:\n{}",
        t.store_text()
    );
    t.kv().set_fault(None);
    assert_eq!(t.register("bob").await.status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_sessions_store_gives_503_on_login_and_session() {
    let t = common::start().await;
    t.register("carol").await;
    t.kv()
        .set_fault(Some(Box::new(|op: &Op| op.store == "sessions")));
    let r = t.login("carol", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.error_code(), "store_unavailable");
    assert!(r.headers.get("set-cookie").is_none());
    let r = common::read(
        t.http
            .get(t.url("/api/session"))
            .header("cookie", format!("ausweis_session={}", "B".repeat(43)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_pages_answer_a_store_failure_with_a_page() {
    let t = common::start().await;
    crate::member::register(&t, "dora", None).await;
    let member = crate::member::logged_in(&t, "dora", PASSWORD).await;
    t.kv()
        .set_fault(Some(Box::new(|op: &Op| op.store == "credentials")));
    let r = member
        .get(t.url("/account"))
        .header("accept-language", "de")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(page.contains("Das geht gerade nicht"), "{page}");
    t.kv().set_fault(None);
    let r = member.get(t.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
