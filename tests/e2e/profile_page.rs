//! The start page and the profile editor, driven as a browser would.

use std::collections::HashMap;

use reqwest::StatusCode;

use crate::common::{self, TestApp, PASSWORD};
use crate::member;
use crate::pages::{self, Page};

/// A browser logged in as `user` through the login page.
async fn logged_in(t: &TestApp, user: &str, lang: &str) -> reqwest::Client {
    let b = pages::browser(lang);
    let csrf = pages::get(&b, t, "/login").await.csrf();
    let r = pages::post(
        &b,
        t,
        "/login",
        &[
            ("csrf", &csrf),
            ("username", user),
            ("password", PASSWORD),
            ("return_to", "/"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    b
}

/// Posts one of the editor's forms with the editor's token.
async fn edit(b: &reqwest::Client, t: &TestApp, path: &str, fields: &[(&str, &str)]) -> Page {
    let csrf = pages::get(b, t, "/profile").await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    pages::post(b, t, path, &all).await
}

/// What an anonymous asker gets from the shared profile API.
async fn shared(t: &TestApp, user: &str) -> common::Reply {
    common::read(
        common::client()
            .get(t.url(&format!("/api/users/{user}/profile")))
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn profile_record(t: &TestApp) -> String {
    t.kv()
        .dump()
        .get("accounts")
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("profile:"))
                .map(|(_, v)| String::from_utf8_lossy(v).to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_page_welcomes_strangers_and_shows_a_member_their_permissions() {
    let t = common::start_provider(HashMap::new()).await;
    let stranger = pages::browser("en");
    let page = pages::get(&stranger, &t, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    for link in ["href=\"/login\"", "href=\"/register\"", "href=\"/redeem\""] {
        assert!(page.text.contains(link), "{link}: {}", page.text);
    }

    member::register(&t, "alice", None).await;
    member::grant(&t, "alice", "cloud", "2099-12-31").await;
    member::grant(&t, "alice", "old-wiki", "2001-01-01").await;
    let b = logged_in(&t, "alice", "en").await;
    let page = pages::get(&b, &t, "/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("<strong>alice</strong>"));
    assert!(page.text.contains("You are a member"));
    assert!(page
        .text
        .contains("<tr><td>cloud</td><td>2099-12-31</td><td>active</td></tr>"));
    assert!(page
        .text
        .contains("<tr><td>old-wiki</td><td>2001-01-01</td><td>expired</td></tr>"));
    for link in ["href=\"/profile\"", "href=\"/account\"", "href=\"/redeem\""] {
        assert!(page.text.contains(link), "{link}");
    }
    assert!(page.text.contains("action=\"/logout\""));

    // German
    let de = logged_in(&t, "alice", "de").await;
    let page = pages::get(&de, &t, "/").await;
    assert!(page.text.contains("<html lang=\"de\""));
    assert!(page.text.contains("Deine Berechtigungen") && page.text.contains("abgelaufen"));

    // the logout button ends the session
    let csrf = page.csrf();
    let out = pages::post(&de, &t, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let page = pages::get(&de, &t, "/").await;
    assert!(page.text.contains("Willkommen") && page.text.contains("href=\"/register\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_editor_adds_changes_and_deletes_fields() {
    let t = common::start().await;
    // logged out: to the login page, and back here afterwards
    let stranger = pages::browser("en");
    let page = pages::get(&stranger, &t, "/profile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?return_to=%2Fprofile");

    member::register(&t, "bob", None).await;
    let b = logged_in(&t, "bob", "en").await;
    let page = pages::get(&b, &t, "/profile").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("no fields yet"));
    assert!(page.text.contains("href=\"/api/users/bob/profile\""));

    let r = edit(
        &b,
        &t,
        "/profile/fields",
        &[
            ("name", "city"),
            ("type", "text"),
            ("value", "Berlin"),
            ("visibility", "public"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.location(), "/profile?done=added");
    let page = pages::get(&b, &t, "/profile?done=added").await;
    assert!(page.text.contains("The field is added"));
    assert!(page.text.contains(">Berlin</textarea>"));
    assert!(page.text.contains("action=\"/profile/fields/city\""));
    assert_eq!(shared(&t, "bob").await.body["fields"][0]["value"], "Berlin");

    // change value and visibility; the type stays
    let r = edit(
        &b,
        &t,
        "/profile/fields/city",
        &[("value", "Hamburg"), ("visibility", "private")],
    )
    .await;
    assert_eq!(r.location(), "/profile?done=saved", "{}", r.text);
    assert_eq!(shared(&t, "bob").await.status, StatusCode::NOT_FOUND);
    assert!(profile_record(&t).contains("Hamburg"));

    // typed fields
    let r = edit(
        &b,
        &t,
        "/profile/fields",
        &[
            ("name", "born"),
            ("type", "date"),
            ("value", "soon"),
            ("visibility", "protected"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("date like 2027-01-31"), "{}", r.text);
    assert!(r.text.contains("value=\"born\"") && r.text.contains("value=\"soon\""));
    let r = edit(
        &b,
        &t,
        "/profile/fields",
        &[
            ("name", "born"),
            ("type", "date"),
            ("value", "1990-05-17"),
            ("visibility", "protected"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let r = edit(
        &b,
        &t,
        "/profile/fields",
        &[
            ("name", "volunteer"),
            ("type", "bool"),
            ("value", "true"),
            ("visibility", "public"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert!(profile_record(&t).contains("\"volunteer\":{\"value\":true"));

    // refusals: a taken name, a bad name, an unknown field
    let r = edit(
        &b,
        &t,
        "/profile/fields",
        &[
            ("name", "city"),
            ("type", "text"),
            ("value", "x"),
            ("visibility", "public"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = edit(
        &b,
        &t,
        "/profile/fields",
        &[
            ("name", "Bad Name"),
            ("type", "text"),
            ("value", "x"),
            ("visibility", "public"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = edit(&b, &t, "/profile/fields/nope/delete", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // German refusal
    let de = logged_in(&t, "bob", "de").await;
    let r = edit(
        &de,
        &t,
        "/profile/fields",
        &[
            ("name", "web"),
            ("type", "url"),
            ("value", "nope"),
            ("visibility", "public"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("http:// oder https://"), "{}", r.text);

    // delete
    let r = edit(&b, &t, "/profile/fields/city/delete", &[]).await;
    assert_eq!(r.location(), "/profile?done=deleted");
    assert!(!profile_record(&t).contains("Hamburg"));
    let page = pages::get(&b, &t, "/profile").await;
    assert!(!page.text.contains("action=\"/profile/fields/city\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_forms_without_their_token_are_refused_and_change_nothing() {
    let t = common::start().await;
    member::register(&t, "carol", None).await;
    let b = logged_in(&t, "carol", "en").await;
    let r = edit(
        &b,
        &t,
        "/profile/fields",
        &[
            ("name", "city"),
            ("type", "text"),
            ("value", "Bonn"),
            ("visibility", "public"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let before = profile_record(&t);

    let zeros = "0".repeat(64);
    for path in [
        "/profile/fields",
        "/profile/fields/city",
        "/profile/fields/city/delete",
    ] {
        let fields = [
            ("name", "town"),
            ("type", "text"),
            ("value", "Köln"),
            ("visibility", "private"),
        ];
        let page = pages::post(&b, &t, path, &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}: {}", page.text);
        assert!(page.text.contains("The form had expired"));
        let mut wrong = fields.to_vec();
        wrong.push(("csrf", &zeros));
        let page = pages::post(&b, &t, path, &wrong).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    let de = pages::browser("de");
    let page = pages::post(&de, &t, "/profile/fields/city/delete", &[]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        profile_record(&t),
        before,
        "a refused form changed the profile"
    );
}
