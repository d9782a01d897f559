//! The register page, driven as a browser would: form, token, refusals
//! that keep what was typed, and the private key shown once.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pgp::types::KeyDetails as _;
use reqwest::StatusCode;

use crate::common::{self, PASSWORD};
use crate::pages::{self, Page};

const OWN_KEY: &str = include_str!("../../crates/ausweis/tests/fixtures/public-key.asc");

/// Quick hashing: these tests make many accounts.
fn quick() -> HashMap<String, String> {
    [("argon2_memory_kib", "64"), ("argon2_iterations", "1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn submit(b: &reqwest::Client, t: &common::TestApp, fields: &[(&str, &str)]) -> Page {
    let form = pages::get(b, t, "/register").await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    pages::post(b, t, "/register", &all).await
}

fn accounts(t: &common::TestApp) -> usize {
    t.kv()
        .dump()
        .get("accounts")
        .map(|m| m.keys().filter(|k| k.starts_with("user:")).count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_page_makes_an_account_and_offers_the_private_key_once() {
    let t = common::start_with(quick(), None).await;
    let b = pages::browser("en");
    let form = pages::get(&b, &t, "/register?return_to=%2Fprofile").await;
    assert!(
        form.text.contains("At least 10 characters"),
        "{}",
        form.text
    );
    assert!(form.text.contains("value=\"generate\" checked"));

    let page = submit(
        &b,
        &t,
        &[
            ("username", "Alice"),
            ("password", PASSWORD),
            ("email", ""),
            ("key", "generate"),
            ("public_key", ""),
            ("return_to", "/profile"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.text);
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(page.text.contains("shown only this once"));
    assert!(page.text.contains("protected with your"));

    // the key in the read-only box and in the download are the same
    let shown =
        regex::Regex::new(r#"(?s)<textarea id="private_key" readonly[^>]*>(.*?)</textarea>"#)
            .unwrap()
            .captures(&page.text)
            .expect("the key box")[1]
            .to_string();
    assert!(shown.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    let link = regex::Regex::new(
        r#"<a class="button" download="ausweis-alice-private-key.asc" href="data:application/pgp-keys;base64,([A-Za-z0-9+/=]+)">"#,
    )
    .unwrap()
    .captures(&page.text)
    .expect("the download link")[1]
        .to_string();
    let downloaded = String::from_utf8(STANDARD.decode(link).unwrap()).unwrap();
    assert_eq!(downloaded, shown);
    let (key, _) =
        <pgp::composed::SignedSecretKey as pgp::composed::Deserializable>::from_string(&downloaded)
            .unwrap();
    assert!(key
        .primary_key
        .unlock(&PASSWORD.into(), |_, _| Ok(()))
        .unwrap()
        .is_ok());
    let fingerprint = format!("{:x}", key.fingerprint());
    assert!(
        page.text.to_lowercase().contains(&fingerprint),
        "fingerprint shown"
    );
    assert!(
        page.text
            .contains("href=\"/login?return_to=%2Fprofile&amp;login_hint=alice\""),
        "{}",
        page.text
    );

    // the account works, and the store never saw the private key
    assert_eq!(t.login("alice", PASSWORD).await.status, StatusCode::OK);
    assert!(!t.store_text().contains("PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_page_takes_an_own_public_key() {
    let t = common::start_with(quick(), None).await;
    let b = pages::browser("en");
    let page = submit(
        &b,
        &t,
        &[
            ("username", "bob"),
            ("password", PASSWORD),
            ("email", "bob@example.org"),
            ("key", "own"),
            ("public_key", OWN_KEY),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.text);
    assert!(!page.text.contains("PRIVATE KEY"));
    assert!(!page.text.contains("download="));
    assert!(page
        .text
        .to_uppercase()
        .contains("F725B3CC83CEC5A203FD9B68BAFFACF358D8E9EC"));
    assert!(page.text.contains("return_to=%2F&amp;login_hint=bob"));
}

/// Form fields, the status and a part of the message they get.
type Case<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_page_explains_each_refusal_and_keeps_what_was_typed() {
    let mut t = common::start_with(quick(), None).await;
    let secret_pw = "never echoed 7f3a9c";
    t.secrets.push(secret_pw.into());
    assert_eq!(t.register("carol").await.status, StatusCode::CREATED);
    let b = pages::browser("en");

    let cases: [Case; 6] = [
        (
            &[
                ("username", "CAROL"),
                ("password", secret_pw),
                ("key", "generate"),
            ],
            StatusCode::CONFLICT,
            "This username is taken",
        ),
        (
            &[
                ("username", "dave"),
                ("password", "short"),
                ("key", "generate"),
            ],
            StatusCode::BAD_REQUEST,
            "at least 10 characters",
        ),
        (
            &[
                ("username", "1dave"),
                ("password", secret_pw),
                ("key", "generate"),
            ],
            StatusCode::BAD_REQUEST,
            "start with a letter",
        ),
        (
            &[
                ("username", "dave"),
                ("password", secret_pw),
                ("key", "own"),
                (
                    "public_key",
                    "-----BEGIN PGP PUBLIC KEY BLOCK-----\ngarbage",
                ),
            ],
            StatusCode::BAD_REQUEST,
            "public_key",
        ),
        (
            &[
                ("username", "dave"),
                ("password", secret_pw),
                ("key", "own"),
            ],
            StatusCode::BAD_REQUEST,
            "Paste your public key",
        ),
        (
            &[
                ("username", "dave"),
                ("password", secret_pw),
                ("key", "generate"),
                ("public_key", OWN_KEY),
            ],
            StatusCode::BAD_REQUEST,
            "Choose one of the two",
        ),
    ];
    for (fields, status, message) in cases {
        let mut all = fields.to_vec();
        all.push(("email", "dave@example.org"));
        let page = submit(&b, &t, &all).await;
        assert_eq!(page.status, status, "{fields:?}: {}", page.text);
        assert!(page.text.contains(message), "{fields:?}: {}", page.text);
        assert!(page.text.contains("role=\"alert\""));
        assert!(!page.text.contains(secret_pw), "the password came back");
        assert!(
            page.text.contains("value=\"dave@example.org\""),
            "e-mail kept"
        );
        let name = fields[0].1;
        assert!(
            page.text.contains(&format!("value=\"{name}\"")),
            "username kept"
        );
    }
    assert_eq!(accounts(&t), 1, "no refused registration stored an account");

    // the same in German
    let de = pages::browser("de");
    let page = submit(
        &de,
        &t,
        &[
            ("username", "carol"),
            ("password", PASSWORD),
            ("key", "generate"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.text.contains("<html lang=\"de\""));
    assert!(
        page.text.contains("Dieser Benutzername ist vergeben"),
        "{}",
        page.text
    );
    let page = submit(
        &de,
        &t,
        &[
            ("username", "erin"),
            ("password", "short"),
            ("key", "generate"),
        ],
    )
    .await;
    assert!(
        page.text.contains("Das Passwort ist zu schwach"),
        "{}",
        page.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_page_refuses_a_post_without_its_token_and_stores_nothing() {
    let t = common::start_with(quick(), None).await;
    let b = pages::browser("en");
    let fields = [
        ("username", "mallory"),
        ("password", PASSWORD),
        ("key", "generate"),
    ];
    // no token at all, with and without the cookie
    let page = pages::post(&b, &t, "/register", &fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.text);
    assert!(page.text.contains("The form had expired"));
    pages::get(&b, &t, "/register").await;
    let page = pages::post(&b, &t, "/register", &fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // a wrong token
    let mut wrong = fields.to_vec();
    let zeros = "0".repeat(64);
    wrong.push(("csrf", &zeros));
    let page = pages::post(&b, &t, "/register", &wrong).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // the right token from another site
    let csrf = pages::get(&b, &t, "/register").await.csrf();
    let mut right = fields.to_vec();
    right.push(("csrf", &csrf));
    let resp = b
        .post(t.url("/register"))
        .header("origin", "http://evil.example")
        .form(&right)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(accounts(&t), 0);
    assert!(t
        .kv()
        .dump()
        .get("credentials")
        .is_none_or(|c| c.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_page_sends_to_redeem_when_a_ticket_is_required() {
    let mut vars = quick();
    vars.insert("registration_requires_ticket".into(), "true".into());
    let t = common::start_with(vars, None).await;
    let b = pages::browser("en");
    let form = pages::get(&b, &t, "/register").await;
    assert!(form.text.contains("Registering needs a ticket"));
    assert!(form.text.contains("href=\"/redeem\""));
    let page = submit(
        &b,
        &t,
        &[
            ("username", "frank"),
            ("password", PASSWORD),
            ("key", "generate"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.text);
    assert!(page.text.contains("href=\"/redeem\""));
    assert!(page.text.contains("value=\"frank\""));
    assert_eq!(accounts(&t), 0);

    let de = pages::browser("de");
    let form = pages::get(&de, &t, "/register").await;
    assert!(form.text.contains("Löse zuerst dein Ticket ein"));
}
