//! Signing in to a relying party through the pages of ausweis, in
//! Chromium: the login page, its code step, the consent page, and
//! RP-initiated logout.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use super::{assert_loopback_only_in_relying_party_urls, bounded, Browser, RelyingParty, Size};
use crate::common::{self, TestApp, PASSWORD};
use crate::member::{self, step_now, totp};

/// An app with the admin API on, whose checks leave the client address to
/// [`assert_loopback_only_in_relying_party_urls`], and a member `user`.
async fn provider_with(user: &str) -> TestApp {
    let mut t = common::start_provider(HashMap::new()).await;
    // the relying party's redirect URIs name 127.0.0.1 (see the check)
    t.secrets.retain(|s| s != "127.0.0.1");
    assert_eq!(t.register(user).await.status, StatusCode::CREATED);
    t
}

/// The checks every browser test ends with, besides `TestApp`'s own.
async fn end(t: &mut TestApp, b: Browser, rp: &RelyingParty) {
    b.finish().await;
    t.secrets.extend(rp.tokens());
    assert_loopback_only_in_relying_party_urls(t, rp);
}

/// From the relying party's start page to the filled-in login page: the
/// link leads to ausweis's `/login`.
async fn to_login(b: &Browser, t: &TestApp, rp: &RelyingParty, user: &str, password: &str) {
    b.goto(&rp.url("/"), "relying-party").await;
    assert!(b.text().await.contains("Sign in with ausweis"));
    b.follow("Sign in with ausweis", "login").await;
    b.wait_for("form[action='/login'] input[name='return_to']")
        .await;
    let at = b.url().await;
    assert_eq!(at.path(), "/login", "the link leads to the login page");
    assert!(at.as_str().starts_with(&t.url("/")));
    let title = b.title().await;
    assert!(
        title == "Log in · ausweis" || title == "Anmelden · ausweis",
        "{title}"
    );
    b.fill("username", user).await;
    b.fill("password", password).await;
    b.shot("login-filled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_signs_in_to_a_relying_party_through_login_and_consent() {
    bounded(browser_signs_in_to_a_relying_party_through_login_and_consent_steps()).await;
}

async fn browser_signs_in_to_a_relying_party_through_login_and_consent_steps() {
    let mut t = provider_with("alice").await;
    member::grant(&t, "alice", "wiki", "2099-01-01").await;
    let rp = RelyingParty::start(
        &mut t,
        "wiki",
        json!({"name": "Association Wiki", "required_permission": "wiki"}),
    )
    .await;
    let b = Browser::start("signs_in_through_login_and_consent").await;

    to_login(&b, &t, &rp, "alice", PASSWORD).await;
    b.press("Log in", "consent").await;
    assert_eq!(b.url().await.path(), "/oidc/authorize");
    let text = b.text().await;
    assert!(text.contains("Share your account?"), "{text}");
    assert!(text.contains("Association Wiki"), "{text}");
    assert!(rp.sign_ins().is_empty(), "nothing before consent");

    b.press("Allow", "signed-in").await;
    let at = b
        .wait_for_url("the relying party's callback", |u| u.path() == "/callback")
        .await;
    assert!(at.as_str().starts_with(&rp.url("/callback?")), "{at}");
    b.wait_for_text("Signed in as alice").await;

    let sign_ins = rp.sign_ins();
    assert_eq!(sign_ins.len(), 1);
    assert_eq!(sign_ins[0].username, "alice");
    assert_eq!(sign_ins[0].amr, ["pwd"]);
    assert!(
        !sign_ins[0].subject.contains("alice"),
        "sub is not the name"
    );
    assert!(rp.languages().iter().all(|l| l.starts_with("en")));

    // one screenshot per page, numbered in order
    let mut shots: Vec<String> = std::fs::read_dir(b.shots_dir())
        .expect("screenshots")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    shots.sort();
    assert_eq!(
        shots,
        [
            "01-relying-party.png",
            "02-login.png",
            "03-login-filled.png",
            "04-consent.png",
            "05-signed-in.png"
        ]
    );
    let png = std::fs::read(b.shots_dir().join(&shots[4])).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG file");
    end(&mut t, b, &rp).await;
}

/// A TOTP code that is wrong now: none of the codes the window accepts.
fn wrong_code(secret: &str) -> String {
    let now = step_now();
    ["123456", "654321", "111111"]
        .into_iter()
        .find(|c| (0..3).all(|d| *c != totp(secret, now + d - 1)))
        .expect("a wrong code")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_with_two_factor_asks_for_the_code_on_a_second_page() {
    bounded(browser_sign_in_with_two_factor_asks_for_the_code_on_a_second_page_steps()).await;
}

async fn browser_sign_in_with_two_factor_asks_for_the_code_on_a_second_page_steps() {
    let mut t = provider_with("bruno").await;
    let api = member::logged_in(&t, "bruno", PASSWORD).await;
    let (secret, confirmed, _) = member::enable_totp(&t, &api).await;
    let rp = RelyingParty::start(&mut t, "forge", json!({"name": "Code Forge"})).await;
    let b = Browser::start_with("sign_in_with_two_factor", "de-DE,de", Size::Desktop).await;

    // the browser asks for German, and the pages answer in German
    to_login(&b, &t, &rp, "bruno", PASSWORD).await;
    assert_eq!(b.title().await, "Anmelden · ausweis");
    b.press("Anmelden", "code-step").await;
    assert_eq!(b.url().await.path(), "/login");
    assert_eq!(b.title().await, "Code eingeben · ausweis");

    // a wrong code: the same page, with the error
    b.fill(
        "Code aus deiner Authenticator-App oder ein Wiederherstellungscode",
        &wrong_code(&secret),
    )
    .await;
    b.press("Weiter", "code-wrong").await;
    let text = b.text().await;
    assert!(text.contains("Der Code ist falsch"), "{text}");
    assert!(rp.sign_ins().is_empty());

    // the code of a later step than the one that confirmed two-factor
    // (that one is used up); the id works as well as the label
    let code = totp(&secret, step_now().max(confirmed + 1));
    b.fill("code", &code).await;
    b.shot("code-filled").await;
    b.press("Weiter", "consent").await;
    let text = b.text().await;
    assert!(
        text.contains("Code Forge") && text.contains("möchte dich anmelden"),
        "{text}"
    );
    b.press("Erlauben", "signed-in").await;
    assert!(b.text().await.contains("Signed in as bruno"));

    let sign_ins = rp.sign_ins();
    assert_eq!(sign_ins.len(), 1);
    assert_eq!(sign_ins[0].username, "bruno");
    assert_eq!(sign_ins[0].amr, ["pwd", "otp"]);
    // the session's language reached the relying party
    let languages = rp.languages();
    assert!(!languages.is_empty());
    assert!(
        languages.iter().all(|l| l.starts_with("de")),
        "{languages:?}"
    );
    end(&mut t, b, &rp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_wrong_password_shows_the_error_on_the_login_page() {
    bounded(browser_wrong_password_shows_the_error_on_the_login_page_steps()).await;
}

async fn browser_wrong_password_shows_the_error_on_the_login_page_steps() {
    let mut t = provider_with("carla").await;
    let rp = RelyingParty::start(&mut t, "chat", json!({"first_party": true})).await;
    let b = Browser::start("wrong_password").await;
    let wrong = "not the password at all";
    t.secrets.push(wrong.into());

    to_login(&b, &t, &rp, "carla", wrong).await;
    b.press("Log in", "login-refused").await;
    assert_eq!(b.url().await.path(), "/login");
    let text = b.text().await;
    assert!(text.contains("Username or password is wrong."), "{text}");
    assert_eq!(b.value("Username").await, "carla", "the name is kept");
    assert_eq!(b.value("Password").await, "", "the password is not");
    assert!(rp.sign_ins().is_empty());

    // the right password on the same page goes on to the service
    // (a first-party client: no consent page)
    b.fill("Password", PASSWORD).await;
    b.press("Log in", "signed-in").await;
    assert!(b.text().await.contains("Signed in as carla"));
    assert_eq!(rp.sign_ins().len(), 1);
    end(&mut t, b, &rp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_rp_initiated_logout_ends_the_session() {
    bounded(browser_rp_initiated_logout_ends_the_session_steps()).await;
}

async fn browser_rp_initiated_logout_ends_the_session_steps() {
    let mut t = provider_with("dora").await;
    let rp = RelyingParty::start(&mut t, "cloud", json!({"first_party": true})).await;
    let b = Browser::start("rp_initiated_logout").await;

    to_login(&b, &t, &rp, "dora", PASSWORD).await;
    b.press("Log in", "signed-in").await;
    assert!(b.text().await.contains("Signed in as dora"));

    // the relying party's link names this session's ID token: no question
    b.follow("Sign out", "signed-out").await;
    let at = b.url().await;
    assert!(at.as_str().starts_with(&rp.url("/signed-out?")), "{at}");
    assert!(b
        .text()
        .await
        .contains("You are signed out of this service."));
    assert_eq!(rp.signed_out().len(), 1);

    // the ausweis session is over: signing in asks for the password again
    b.goto(&rp.url("/"), "relying-party-again").await;
    b.follow("Sign in with ausweis", "login-again").await;
    assert_eq!(b.url().await.path(), "/login");
    b.fill("Username", "dora").await;
    b.fill("Password", PASSWORD).await;
    b.press("Log in", "signed-in-again").await;
    assert!(b.text().await.contains("Signed in as dora"));

    // a logout link without a hint asks first; the answer ends the session
    b.goto(&t.url("/oidc/logout"), "logout-question").await;
    assert_eq!(b.title().await, "Log out? · ausweis");
    b.press("Log out of ausweis", "logged-out").await;
    assert_eq!(b.title().await, "Logged out · ausweis");
    assert!(b.text().await.contains("You are logged out of ausweis."));
    b.goto(&rp.url("/"), "relying-party-last").await;
    b.follow("Sign in with ausweis", "login-last").await;
    assert_eq!(b.url().await.path(), "/login");
    assert_eq!(rp.sign_ins().len(), 2);
    end(&mut t, b, &rp).await;
}
