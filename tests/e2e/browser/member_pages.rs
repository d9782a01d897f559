//! The member's own pages in Chromium: register and keep the private key
//! from the page, log in, edit the profile, log out; and, in German, redeem
//! a ticket from the real Pretix before registering, then apply it.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;

use super::{bounded, Browser, Size};
use crate::common::{self, PASSWORD};
use crate::pretix::OrderState;
use crate::redeem;

/// The private key the page shows, checked against its download link and
/// the password that protects it.
async fn kept_key(b: &Browser, name: &str) -> String {
    let shown = b.value("private_key").await;
    assert!(shown.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    let link = b
        .wait_for(&format!(
            "a[download='ausweis-{name}-private-key.asc'][href^='data:application/pgp-keys;base64,']"
        ))
        .await;
    let href = link.attr("href").await.expect("href").expect("a link");
    let data = href
        .split_once("base64,")
        .map(|(_, d)| d)
        .expect("base64 data");
    let downloaded = String::from_utf8(STANDARD.decode(data).expect("base64")).expect("text");
    // the box is read-only text; a browser may end its lines differently
    assert_eq!(
        downloaded.replace("\r\n", "\n"),
        shown.replace("\r\n", "\n")
    );
    let (key, _) =
        <pgp::composed::SignedSecretKey as pgp::composed::Deserializable>::from_string(&downloaded)
            .expect("an OpenPGP private key");
    assert!(key
        .primary_key
        .unlock(&PASSWORD.into(), |_, _| Ok(()))
        .expect("unlock")
        .is_ok());
    downloaded
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_registers_keeps_the_key_logs_in_and_edits_the_profile() {
    bounded(async {
        let vars: HashMap<String, String> =
            [("argon2_memory_kib", "64"), ("argon2_iterations", "1")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let t = common::start_with(vars, None).await;
        let b = Browser::start("registers_keeps_the_key_and_edits_the_profile").await;

        b.goto(&t.url("/"), "welcome").await;
        b.follow("Register", "register").await;
        b.fill("Username", "dana").await;
        b.fill("Password", PASSWORD).await;
        b.shot("register-filled").await;
        b.press("Register", "registered").await;
        let text = b.text().await;
        assert!(text.contains("It is shown only this once"), "{text}");
        let key = kept_key(&b, "dana").await;
        assert!(
            !t.store_text().contains(&key[40..120]),
            "the key is not kept"
        );

        b.follow("Log in now", "login").await;
        assert_eq!(b.value("Username").await, "dana", "the name is filled in");
        b.fill("Password", PASSWORD).await;
        b.press("Log in", "overview").await;
        assert_eq!(b.url().await.path(), "/");
        b.wait_for_text("You are logged in as dana").await;

        b.follow("Edit your profile", "profile").await;
        b.fill("Name of the field", "city").await;
        b.fill("new-value", "Berlin").await;
        b.shot("profile-new-field").await;
        b.press("Add", "profile-added").await;
        b.wait_for_text("The field is added").await;
        assert_eq!(b.value("value-city").await, "Berlin");

        b.fill("value-city", "Hamburg").await;
        b.press("Save", "profile-saved").await;
        b.wait_for_text("The field is saved").await;
        assert_eq!(b.value("value-city").await, "Hamburg");

        b.press("Delete", "profile-deleted").await;
        b.wait_for_text("Your profile has no fields yet").await;

        b.follow("Back to the overview", "overview-again").await;
        b.press("Log out", "logged-out").await;
        b.wait_for_text("One account for all").await;
        b.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_redeems_a_ticket_registers_and_applies_it_in_german() {
    bounded(async {
        let mut t = redeem::app().await;
        let ticket = redeem::order(&mut t, "membership", OrderState::Paid).await;
        let b =
            Browser::start_with("redeems_registers_and_applies", "de-DE,de", Size::Desktop).await;

        b.goto(&t.url("/"), "willkommen").await;
        b.follow("Ein Ticket aus dem Shop? Hier einlösen", "einloesen")
            .await;
        b.fill("Ticket-Code", &ticket.secret).await;
        b.press("Einlösen", "ticket-gueltig").await;
        b.wait_for_text("Dein Ticket ist gültig").await;
        assert!(b.text().await.contains("Mitgliedschaft im Verein"));

        b.follow("Registrieren", "registrieren").await;
        b.fill("Benutzername", "emil").await;
        b.fill("Passwort", PASSWORD).await;
        b.press("Registrieren", "registriert").await;
        b.wait_for_text("Er wird nur dieses eine Mal gezeigt").await;
        kept_key(&b, "emil").await;

        b.follow("Jetzt anmelden", "anmelden").await;
        b.fill("Passwort", PASSWORD).await;
        b.press("Anmelden", "ticket-wartet").await;
        assert_eq!(b.url().await.path(), "/redeem");
        b.wait_for_text("Ein eingelöstes Ticket wartet").await;
        b.press("Meinem Konto gutschreiben", "eingeloest").await;
        b.wait_for_text("Das Ticket ist deinem Konto gutgeschrieben")
            .await;

        b.follow("Zu meiner Übersicht", "uebersicht").await;
        b.wait_for_text("Du bist Mitglied im Verein").await;
        assert_eq!(redeem::grants(&t, "emil")["member"], true);
        assert_eq!(redeem::redemption_keys(&t), 0);
        redeem::assert_private(&t, &ticket);
        b.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_register_refusal_keeps_the_form_and_says_why() {
    bounded(async {
        let t = common::start().await;
        assert_eq!(t.register("fritz").await.status, StatusCode::CREATED);
        let b = Browser::start("register_refusal_keeps_the_form").await;
        b.goto(&t.url("/register"), "register").await;
        b.fill("Username", "fritz").await;
        b.fill("Password", PASSWORD).await;
        b.fill("E-mail address (optional)", "fritz@example.org")
            .await;
        b.press("Register", "register-taken").await;
        b.wait_for_text("This username is taken").await;
        assert_eq!(b.value("Username").await, "fritz");
        assert_eq!(
            b.value("E-mail address (optional)").await,
            "fritz@example.org"
        );
        assert_eq!(
            b.value("Password").await,
            "",
            "the password is not sent back"
        );
        b.finish().await;
    })
    .await;
}
