//! The redeem page against the real Pretix, driven as a browser would: a
//! newcomer redeems, registers, logs in and applies; a member redeems at
//! once; every refusal is a page with the API's status.

use reqwest::StatusCode;

use crate::common::{TestApp, PASSWORD};
use crate::pages::{self, Page};
use crate::pretix::{OrderState, PretixFaultDouble, Ticket};
use crate::redeem::{self, OPEN};

/// Posts the redeem form with `code`, fetching the form's token first.
async fn redeem_code(b: &reqwest::Client, t: &TestApp, code: &str) -> Page {
    let form = pages::get(b, t, "/redeem").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    let csrf = form.csrf();
    pages::post(b, t, "/redeem", &[("csrf", &csrf), ("secret", code)]).await
}

/// Logs in through the login page, going back to `return_to`.
async fn log_in(b: &reqwest::Client, t: &TestApp, user: &str, return_to: &str) -> Page {
    let csrf = pages::get(b, t, "/login").await.csrf();
    pages::post(
        b,
        t,
        "/login",
        &[
            ("csrf", &csrf),
            ("username", user),
            ("password", PASSWORD),
            ("return_to", return_to),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomer_redeems_registers_logs_in_and_applies_through_the_pages() {
    let mut t = redeem::app().await;
    let p = redeem::shop().await;
    let ticket = redeem::order(&mut t, "membership", OrderState::Paid).await;
    let b = pages::browser("en");

    // no ticket yet: registering is refused and points to the redeem page
    let form = pages::get(&b, &t, "/register").await;
    assert!(form.text.contains("Registering needs a ticket"));

    let page = redeem_code(&b, &t, &ticket.secret).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Your ticket is valid"));
    assert!(page.text.contains("Membership of the association"));
    assert!(page.text.contains("<strong>member</strong> for 365 days"));
    assert!(page.text.contains("href=\"/login?return_to=%2Fredeem\""));
    assert!(page.text.contains("href=\"/register?return_to=%2Fredeem\""));
    assert!(page.sets_cookie("ausweis_redeem"));
    assert_eq!(p.check_ins(&ticket).await, 0, "looking up changes nothing");

    // the waiting ticket opens registration, and the login comes back here
    let form = pages::get(&b, &t, "/redeem").await;
    assert!(form.text.contains("waiting in this browser"));
    let form = pages::get(&b, &t, "/register?return_to=%2Fredeem").await;
    let csrf = form.csrf();
    let page = pages::post(
        &b,
        &t,
        "/register",
        &[
            ("csrf", &csrf),
            ("username", "alice"),
            ("password", PASSWORD),
            ("key", "generate"),
            ("return_to", "/redeem"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.text);
    assert!(page
        .text
        .contains("href=\"/login?return_to=%2Fredeem&amp;login_hint=alice\""));
    let page = log_in(&b, &t, "alice", "/redeem").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/redeem");

    // logged in with a waiting ticket: a button applies it
    let page = pages::get(&b, &t, "/redeem").await;
    assert!(
        page.text.contains("action=\"/redeem/apply\""),
        "{}",
        page.text
    );
    assert!(page.text.contains("<strong>alice</strong>"));
    let csrf = page.csrf();
    let page = pages::post(&b, &t, "/redeem/apply", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Ticket redeemed"));
    assert!(page.text.contains("You are a member"));
    assert!(page.text.contains("<td>member</td>"));
    assert_eq!(p.check_ins(&ticket).await, 1);
    assert_eq!(redeem::grants(&t, "alice")["member"], true);
    assert_eq!(redeem::redemption_keys(&t), 0);
    redeem::assert_private(&t, &ticket);

    // nothing waits any more; the start page shows the permission
    let page = pages::get(&b, &t, "/redeem").await;
    assert!(!page.text.contains("action=\"/redeem/apply\""));
    let page = pages::get(&b, &t, "/").await;
    assert!(page.text.contains("<td>member</td>") && page.text.contains("active"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_in_member_redeems_on_the_page_at_once() {
    let mut t = redeem::app_at(&redeem::shop().await.url.clone(), OPEN).await;
    let ticket = redeem::order(&mut t, "cloud", OrderState::Paid).await;
    assert_eq!(t.register("bob").await.status, StatusCode::CREATED);
    let b = pages::browser("de");
    assert_eq!(
        log_in(&b, &t, "bob", "/redeem").await.status,
        StatusCode::SEE_OTHER
    );
    let page = redeem_code(&b, &t, &ticket.secret).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Ticket eingelöst"), "{}", page.text);
    assert!(page.text.contains("<td>cloud</td>"));
    assert!(redeem::grants(&t, "bob")["permissions"]["cloud"]
        .as_u64()
        .is_some());
    redeem::assert_private(&t, &ticket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_a_page_with_the_apis_status() {
    let mut t = redeem::app_at(&redeem::shop().await.url.clone(), OPEN).await;
    let b = pages::browser("en");

    let unknown = redeem_code(&b, &t, "NOSUCHTICKET0000").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    assert!(unknown.text.contains("No ticket has this code"));
    assert!(unknown.text.contains("name=\"secret\""), "the form again");

    let unpaid = redeem::order(&mut t, "membership", OrderState::Pending).await;
    let page = redeem_code(&b, &t, &unpaid.secret).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text.contains("not paid yet"));

    let cancelled = redeem::order(&mut t, "membership", OrderState::Cancelled).await;
    let page = redeem_code(&b, &t, &cancelled.secret).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text.contains("cancelled"));

    // redeemed by a member, then tried again
    let used = redeem::order(&mut t, "membership", OrderState::Paid).await;
    assert_eq!(t.register("carol").await.status, StatusCode::CREATED);
    let member = pages::browser("en");
    log_in(&member, &t, "carol", "/").await;
    assert_eq!(
        redeem_code(&member, &t, &used.secret).await.status,
        StatusCode::OK
    );
    let de = pages::browser("de");
    let page = redeem_code(&de, &t, &used.secret).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.text.contains("schon eingelöst"), "{}", page.text);

    // applying with nothing waiting, and without a login
    let csrf = pages::get(&member, &t, "/redeem").await.csrf();
    let page = pages::post(&member, &t, "/redeem/apply", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let stranger = pages::browser("en");
    let csrf = pages::get(&stranger, &t, "/redeem").await.csrf();
    let page = pages::post(&stranger, &t, "/redeem/apply", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.text.contains("href=\"/login?return_to=%2Fredeem\""));

    for ticket in [&unpaid, &cancelled, &used] {
        redeem::assert_private(&t, ticket);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_shop_is_a_page_that_asks_to_try_again() {
    let double = PretixFaultDouble::start(&[]).await;
    let mut t = redeem::app_at(&double.url, OPEN).await;
    let ticket: Ticket = redeem::order(&mut t, "membership", OrderState::Paid).await;
    double.plan(&[crate::pretix::Fault::Hang]);
    let b = pages::browser("en");
    let page = redeem_code(&b, &t, &ticket.secret).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.text
    );
    assert!(page.headers.get("retry-after").is_some());
    assert!(page.text.contains("try again in a minute"));
    assert!(page.text.contains("<code>"), "the incident id");
    assert!(t.store_text().is_empty());
    // once the shop answers, the same form works
    let page = redeem_code(&b, &t, &ticket.secret).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redeem_post_without_its_token_is_refused_and_asks_nobody() {
    let mut t = redeem::app().await;
    let ticket = redeem::order(&mut t, "membership", OrderState::Paid).await;
    let b = pages::browser("en");
    let page = pages::post(&b, &t, "/redeem", &[("secret", &ticket.secret)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.text);
    pages::get(&b, &t, "/redeem").await;
    let zeros = "0".repeat(64);
    let page = pages::post(
        &b,
        &t,
        "/redeem",
        &[("secret", &ticket.secret), ("csrf", &zeros)],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = pages::post(&b, &t, "/redeem/apply", &[("csrf", &zeros)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!page.sets_cookie("ausweis_redeem"));
    assert!(t.store_text().is_empty(), "{}", t.store_text());
    assert_eq!(redeem::shop().await.check_ins(&ticket).await, 0);
}
