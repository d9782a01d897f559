//! The account pages in Chromium: two-factor turned on from the page with
//! the key read off the page, a logout and a login with the code, a
//! password change, the export and the deletion of the account.

use reqwest::StatusCode;

use super::{bounded, Browser, Size};
use crate::common::{self, TestApp, PASSWORD};
use crate::member::{step_now, totp};

const NEW_PASSWORD: &str = "browser-made passphrase 7";

/// From `/account` without a session through the login page back to it;
/// `button` is the login button in the browser's language.
async fn log_in_to_account(
    b: &Browser,
    t: &TestApp,
    (user, password): (&str, &str),
    button: &str,
    shot: &str,
) {
    b.goto(&t.url("/account"), &format!("{shot}-login")).await;
    assert_eq!(b.url().await.path(), "/login", "no session: the login page");
    b.fill("username", user).await;
    b.fill("password", password).await;
    b.press(button, shot).await;
}

/// The key the setup page shows in groups of four, without the spaces.
fn key_on(text: &str) -> String {
    regex::Regex::new(r"\b(?:[A-Z2-7]{4} ){7}[A-Z2-7]{4}\b")
        .unwrap()
        .find(text)
        .unwrap_or_else(|| panic!("no key on the page: {text}"))
        .as_str()
        .replace(' ', "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_turns_on_two_factor_then_logs_in_with_the_code_and_changes_the_password() {
    bounded(two_factor_and_password_steps()).await;
}

async fn two_factor_and_password_steps() {
    let mut t = common::start().await;
    t.secrets.retain(|s| s != "127.0.0.1");
    t.secrets.push(NEW_PASSWORD.into());
    assert_eq!(t.register("alice").await.status, StatusCode::CREATED);
    let b = Browser::start("account_two_factor_and_password").await;

    log_in_to_account(&b, &t, ("alice", PASSWORD), "Log in", "account").await;
    assert_eq!(b.url().await.path(), "/account");
    assert_eq!(b.title().await, "Your account · ausweis");
    assert!(b.text().await.contains("Logged in as alice."));

    // the setup page: a QR code, and the key as text for typing in
    b.press("Turn on", "two-factor-setup").await;
    assert_eq!(
        b.title().await,
        "Set up two-factor authentication · ausweis"
    );
    b.wait_for("figure svg[role='img'] path").await;
    let secret = key_on(&b.text().await);
    let confirmed = step_now();
    b.fill("The code the app shows now", &totp(&secret, confirmed))
        .await;
    b.press("Turn on two-factor authentication", "recovery-codes")
        .await;
    let text = b.text().await;
    assert!(text.contains("Save these recovery codes now"), "{text}");
    let codes = regex::Regex::new(r"\b[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}\b")
        .unwrap()
        .find_iter(&text)
        .count();
    assert_eq!(codes, 10, "{text}");
    b.follow("I have saved them", "account-two-factor-on").await;
    assert!(b.text().await.contains("Recovery codes left: 10."));

    // log out; the next login asks for the code
    b.press("Log out", "logged-out").await;
    log_in_to_account(&b, &t, ("alice", PASSWORD), "Log in", "code-step").await;
    assert_eq!(b.title().await, "Enter your code · ausweis");
    b.fill(
        "Code from your authenticator app, or a recovery code",
        &totp(&secret, step_now().max(confirmed + 1)),
    )
    .await;
    b.press("Continue", "account-after-code").await;
    assert_eq!(b.url().await.path(), "/account");

    // a new password; the old one no longer logs in
    b.fill("Current password", PASSWORD).await;
    b.fill("New password (at least 10 characters)", NEW_PASSWORD)
        .await;
    b.press("Change password", "password-changed").await;
    let text = b.text().await;
    assert!(text.contains("Your password is changed."), "{text}");
    assert_eq!(
        t.login("alice", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = t.login("alice", NEW_PASSWORD).await;
    assert_eq!(r.body["second_factor"], "totp", "{}", r.body);
    t.secrets
        .push(r.body["pending"].as_str().unwrap_or_default().into());
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_exports_the_data_then_deletes_the_account() {
    bounded(export_and_delete_steps()).await;
}

async fn export_and_delete_steps() {
    let mut t = common::start().await;
    t.secrets.retain(|s| s != "127.0.0.1");
    assert_eq!(t.register("bea").await.status, StatusCode::CREATED);
    let b = Browser::start_with("account_export_and_delete", "de-DE,de", Size::Desktop).await;

    log_in_to_account(&b, &t, ("bea", PASSWORD), "Anmelden", "konto").await;
    assert_eq!(b.title().await, "Dein Konto · ausweis");

    // the export link downloads JSON with this browser's session
    let link = b.wait_for("a[download][href='/account/export']").await;
    assert_eq!(
        link.text().await.unwrap_or_default(),
        "Meine Daten herunterladen"
    );
    let session = b.cookie("ausweis_session").await.expect("a session cookie");
    let export = reqwest::Client::new()
        .get(t.url("/account/export"))
        .header("cookie", format!("ausweis_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let doc: serde_json::Value = export.json().await.unwrap();
    assert_eq!(doc["account"]["username"], "bea");

    // deletion: the confirmation page, then the goodbye page
    b.follow("Mein Konto löschen …", "loeschen").await;
    assert_eq!(b.title().await, "Konto löschen · ausweis");
    b.fill("confirm_username", "bea").await;
    b.fill("Dein Passwort", PASSWORD).await;
    b.shot("loeschen-ausgefuellt").await;
    b.press("Mein Konto endgültig löschen", "auf-wiedersehen")
        .await;
    assert_eq!(b.title().await, "Auf Wiedersehen · ausweis");
    assert!(b.cookie("ausweis_session").await.is_none());
    assert_eq!(
        t.login("bea", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(crate::account::traces(&t, &["bea".to_string()]).is_empty());
    b.goto(&t.url("/account"), "danach").await;
    assert_eq!(b.url().await.path(), "/login");
    b.finish().await;
}
