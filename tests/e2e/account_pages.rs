//! The account pages, driven over HTTP as a browser would (cookies kept,
//! redirects not followed): the security page, password change, two-factor
//! setup with its QR code, export, deletion, and recovery with the OpenPGP
//! key or a mailed link. Every page is checked for what the pages promise:
//! no script, no inline style, nothing loaded from elsewhere, a label for
//! every input and the anti-forgery field in every form.

use reqwest::header::HeaderMap;
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

use crate::common::{self, TestApp, PASSWORD};
use crate::member::{self, send, step_now, totp, RelayDouble, RELAY_TOKEN};

const NEW_PASSWORD: &str = "page-made passphrase 42";

/// A page as the browser got it.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

async fn read(resp: reqwest::Response) -> Page {
    let status = resp.status();
    let headers = resp.headers().clone();
    let html = resp.text().await.expect("page body");
    if headers
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html"))
    {
        assert_clean(&html);
    }
    Page {
        status,
        headers,
        html,
    }
}

async fn get(c: &Client, t: &TestApp, path: &str, lang: &str) -> Page {
    read(
        c.get(t.url(path))
            .header("accept-language", lang)
            .send()
            .await
            .expect("request"),
    )
    .await
}

async fn post(c: &Client, t: &TestApp, path: &str, fields: &[(&str, &str)]) -> Page {
    read(
        c.post(t.url(path))
            .form(fields)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// The anti-forgery field of a page.
fn csrf_in(html: &str) -> String {
    ausweis_tests::csrf_field(html).unwrap_or_else(|| panic!("no csrf field: {html}"))
}

/// What every page promises.
fn assert_clean(html: &str) {
    // the one link: an empty icon, so browsers ask for no favicon
    let lower = html
        .to_lowercase()
        .replacen("<link rel=\"icon\" href=\"data:,\">", "", 1);
    for bad in [
        "<script",
        " style=",
        "<link",
        "<iframe",
        "url(",
        "@import",
        "src=\"http",
        "href=\"http",
        "href=\"//",
        "src=\"//",
    ] {
        assert!(!lower.contains(bad), "page holds {bad}: {html}");
    }
    // every visible input and every textarea has a label
    let field = regex::Regex::new(r#"<(input|textarea) ([^>]*)>"#).unwrap();
    let id_of = regex::Regex::new(r#"id="([^"]+)""#).unwrap();
    for cap in field.captures_iter(html) {
        let attrs = &cap[2];
        if attrs.contains("type=\"hidden\"") {
            continue;
        }
        let id = id_of
            .captures(attrs)
            .unwrap_or_else(|| panic!("input without id: {attrs}"))[1]
            .to_string();
        assert!(
            html.contains(&format!("<label for=\"{id}\">")),
            "no label for {id}"
        );
    }
    // every form posts with the anti-forgery field
    for form in html.split("<form ").skip(1) {
        let form = form.split("</form>").next().unwrap();
        assert!(form.starts_with("method=\"post\""), "{form}");
        assert!(form.contains("name=\"csrf\""), "form without csrf: {form}");
    }
}

/// Checks the QR code of the setup page: one inline SVG, square, of a QR
/// size, drawn as runs inside its quiet zone, with the three finder
/// patterns' top rows where they belong. Nothing is decoded.
fn assert_qr(html: &str) {
    assert_eq!(html.matches("<svg").count(), 1);
    let start = html.find("<svg").unwrap();
    let end = html.find("</svg>").unwrap() + "</svg>".len();
    let svg = &html[start..end];
    let shape = regex::Regex::new(
        r##"^<svg viewBox="0 0 (\d+) (\d+)" width="\d+" height="\d+" role="img" aria-labelledby="qr-label" shape-rendering="crispEdges"><title id="qr-label">[^<]+</title><rect width="(\d+)" height="(\d+)" fill="#fff"/><path fill="#000" d="((?:M\d+,\d+h\d+v1h-\d+z)+)"/></svg>$"##,
    )
    .unwrap();
    let cap = shape
        .captures(svg)
        .unwrap_or_else(|| panic!("not the expected SVG: {svg}"));
    let side: i64 = cap[1].parse().unwrap();
    for i in 2..=4 {
        assert_eq!(cap[i].parse::<i64>().unwrap(), side);
    }
    let modules = side - 8;
    assert!(
        (21..=177).contains(&modules) && (modules - 17) % 4 == 0,
        "{side}"
    );
    let run = regex::Regex::new(r"M(\d+),(\d+)h(\d+)v1h-(\d+)z").unwrap();
    let mut dark = 0;
    let mut top_row = Vec::new();
    for r in run.captures_iter(&cap[5]) {
        let (x, y, w, back): (i64, i64, i64, i64) = (
            r[1].parse().unwrap(),
            r[2].parse().unwrap(),
            r[3].parse().unwrap(),
            r[4].parse().unwrap(),
        );
        assert_eq!(w, back);
        assert!(x >= 4 && x + w <= side - 4 && (4..side - 4).contains(&y));
        if y == 4 {
            top_row.push((x, w));
        }
        dark += w;
    }
    assert!(top_row.contains(&(4, 7)), "top left finder: {top_row:?}");
    assert!(
        top_row.iter().any(|&(x, w)| x + w == side - 4 && w >= 7),
        "top right finder: {top_row:?}"
    );
    // a QR code is roughly half dark
    let share = dark as f64 / (modules * modules) as f64;
    assert!((0.3..0.7).contains(&share), "{share}");
}

/// The store as text, without the sessions' records (their idle time moves
/// on every request).
fn store_without_sessions(t: &TestApp) -> String {
    t.store_text()
        .lines()
        .filter(|l| !l.starts_with("sessions/session:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_page_changes_the_password() {
    let mut t = common::start().await;
    t.secrets.push(NEW_PASSWORD.into());
    member::register(&t, "alice", None).await;

    // without a session: to the login page, and back here afterwards
    let anonymous = common::browser();
    let p = get(&anonymous, &t, "/account", "en").await;
    assert_eq!(p.status, StatusCode::FOUND);
    assert_eq!(p.headers["location"], "/login?return_to=%2Faccount");

    let alice = member::logged_in(&t, "alice", PASSWORD).await;
    let other = member::logged_in(&t, "alice", PASSWORD).await;
    let p = get(&alice, &t, "/account", "en").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    for part in [
        "Logged in as alice",
        "name=\"current_password\"",
        "at least 10 characters",
        "action=\"/account/two-factor\"",
        "href=\"/account/export\"",
        "href=\"/account/delete\"",
        "href=\"/\"",
    ] {
        assert!(p.html.contains(part), "{part}: {}", p.html);
    }
    let csrf = csrf_in(&p.html);
    let change = |current: &'static str, new: &'static str| {
        let (alice, t, csrf) = (&alice, &t, csrf.clone());
        async move {
            post(
                alice,
                t,
                "/account/password",
                &[
                    ("csrf", csrf.as_str()),
                    ("current_password", current),
                    ("new_password", new),
                ],
            )
            .await
        }
    };
    let p = change("wrong horse battery", NEW_PASSWORD).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.html.contains("The password is wrong."), "{}", p.html);
    let p = change(PASSWORD, "short").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.html.contains("at least 10 characters"));
    let p = change(PASSWORD, NEW_PASSWORD).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p
        .html
        .contains("Your password is changed. Other sessions ended: 1."));

    // this session stays, the other one ended; only the new password works
    assert_eq!(
        get(&alice, &t, "/account", "en").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&other, &t, "/account", "en").await.status,
        StatusCode::FOUND
    );
    assert_eq!(
        t.login("alice", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(t.login("alice", NEW_PASSWORD).await.status, StatusCode::OK);
}

/// Turns two-factor authentication on through the pages; returns the
/// secret, the step of the confirming code and the recovery codes.
async fn turn_on_by_page(t: &mut TestApp, c: &Client) -> (String, u64, Vec<String>) {
    let csrf = csrf_in(&get(c, t, "/account", "en").await.html);
    let setup = post(c, t, "/account/two-factor", &[("csrf", &csrf)]).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.html);
    assert_qr(&setup.html);
    let secret = regex::Regex::new(r#"<code id="secret">([A-Z2-7 ]+)</code>"#)
        .unwrap()
        .captures(&setup.html)
        .unwrap_or_else(|| panic!("no secret: {}", setup.html))[1]
        .replace(' ', "");
    assert_eq!(secret.len(), 32);
    assert!(setup
        .html
        .contains("href=\"otpauth://totp/ausweis:alice?secret="));
    assert!(setup.html.contains("SHA-1, 6 digits, every 30 seconds"));

    // a wrong code shows the same secret again
    let wrong = (0..4)
        .map(|i| format!("{i:06}"))
        .find(|c| (0..3).all(|d| *c != totp(&secret, step_now() + d - 1)))
        .unwrap();
    let again = post(
        c,
        t,
        "/account/two-factor/confirm",
        &[("csrf", &csrf), ("code", &wrong)],
    )
    .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.html.contains("The code is wrong"));
    assert_qr(&again.html);
    assert!(again.html.replace(' ', "").contains(&secret));

    let step = step_now();
    let done = post(
        c,
        t,
        "/account/two-factor/confirm",
        &[("csrf", &csrf), ("code", &totp(&secret, step))],
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.html);
    assert!(done.html.contains("Save these recovery codes now"));
    let codes: Vec<String> = regex::Regex::new(r"<li><code>([a-z2-7-]+)</code></li>")
        .unwrap()
        .captures_iter(&done.html)
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    t.secrets.extend(codes.iter().cloned());
    (secret, step, codes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_is_turned_on_from_the_page_and_asked_for_at_login() {
    let mut t = common::start().await;
    member::register(&t, "alice", None).await;
    let alice = member::logged_in(&t, "alice", PASSWORD).await;
    let (secret, step, codes) = turn_on_by_page(&mut t, &alice).await;
    let r = send(&t, &alice, Method::GET, "/api/account/two-factor", None).await;
    assert_eq!(r.body["enabled"], true);
    let p = get(&alice, &t, "/account", "en").await;
    assert!(p.html.contains("Recovery codes left: 10."));
    assert!(p.html.contains("action=\"/account/two-factor/off\""));

    // the login page asks for the code after the password
    let browser = common::browser();
    let csrf = common::csrf_of(&browser, &t, "/login?return_to=/account").await;
    let p = post(
        &browser,
        &t,
        "/login",
        &[
            ("csrf", &csrf),
            ("username", "alice"),
            ("password", PASSWORD),
            ("return_to", "/account"),
        ],
    )
    .await;
    assert_eq!(p.status, StatusCode::OK);
    let pending = regex::Regex::new(r#"name="pending" value="([A-Za-z0-9_-]{43})""#)
        .unwrap()
        .captures(&p.html)
        .unwrap()[1]
        .to_string();
    t.secrets.push(pending.clone());
    let p = post(
        &browser,
        &t,
        "/login",
        &[
            ("csrf", &csrf),
            ("pending", &pending),
            ("code", &totp(&secret, step + 1)),
            ("return_to", "/account"),
        ],
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.headers["location"], "/account");
    let s = send(&t, &browser, Method::GET, "/api/session", None).await;
    assert_eq!(s.body["amr"], serde_json::json!(["pwd", "otp"]));

    // turning it off needs the password and a code
    let csrf = csrf_in(&get(&browser, &t, "/account", "en").await.html);
    let off = |password: &'static str, code: String| {
        let (browser, t, csrf) = (&browser, &t, csrf.clone());
        async move {
            post(
                browser,
                t,
                "/account/two-factor/off",
                &[("csrf", &csrf), ("off_password", password), ("code", &code)],
            )
            .await
        }
    };
    let p = off("wrong horse battery", codes[0].clone()).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.html.contains("The password is wrong."));
    let p = off(PASSWORD, "123".into()).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.html.contains("The code is wrong"));
    let p = off(PASSWORD, codes[0].clone()).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("Two-factor authentication is off."));
    let r = t.login("alice", PASSWORD).await;
    assert_eq!(r.body["authenticated"], true);
    assert!(!t.store_text().contains("totp:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_link_downloads_the_members_data_as_json() {
    let t = common::start().await;
    member::register(&t, "alice", Some("alice@example.org")).await;
    let anonymous = common::browser();
    let p = get(&anonymous, &t, "/account/export", "en").await;
    assert_eq!(p.status, StatusCode::FOUND);
    let alice = member::logged_in(&t, "alice", PASSWORD).await;
    let p = get(&alice, &t, "/account/export", "en").await;
    assert_eq!(p.status, StatusCode::OK);
    let disposition = p.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(p.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = serde_json::from_str(&p.html).unwrap();
    assert_eq!(doc["account"]["username"], "alice");
    assert_eq!(doc["account"]["email"], "alice@example.org");
    assert!(doc["account"]["openpgp_public_key"]
        .as_str()
        .unwrap()
        .contains("BEGIN PGP PUBLIC KEY BLOCK"));
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
    assert!(!p.html.contains("$argon2id$"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_asks_for_the_username_and_password_then_says_goodbye() {
    let mut t = common::start().await;
    member::register(&t, "alice", Some("alice@example.org")).await;
    member::register(&t, "bob", None).await;
    let alice = member::logged_in(&t, "alice", PASSWORD).await;
    let (_, _, codes) = turn_on_by_page(&mut t, &alice).await;
    let account_id = send(&t, &alice, Method::GET, "/api/account/export", None)
        .await
        .body["account"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let p = get(&alice, &t, "/account/delete", "en").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("name=\"confirm_username\""));
    assert!(p.html.contains("name=\"code\""), "the second factor is on");
    let csrf = csrf_in(&p.html);
    let delete = |name: &'static str, password: &'static str, code: String| {
        let (alice, t, csrf) = (&alice, &t, csrf.clone());
        async move {
            post(
                alice,
                t,
                "/account/delete",
                &[
                    ("csrf", &csrf),
                    ("confirm_username", name),
                    ("password", password),
                    ("code", &code),
                ],
            )
            .await
        }
    };
    let p = delete("bob", PASSWORD, codes[0].clone()).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.html.contains("Type your username exactly"));
    let p = delete("alice", "wrong horse battery", codes[0].clone()).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let p = delete("alice", PASSWORD, String::new()).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.html.contains("Enter a code"));
    assert!(!crate::account::traces(&t, std::slice::from_ref(&account_id)).is_empty());

    let p = delete("alice", PASSWORD, codes[0].clone()).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("Goodbye"));
    let cookie = p.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("ausweis_session=;") && cookie.contains("Max-Age=0"));

    // gone: the session, the login, every key that names her
    assert_eq!(
        get(&alice, &t, "/account", "en").await.status,
        StatusCode::FOUND
    );
    assert_eq!(
        t.login("alice", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let left = crate::account::traces(&t, &[account_id, "alice".to_string()]);
    assert!(left.is_empty(), "left after deletion: {left:?}");
    assert_eq!(t.login("bob", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_recovered_on_the_page_with_the_key_from_registration() {
    let mut t = common::start().await;
    t.secrets.push(NEW_PASSWORD.into());
    let private = member::register(&t, "ivan", None).await.body["private_key"]
        .as_str()
        .unwrap()
        .to_string();
    let other = member::register(&t, "judy", None).await.body["private_key"]
        .as_str()
        .unwrap()
        .to_string();
    let browser = common::browser();
    let p = get(&browser, &t, "/account/recover", "en").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("action=\"/account/recover/pgp\""));
    assert!(p.html.contains("This server does not send recovery mails."));
    let csrf = csrf_in(&p.html);

    let p = post(
        &browser,
        &t,
        "/account/recover/pgp",
        &[("csrf", &csrf), ("username", "ivan")],
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let challenge = regex::Regex::new(r#"name="challenge" value="([^"]+)""#)
        .unwrap()
        .captures(&p.html)
        .unwrap()[1]
        .to_string();
    assert!(challenge.starts_with("ausweis account recovery for ivan, nonce "));
    assert!(p.html.contains(&format!(
        "<code>echo '{challenge}' | gpg --clearsign</code>"
    )));
    assert!(p.html.contains("gpg --detach-sign --armor"));
    assert!(p.html.contains("<label for=\"signature\">"));

    let confirm = |signature: String, new: &'static str| {
        let (browser, t, csrf, challenge) = (&browser, &t, csrf.clone(), challenge.clone());
        async move {
            post(
                browser,
                t,
                "/account/recover/pgp/confirm",
                &[
                    ("csrf", &csrf),
                    ("challenge", &challenge),
                    ("signature", &signature),
                    ("new_password", new),
                ],
            )
            .await
        }
    };
    let by_judy = crate::recovery::rpgp_clearsign(&other, PASSWORD, &challenge);
    let p = confirm(by_judy, NEW_PASSWORD).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.html.contains("The signature does not fit"));
    assert!(p.html.contains(&challenge), "the same text to sign again");
    let signed = crate::recovery::rpgp_clearsign(&private, PASSWORD, &challenge);
    let p = confirm(signed.clone(), "short").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    let p = confirm(signed, NEW_PASSWORD).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("Your new password is set"));
    assert_eq!(t.login("ivan", NEW_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gnupg_line_the_page_shows_makes_a_signature_it_accepts() {
    let mut t = common::start().await;
    t.secrets.push(NEW_PASSWORD.into());
    let gpg = crate::recovery::Gpg::new("page");
    let key = gpg.make_key("Pia <pia@example.org>", false);
    let r = t
        .post(
            "/api/register",
            serde_json::json!({"username": "pia", "password": PASSWORD, "public_key": key}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let browser = common::browser();
    let csrf = common::csrf_of(&browser, &t, "/account/recover").await;
    let mut passwords = [NEW_PASSWORD, "second page passphrase"].into_iter();
    t.secrets.push("second page passphrase".into());
    let challenge_of = regex::Regex::new(r#"name="challenge" value="([^"]+)""#).unwrap();
    // `echo '…' | gpg --clearsign`, then `… | gpg --detach-sign --armor`:
    // echo ends the text with a line break
    for args in [&["--clearsign"][..], &["--detach-sign", "--armor"][..]] {
        let p = post(
            &browser,
            &t,
            "/account/recover/pgp",
            &[("csrf", &csrf), ("username", "pia")],
        )
        .await;
        let challenge = challenge_of.captures(&p.html).unwrap()[1].to_string();
        let signature = gpg.run(args, Some(&format!("{challenge}\n")));
        let new = passwords.next().unwrap();
        let p = post(
            &browser,
            &t,
            "/account/recover/pgp/confirm",
            &[
                ("csrf", &csrf),
                ("challenge", &challenge),
                ("signature", &signature),
                ("new_password", new),
            ],
        )
        .await;
        assert_eq!(p.status, StatusCode::OK, "{args:?}: {}", p.html);
        assert_eq!(t.login("pia", new).await.status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_by_mail_from_the_page_by_name_or_address_answers_alike() {
    let relay = RelayDouble::start(202).await;
    let mut t = common::start_with(relay.variables(), None).await;
    t.secrets.push(NEW_PASSWORD.into());
    t.secrets.push(RELAY_TOKEN.into());
    member::register(&t, "kim", Some("kim@example.org")).await;
    member::register(&t, "lou", None).await;
    let browser = common::browser();
    let p = get(&browser, &t, "/account/recover", "en").await;
    assert!(p.html.contains("action=\"/account/recover/email\""));
    let csrf = csrf_in(&p.html);
    let ask = |who: &'static str| {
        let (browser, t, csrf) = (&browser, &t, csrf.clone());
        async move {
            post(
                browser,
                t,
                "/account/recover/email",
                &[("csrf", &csrf), ("who", who)],
            )
            .await
        }
    };
    let known = ask("kim").await;
    let unknown = ask("nobody-here").await;
    let no_address = ask("lou").await;
    let by_address = ask("kim@example.org").await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    for other in [&unknown, &no_address, &by_address] {
        assert_eq!((other.status, &other.html), (known.status, &known.html));
    }
    assert_eq!(relay.received().len(), 2, "kim by name and by address");
    let bad = ask("not a name!").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // the link's page: a form with the anti-forgery field
    let text = relay.received()[0].body["text"]
        .as_str()
        .unwrap()
        .to_string();
    let token = text
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    t.secrets.push(token.clone());
    let path = format!("/account/recover?token={token}");
    let p = get(&browser, &t, &path, "de").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("Neues Passwort wählen"));
    let csrf = csrf_in(&p.html);
    let without = post(
        &browser,
        &t,
        "/account/recover",
        &[("token", &token), ("new_password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    let p = post(
        &browser,
        &t,
        "/account/recover",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert_eq!(t.login("kim", NEW_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_speak_german_when_the_browser_asks() {
    let mut t = common::start().await;
    member::register(&t, "alice", None).await;
    let alice = member::logged_in(&t, "alice", PASSWORD).await;
    let p = get(&alice, &t, "/account", "de-DE,de;q=0.9,en;q=0.5").await;
    assert!(p.html.starts_with("<!doctype html><html lang=\"de\">"));
    for part in [
        "Dein Konto",
        "Angemeldet als alice.",
        "Passwort ändern",
        "Neues Passwort (mindestens 10 Zeichen)",
        "Zwei-Faktor-Anmeldung",
        "Meine Daten herunterladen",
        "Konto löschen",
        "Zurück zur Startseite",
    ] {
        assert!(p.html.contains(part), "{part}");
    }
    let csrf = csrf_in(&p.html);
    let p = read(
        alice
            .post(t.url("/account/two-factor"))
            .header("accept-language", "de")
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(p.html.contains("Zwei-Faktor-Anmeldung einrichten"));
    assert!(p.html.contains("Oder gib diesen Schlüssel in der App ein:"));
    let p = get(&alice, &t, "/account/delete", "de").await;
    assert!(p.html.contains("Mein Konto endgültig löschen"));
    let p = get(&common::browser(), &t, "/account/recover", "de").await;
    assert!(p.html.contains("Passwort vergessen?"));
    assert!(p.html.contains("Mit deinem OpenPGP-Schlüssel"));
    let p = read(
        alice
            .post(t.url("/account/password"))
            .header("accept-language", "de")
            .form(&[
                ("csrf", csrf.as_str()),
                ("current_password", "falsches passwort"),
                ("new_password", "irgendein neues passwort"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.html.contains("Das Passwort ist falsch."));
    t.secrets.push("irgendein neues passwort".into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_token_is_refused_and_changes_nothing() {
    let relay = RelayDouble::start(202).await;
    let mut t = common::start_with(relay.variables(), None).await;
    t.secrets.push(RELAY_TOKEN.into());
    member::register(&t, "alice", Some("alice@example.org")).await;
    let alice = member::logged_in(&t, "alice", PASSWORD).await;
    // the browser holds the cookie, but the forms lack or miss its token
    let real = csrf_in(&get(&alice, &t, "/account", "en").await.html);
    let wrong = "0".repeat(64);
    let before = store_without_sessions(&t);
    let forms: [(&str, Vec<(&str, &str)>); 9] = [
        (
            "/account/password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        ),
        ("/account/two-factor", vec![]),
        ("/account/two-factor/confirm", vec![("code", "123456")]),
        (
            "/account/two-factor/off",
            vec![("off_password", PASSWORD), ("code", "123456")],
        ),
        (
            "/account/delete",
            vec![("confirm_username", "alice"), ("password", PASSWORD)],
        ),
        ("/account/recover/pgp", vec![("username", "alice")]),
        (
            "/account/recover/pgp/confirm",
            vec![
                ("challenge", "x"),
                ("signature", "y"),
                ("new_password", NEW_PASSWORD),
            ],
        ),
        ("/account/recover/email", vec![("who", "alice")]),
        (
            "/account/recover",
            vec![("token", "x"), ("new_password", NEW_PASSWORD)],
        ),
    ];
    for (path, fields) in &forms {
        for token in [None, Some(wrong.as_str())] {
            let mut all = fields.clone();
            if let Some(tok) = token {
                all.push(("csrf", tok));
            }
            let p = post(&alice, &t, path, &all).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{path} {token:?}");
            assert!(p.html.contains("The form had expired"), "{path}");
        }
    }
    // the right token from another site's page is refused as well
    let p = read(
        alice
            .post(t.url("/account/password"))
            .header("origin", "https://evil.example")
            .form(&[
                ("csrf", real.as_str()),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(store_without_sessions(&t), before);
    assert!(relay.received().is_empty());
    assert_eq!(t.login("alice", PASSWORD).await.status, StatusCode::OK);
    t.secrets.push(NEW_PASSWORD.into());
}
