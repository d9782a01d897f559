//! Redeeming Pretix tickets (issue #4), end to end: the real `redeem.wasm`
//! against a real Pretix on 127.0.0.1, with a Pretix fault double for
//! injected faults and the test host's store faults. Every test adds the
//! ticket's secret, order code, order secret, attendee name and e-mail
//! address to the strings that no store and no log may hold, and the
//! end-of-test checks scan every store's keys and values for them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ausweis_tests::manifest::Manifest;
use ausweis_tests::{CasMode, Op, OpKind};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{self, Reply, TestApp, PASSWORD};
use crate::pretix::{pretix, Fault, OrderState, Pretix, PretixFaultDouble, Ticket};

const YEAR: u64 = 365 * 86_400;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The real Pretix, started on first use.
pub(crate) async fn shop() -> &'static Pretix {
    tokio::task::spawn_blocking(|| {
        pretix();
    })
    .await
    .expect("pretix");
    pretix()
}

/// An app pointed at `url` (the real Pretix or a fault double), with
/// `extra` variables; quick Argon2 parameters when `quick_hash`.
pub(crate) async fn app_at(url: &str, extra: &[(&str, &str)]) -> TestApp {
    let p = shop().await;
    let mut vars = p.variables(url);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let mut t = common::start_with(vars, None).await;
    t.secrets.push(p.token.clone());
    t
}

pub(crate) async fn app() -> TestApp {
    app_at(&shop().await.url.clone(), &[]).await
}

/// Quick hashing for tests that make many accounts, and accounts without a
/// ticket.
pub(crate) const OPEN: &[(&str, &str)] = &[
    ("registration_requires_ticket", "false"),
    ("argon2_memory_kib", "64"),
    ("argon2_iterations", "1"),
];

pub(crate) async fn order(t: &mut TestApp, item: &str, state: OrderState) -> Ticket {
    let ticket = shop().await.order(item, None, state).await;
    t.secrets.extend(ticket.private_strings());
    ticket
}

async fn redeem(t: &TestApp, ticket: &Ticket) -> Reply {
    t.post("/api/redeem", json!({"secret": ticket.secret}))
        .await
}

async fn apply(t: &TestApp) -> Reply {
    t.post("/api/redeem/apply", json!({})).await
}

async fn post_as(client: &reqwest::Client, t: &TestApp, path: &str, body: Value) -> Reply {
    common::read(
        client
            .post(t.url(path))
            .json(&body)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// The stored grants of an account, read straight from the store.
pub(crate) fn grants(t: &TestApp, username: &str) -> Value {
    let account = t
        .kv()
        .get("accounts", &format!("user:{username}"))
        .expect("store")
        .expect("account");
    let id = serde_json::from_slice::<Value>(&account).expect("account json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let raw = t
        .kv()
        .get("permissions", &format!("perm:{id}"))
        .expect("store")
        .expect("grants");
    serde_json::from_slice(&raw).expect("grants json")
}

fn expiry(t: &TestApp, username: &str, permission: &str) -> u64 {
    grants(t, username)["permissions"][permission]
        .as_u64()
        .unwrap_or(0)
}

pub(crate) fn redemption_keys(t: &TestApp) -> usize {
    t.kv()
        .dump()
        .get("redemptions")
        .map(|m| m.len())
        .unwrap_or(0)
}

fn sets_redeem_cookie(r: &Reply) -> bool {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("ausweis_redeem=") && !c.contains("Max-Age=0"))
}

/// No store holds anything from Pretix but granted permissions.
pub(crate) fn assert_private(t: &TestApp, ticket: &Ticket) {
    let text = t.store_text();
    for s in ticket.private_strings() {
        assert!(!text.contains(&s), "a store holds {s:?}:\n{text}");
    }
    assert!(
        !text.contains(&shop_token()),
        "a store holds the Pretix token"
    );
}

fn shop_token() -> String {
    pretix().token.clone()
}

/// Redeem, register, log in and apply: how a newcomer becomes a member.
async fn newcomer(t: &TestApp, username: &str, ticket: &Ticket) -> Reply {
    let r = redeem(t, ticket).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(t.register(username).await.status, StatusCode::CREATED);
    assert_eq!(t.login(username, PASSWORD).await.status, StatusCode::OK);
    apply(t).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_redeemed_before_registering_is_granted_after_login() {
    let mut t = app().await;
    let p = shop().await;
    let ticket = order(&mut t, "membership", OrderState::Paid).await;

    // the association sells accounts: no registration without a ticket
    let r = t.register("alice").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.error_code(), "ticket_required");

    let r = redeem(&t, &ticket).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["grants"]["member"], true);
    assert!(sets_redeem_cookie(&r));
    let pending_until = r.body["expires_at"].as_u64().unwrap();
    assert!(pending_until > now() + 14 * 60 && pending_until <= now() + 15 * 60);
    assert_eq!(p.check_ins(&ticket).await, 0, "looking up changes nothing");
    assert_eq!(redemption_keys(&t), 1);
    assert_private(&t, &ticket);

    assert_eq!(t.register("alice").await.status, StatusCode::CREATED);
    assert_eq!(t.login("alice", PASSWORD).await.status, StatusCode::OK);
    let before = now();
    let r = apply(&t).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "applied");
    assert_eq!(r.body["member"], true);
    let exp = r.body["permissions"]["member"].as_u64().unwrap();
    assert!(exp >= before + YEAR && exp <= now() + YEAR);

    assert_eq!(p.check_ins(&ticket).await, 1);
    let g = grants(&t, "alice");
    assert_eq!(g["member"], true);
    assert_eq!(g["permissions"]["member"], exp);
    assert!(g.get("applied").is_none(), "marker left: {g}");
    assert_eq!(redemption_keys(&t), 0);
    assert_private(&t, &ticket);

    // used up: nothing waits, and the ticket is redeemed
    assert_eq!(apply(&t).await.error_code(), "no_redemption");
    let r = redeem(&t, &ticket).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "ticket_redeemed");
    assert_eq!(expiry(&t, "alice", "member"), exp);
    assert_private(&t, &ticket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_in_member_is_granted_at_once_and_expiries_add_up() {
    let mut t = app().await;
    let p = shop().await;
    let first = order(&mut t, "membership", OrderState::Paid).await;
    assert_eq!(newcomer(&t, "bob", &first).await.status, StatusCode::OK);
    let exp1 = expiry(&t, "bob", "member");

    let second = order(&mut t, "membership", OrderState::Paid).await;
    let r = redeem(&t, &second).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "applied");
    assert_eq!(
        expiry(&t, "bob", "member"),
        exp1 + YEAR,
        "max(now, current) + duration"
    );

    let cloud = order(&mut t, "cloud", OrderState::Paid).await;
    let before = now();
    assert_eq!(redeem(&t, &cloud).await.body["status"], "applied");
    let c = expiry(&t, "bob", "cloud");
    assert!(c >= before + 90 * 86_400 && c <= now() + 90 * 86_400);

    // a variation with its own entry, and one that falls back to the item
    let year = p.order("chat", Some("chat_year"), OrderState::Paid).await;
    let month = p.order("chat", Some("chat_month"), OrderState::Paid).await;
    t.secrets.extend(year.private_strings());
    t.secrets.extend(month.private_strings());
    let before = now();
    assert_eq!(redeem(&t, &month).await.body["status"], "applied");
    let after_month = expiry(&t, "bob", "chat");
    assert!(after_month >= before + 30 * 86_400 && after_month <= now() + 30 * 86_400);
    assert_eq!(redeem(&t, &year).await.body["status"], "applied");
    assert_eq!(expiry(&t, "bob", "chat"), after_month + YEAR);

    for ticket in [&first, &second, &cloud, &year, &month] {
        assert_eq!(p.check_ins(ticket).await, 1);
        assert_private(&t, ticket);
    }
    assert_eq!(redemption_keys(&t), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tickets_answer_404_409_422_and_store_nothing() {
    let mut t = app().await;
    let unknown = Ticket {
        secret: "nosuchticketsecret0000000000000".into(),
        order_code: "NONE0".into(),
        order_secret: "none".into(),
        attendee: "nobody".into(),
        email: "nobody@example.org".into(),
    };
    let pending = order(&mut t, "membership", OrderState::Pending).await;
    let cancelled = order(&mut t, "membership", OrderState::Cancelled).await;
    let expired = order(&mut t, "cloud", OrderState::Expired).await;
    let unmapped = order(&mut t, "sticker", OrderState::Paid).await;
    let used = order(&mut t, "cloud", OrderState::Paid).await;

    // someone else redeemed `used` already
    let other = app().await;
    assert_eq!(newcomer(&other, "olga", &used).await.status, StatusCode::OK);

    for (ticket, status, code) in [
        (&unknown, StatusCode::NOT_FOUND, "ticket_unknown"),
        (&pending, StatusCode::UNPROCESSABLE_ENTITY, "ticket_unpaid"),
        (
            &cancelled,
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket_cancelled",
        ),
        (
            &expired,
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket_cancelled",
        ),
        (
            &unmapped,
            StatusCode::UNPROCESSABLE_ENTITY,
            "item_not_redeemable",
        ),
        (&used, StatusCode::CONFLICT, "ticket_redeemed"),
    ] {
        let r = redeem(&t, ticket).await;
        assert_eq!(r.status, status, "{code}: {}", r.body);
        assert_eq!(r.error_code(), code);
        assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(!sets_redeem_cookie(&r), "{code}");
        assert!(
            t.store_text().is_empty(),
            "{code} stored:\n{}",
            t.store_text()
        );
    }
    let r = t
        .post("/api/redeem", json!({"secret": "has spaces in it"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .post("/api/redeem", json!({"secret": "x", "extra": 1}))
        .await;
    assert_eq!(r.error_code(), "unknown_field");
    assert!(t.store_text().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemptions_of_one_ticket_grant_exactly_once() {
    let mut t = app_at(&shop().await.url.clone(), OPEN).await;
    // with the compare-and-swap of Spin's SQLite backend, which does not
    // compare when the key was absent
    t.kv().set_cas_mode(CasMode::SpinSqlite);
    let p = shop().await;
    let ticket = order(&mut t, "membership", OrderState::Paid).await;

    // four browsers, four members, one ticket, all at once
    let mut browsers = Vec::new();
    for i in 0..4 {
        let client = common::client();
        let name = format!("racer{i}");
        let body = json!({"username": name, "password": PASSWORD});
        assert_eq!(
            post_as(&client, &t, "/api/register", body.clone())
                .await
                .status,
            StatusCode::CREATED
        );
        assert_eq!(
            post_as(&client, &t, "/api/login", body).await.status,
            StatusCode::OK
        );
        browsers.push((name, client));
    }
    let replies = futures_join(
        browsers
            .iter()
            .map(|(_, c)| post_as(c, &t, "/api/redeem", json!({"secret": ticket.secret}))),
    )
    .await;
    let applied = replies
        .iter()
        .filter(|r| r.body["status"] == "applied")
        .count();
    assert_eq!(
        applied,
        1,
        "{:?}",
        replies.iter().map(|r| r.body.clone()).collect::<Vec<_>>()
    );
    for r in replies.iter().filter(|r| r.body["status"] != "applied") {
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    }
    let members = browsers
        .iter()
        .filter(|(name, _)| grants(&t, name)["member"] == true)
        .count();
    assert_eq!(members, 1);
    assert_eq!(p.check_ins(&ticket).await, 1);

    // one browser, one member, one ticket, submitted four times at once
    let again = order(&mut t, "cloud", OrderState::Paid).await;
    let (name, client) = &browsers[0];
    let before = now();
    let replies = futures_join(
        (0..4).map(|_| post_as(client, &t, "/api/redeem", json!({"secret": again.secret}))),
    )
    .await;
    assert!(replies
        .iter()
        .all(|r| r.status == StatusCode::OK || r.status == StatusCode::CONFLICT));
    // whatever was left half-done finishes on retry, and grants once
    let deadline = Instant::now() + Duration::from_secs(20);
    while redemption_keys(&t) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        post_as(client, &t, "/api/redeem/apply", json!({})).await;
    }
    let c = grants(&t, name)["permissions"]["cloud"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        c >= before + 90 * 86_400 && c <= now() + 90 * 86_400,
        "cloud {c}"
    );
    assert_eq!(p.check_ins(&again).await, 1);
    assert_eq!(redemption_keys(&t), 0);
    assert_private(&t, &ticket);
    assert_private(&t, &again);
}

async fn futures_join<F: std::future::Future<Output = Reply>>(
    futures: impl Iterator<Item = F>,
) -> Vec<Reply> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::new();
    for r in join_all(handles).await {
        out.push(r);
    }
    out
}

/// Polls all futures together (the suite has no `futures` dependency).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pretix_newcomers_register_and_redemption_is_off() {
    let t = common::start().await;
    assert_eq!(t.register("newbie").await.status, StatusCode::CREATED);
    let r = t
        .post("/api/redeem", json!({"secret": "abcdef123456"}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED, "{}", r.body);
    assert_eq!(r.error_code(), "redemption_disabled");
    assert!(t.app().outbound_log().is_empty());

    // with Pretix, the setting can still open registration
    let t = app_at(
        &shop().await.url.clone(),
        &[("registration_requires_ticket", "false")],
    )
    .await;
    assert_eq!(t.register("walkin").await.status, StatusCode::CREATED);
    let t = app_at(
        &shop().await.url.clone(),
        &[("registration_requires_ticket", "true")],
    )
    .await;
    assert_eq!(t.register("walkin").await.error_code(), "ticket_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pretix_unreachable_slow_or_broken_answers_502_or_503_and_stores_nothing() {
    // nothing listens on this port
    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let mut t = app_at(&closed, &[]).await;
    let ticket = order(&mut t, "membership", OrderState::Paid).await;
    let r = redeem(&t, &ticket).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.error_code(), "pretix_unavailable");
    assert!(r.headers.get("retry-after").is_some());
    assert!(t.store_text().is_empty());

    let double = PretixFaultDouble::start(&[]).await;
    let mut t = app_at(&double.url, &[]).await;
    let ticket = order(&mut t, "membership", OrderState::Paid).await;
    for (fault, status, code) in [
        (
            Fault::Hang,
            StatusCode::SERVICE_UNAVAILABLE,
            "pretix_unavailable",
        ),
        (Fault::Html500, StatusCode::BAD_GATEWAY, "pretix_failed"),
        (Fault::Malformed, StatusCode::BAD_GATEWAY, "pretix_failed"),
    ] {
        double.plan(&[fault]);
        let started = Instant::now();
        let r = redeem(&t, &ticket).await;
        assert_eq!(r.status, status, "{fault:?}: {}", r.body);
        assert_eq!(r.error_code(), code);
        assert!(r.body["id"].as_str().is_some(), "logged under an id");
        // the deadline is pretix_timeout_ms = 2000
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{fault:?} took {:?}",
            started.elapsed()
        );
        assert!(!sets_redeem_cookie(&r));
        assert!(
            t.store_text().is_empty(),
            "{fault:?} stored:\n{}",
            t.store_text()
        );
    }
    assert_eq!(shop().await.check_ins(&ticket).await, 0);
    // once Pretix answers again, the same ticket works
    let r = redeem(&t, &ticket).await;
    assert_eq!(r.body["status"], "pending", "{}", r.body);
}

/// A member logged in with a waiting redemption (redeemed before login).
async fn waiting_member(t: &mut TestApp, name: &str, item: &str) -> Ticket {
    let ticket = order(t, item, OrderState::Paid).await;
    assert_eq!(t.register(name).await.status, StatusCode::CREATED);
    assert_eq!(redeem(t, &ticket).await.body["status"], "pending");
    assert_eq!(t.login(name, PASSWORD).await.status, StatusCode::OK);
    ticket
}

/// Retries `apply` until it is no longer busy (the lease of a failed
/// attempt runs out after pretix_timeout_ms + 3 s); bounded to 20 s.
async fn apply_until_settled(t: &TestApp) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = apply(t).await;
        if r.error_code() != "redemption_busy" || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pretix_faults_during_check_in_neither_lose_nor_double_the_grant() {
    let double = PretixFaultDouble::start(&[]).await;
    for fault in [
        Fault::Html500,
        Fault::Malformed,
        Fault::Hang,
        Fault::PassThenHang,
    ] {
        let mut t = app_at(&double.url, OPEN).await;
        let ticket = waiting_member(&mut t, "carol", "membership").await;
        // the first call after the look-up is the check-in
        double.plan(&[fault]);
        let before = now();
        let r = apply(&t).await;
        assert!(
            r.status == StatusCode::BAD_GATEWAY || r.status == StatusCode::SERVICE_UNAVAILABLE,
            "{fault:?}: {}",
            r.body
        );
        assert!(
            sets_redeem_cookie(&r),
            "{fault:?}: the link is kept for a retry"
        );
        assert_eq!(redemption_keys(&t), 1);
        assert!(
            grants(&t, "carol")["member"] != true,
            "{fault:?}: granted before check-in"
        );
        let expected = if fault == Fault::PassThenHang { 1 } else { 0 };
        assert_eq!(shop().await.check_ins(&ticket).await, expected, "{fault:?}");
        assert_private(&t, &ticket);

        let r = apply_until_settled(&t).await;
        assert_eq!(r.status, StatusCode::OK, "{fault:?}: {}", r.body);
        let exp = expiry(&t, "carol", "member");
        assert!(
            exp >= before + YEAR && exp <= now() + YEAR,
            "{fault:?}: granted once"
        );
        assert_eq!(
            shop().await.check_ins(&ticket).await,
            1,
            "{fault:?}: checked in once"
        );
        assert_eq!(redemption_keys(&t), 0);
        assert_private(&t, &ticket);
    }
    // look-ups and check-ins went through the double, in that order
    let seen = double.seen.lock().unwrap().clone();
    assert!(
        seen[0].starts_with("GET ") && seen[0].ends_with("/checkinrpc/search/"),
        "{seen:?}"
    );
    assert!(seen
        .iter()
        .any(|s| s.starts_with("POST ") && s.ends_with("/checkinrpc/redeem/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_faults_at_every_step_neither_lose_nor_double_the_grant() {
    let url = shop().await.url.clone();
    let mut failed_steps = 0;
    for step in 0..10 {
        let mut t = app_at(&url, OPEN).await;
        let ticket = waiting_member(&mut t, "dave", "membership").await;
        // fail the step-th write of the redeem component while it applies
        let writes = Arc::new(AtomicUsize::new(0));
        let counter = writes.clone();
        t.kv().set_fault(Some(Box::new(move |op: &Op| {
            let write = matches!(
                op.kind,
                OpKind::Set | OpKind::Cas | OpKind::Delete | OpKind::Increment
            );
            write && op.component == "redeem" && counter.fetch_add(1, Ordering::SeqCst) == step
        })));
        let before = now();
        let first = apply(&t).await;
        t.kv().set_fault(None);
        if first.status != StatusCode::OK {
            failed_steps += 1;
            assert_eq!(
                first.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "step {step}: {}",
                first.body
            );
            assert_eq!(first.error_code(), "store_unavailable");
            let retry = apply_until_settled(&t).await;
            assert!(
                retry.status == StatusCode::OK || retry.error_code() == "no_redemption",
                "step {step}: {}",
                retry.body
            );
        }
        let exp = expiry(&t, "dave", "member");
        assert!(
            exp >= before + YEAR && exp <= now() + YEAR,
            "step {step}: granted once ({exp})"
        );
        assert_eq!(shop().await.check_ins(&ticket).await, 1, "step {step}");
        assert_eq!(redemption_keys(&t), 0, "step {step}");
        assert_private(&t, &ticket);
        if first.status == StatusCode::OK && writes.load(Ordering::SeqCst) <= step {
            break; // past the last write: every step has been failed once
        }
    }
    // the lease, the check-in record, the grant and the link's deletion
    assert!(failed_steps >= 4, "only {failed_steps} steps failed");
    println!("figures: a store write failed at {failed_steps} steps of applying, each retried to one grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_faults_before_anything_is_stored_answer_503_and_leave_nothing() {
    let mut t = app().await;
    let ticket = order(&mut t, "membership", OrderState::Paid).await;

    // writing the link fails: nothing stored, Pretix untouched
    t.kv().set_fault(Some(Box::new(|op: &Op| {
        op.component == "redeem" && op.store == "redemptions" && op.kind == OpKind::Set
    })));
    let r = redeem(&t, &ticket).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.error_code(), "store_unavailable");
    assert!(!sets_redeem_cookie(&r));
    assert!(t.store_text().is_empty(), "{}", t.store_text());

    // the link cannot be read at registration: 503, no account
    t.kv().set_fault(None);
    assert_eq!(redeem(&t, &ticket).await.body["status"], "pending");
    t.kv().set_fault(Some(Box::new(|op: &Op| {
        op.component == "register" && op.store == "redemptions"
    })));
    let r = t.register("frank").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    t.kv().set_fault(None);
    assert!(t.kv().get("accounts", "user:frank").unwrap().is_none());

    // and all of it works once the store is back
    assert_eq!(t.register("frank").await.status, StatusCode::CREATED);
    assert_eq!(t.login("frank", PASSWORD).await.status, StatusCode::OK);
    assert_eq!(apply(&t).await.body["status"], "applied");
    assert_eq!(shop().await.check_ins(&ticket).await, 1);
    assert_private(&t, &ticket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_redeem_may_reach_pretix() {
    let manifest = Manifest::load(&ausweis_tests::repo_root().join("spin.toml")).unwrap();
    for (id, component) in &manifest.components {
        if id == "redeem" {
            assert_eq!(
                component.allowed_outbound_hosts,
                vec!["{{ pretix_origin }}".to_string()]
            );
        } else {
            // token may send back-channel logout notices, to its own hosts
            assert!(
                component
                    .allowed_outbound_hosts
                    .iter()
                    .all(|h| !h.contains("pretix")),
                "{id} may reach Pretix"
            );
            for secret in ["pretix_token", "pretix_origin"] {
                assert!(
                    !component.variables.contains_key(secret),
                    "{id} reads {secret}"
                );
            }
        }
    }

    let mut t = app().await;
    let ticket = order(&mut t, "cloud", OrderState::Paid).await;
    assert_eq!(newcomer(&t, "erin", &ticket).await.status, StatusCode::OK);
    let origin = shop().await.url.trim_end_matches('/').to_string();
    let log = t.app().outbound_log();
    assert!(!log.is_empty());
    for attempt in &log {
        assert_eq!(attempt.component, "redeem");
        assert_eq!(attempt.origin, origin);
        assert!(attempt.allowed);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Figures, printed with `--nocapture`: what a redemption costs through
/// ausweis against the natural limit, the same Pretix calls made directly
/// from the test on the same machine in the same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redemption_time_against_pretix_alone() {
    let p = shop().await;
    let mut t = app_at(&p.url.clone(), OPEN).await;
    // a new connection per request, as the component makes
    let direct = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let api = |rpc: &str| {
        format!(
            "{}/api/v1/organizers/{}/checkinrpc/{rpc}/",
            p.url, p.organizer
        )
    };
    let auth = format!("Token {}", p.token);

    // look-up only: Pretix's search alone, then POST /api/redeem logged out
    let ticket = order(&mut t, "membership", OrderState::Paid).await;
    let (mut alone, mut through) = (Vec::new(), Vec::new());
    // alternating which goes first, so neither profits from Pretix's caches
    for i in 0..20 {
        for direct_first in [i % 2 == 0, i % 2 == 1] {
            if direct_first {
                let started = Instant::now();
                let r = direct
                    .get(api("search"))
                    .query(&[
                        ("list", p.checkin_list.to_string()),
                        ("secret", ticket.secret.clone()),
                        ("ignore_status", "true".into()),
                    ])
                    .header("authorization", &auth)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                alone.push(started.elapsed());
            } else {
                let browser = common::client();
                let started = Instant::now();
                let r = post_as(
                    &browser,
                    &t,
                    "/api/redeem",
                    json!({"secret": ticket.secret}),
                )
                .await;
                through.push(started.elapsed());
                assert_eq!(r.body["status"], "pending");
            }
        }
    }

    // look-up and check-in: Pretix alone, then a logged-in POST /api/redeem
    let member = common::client();
    let body = json!({"username": "timer", "password": PASSWORD});
    post_as(&member, &t, "/api/register", body.clone()).await;
    post_as(&member, &t, "/api/login", body).await;
    let (mut alone_full, mut through_full) = (Vec::new(), Vec::new());
    for i in 0..5 {
        let a = order(&mut t, "cloud", OrderState::Paid).await;
        let started = Instant::now();
        direct
            .get(api("search"))
            .query(&[
                ("list", p.checkin_list.to_string()),
                ("secret", a.secret.clone()),
                ("ignore_status", "true".into()),
            ])
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        let r = direct
            .post(api("redeem"))
            .header("authorization", &auth)
            .json(&json!({"secret": a.secret, "lists": [p.checkin_list], "nonce": format!("timing{i}{}", now())}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        alone_full.push(started.elapsed());
        let b = order(&mut t, "cloud", OrderState::Paid).await;
        let started = Instant::now();
        let r = post_as(&member, &t, "/api/redeem", json!({"secret": b.secret})).await;
        through_full.push(started.elapsed());
        assert_eq!(r.body["status"], "applied", "{}", r.body);
    }
    println!(
        "figures: look-up median {:?} through ausweis vs {:?} Pretix alone; look-up + check-in + grant median {:?} through ausweis vs {:?} Pretix alone",
        median(through),
        median(alone),
        median(through_full),
        median(alone_full)
    );
}
