//! The pages of the login and sign-in flow over plain HTTP: language,
//! Content-Security-Policy, anti-forgery tokens and the logout button.
//! (The same flows in a real browser are in `browser`.)

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT_LANGUAGE};
use reqwest::StatusCode;
use serde_json::json;
use sha2::Digest;

use crate::common::{self, TestApp, PASSWORD};
use crate::member;

/// A browser stand-in that asks for `lang`.
fn browser_in(lang: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_str(lang).unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(common::USER_AGENT)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(
    client: &reqwest::Client,
    t: &TestApp,
    path: &str,
) -> (StatusCode, HeaderMap, String) {
    let r = client.get(t.url(path)).send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// Checks what every page must be: no script, no inline style attribute,
/// nothing loaded from elsewhere, and a policy that allows exactly the one
/// style sheet it carries.
fn assert_strict(headers: &HeaderMap, html: &str) {
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{csp}"
    );
    let style = html
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(s, _)| s)
        .expect("one style sheet");
    let digest = STANDARD.encode(sha2::Sha256::digest(style.as_bytes()));
    assert!(
        csp.contains(&format!("style-src 'sha256-{digest}'")),
        "{csp}"
    );
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script",
        " style=",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(",
    ] {
        assert!(!lower.contains(banned), "{banned} in {html}");
    }
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_speaks_the_browsers_language() {
    let t = common::start().await;
    let (status, headers, html) =
        page(&browser_in("de-CH, de;q=0.9, en;q=0.5"), &t, "/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<html lang=\"de\">"), "{html}");
    assert!(
        html.contains("Benutzername") && html.contains(">Anmelden</button>"),
        "{html}"
    );
    assert_strict(&headers, &html);

    for asked in ["en-GB,en;q=0.9", "fr-FR, fr;q=0.9", "de;q=0, en;q=0.1"] {
        let (_, _, html) = page(&browser_in(asked), &t, "/login").await;
        assert!(html.contains("<html lang=\"en\">"), "{asked}: {html}");
        assert!(
            html.contains("Username") && html.contains(">Log in</button>"),
            "{asked}"
        );
    }
    let (_, _, html) = page(&common::browser(), &t, "/login").await;
    assert!(html.contains("<html lang=\"en\">"));
    // every input has its label, and the page leads on to register and recovery
    for id in ["username", "password"] {
        assert!(html.contains(&format!("<label for=\"{id}\">")), "{id}");
    }
    assert!(html.contains("href=\"/register?") && html.contains("href=\"/account/recover\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_form_without_its_token_is_refused_and_starts_no_session() {
    let t = common::start().await;
    member::register(&t, "alice", None).await;
    let browser = common::browser();
    let token = common::csrf_of(&browser, &t, "/login").await;
    let form = |csrf: Option<&str>| {
        let mut f = vec![
            ("username", "alice"),
            ("password", PASSWORD),
            ("return_to", "/"),
        ];
        if let Some(c) = csrf {
            f.push(("csrf", c));
        }
        f.into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>()
    };

    // no token, a wrong one, and a right one from another browser
    let other = common::browser();
    let others = common::csrf_of(&other, &t, "/login").await;
    let zeros = "0".repeat(64);
    for csrf in [None, Some(zeros.as_str()), Some(others.as_str())] {
        let r = browser
            .post(t.url("/login"))
            .form(&form(csrf))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{csrf:?}");
        let set = r.headers().get_all("set-cookie").iter().count();
        let html = r.text().await.unwrap();
        assert!(html.contains("role=\"alert\""), "{html}");
        assert_eq!(set, 0, "no session cookie on a refused form");
        assert_eq!(
            member::send(&t, &browser, reqwest::Method::GET, "/api/session", None)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    // a page of another site posting with the right token is refused too
    let r = browser
        .post(t.url("/login"))
        .header("origin", "http://evil.example")
        .form(&form(Some(&token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // the genuine form logs in and goes where it was asked
    let r = browser
        .post(t.url("/login"))
        .form(&form(Some(&token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    let s = member::send(&t, &browser, reqwest::Method::GET, "/api/session", None).await;
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(s.body["username"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_returns_only_to_our_own_pages() {
    let t = common::start().await;
    member::register(&t, "alice", None).await;
    for (asked, expected) in [
        ("/account", "/account"),
        ("/redeem", "/redeem"),
        ("/oidc/authorize?client_id=x", "/oidc/authorize?client_id=x"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/accountant", "/"),
    ] {
        let browser = common::browser();
        let token = common::csrf_of(&browser, &t, "/login").await;
        let r = browser
            .post(t.url("/login"))
            .form(&[
                ("csrf", token.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
                ("return_to", asked),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{asked}");
        assert_eq!(r.headers()["location"], expected, "{asked}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logout_button_ends_the_session_only_with_its_token() {
    let t = common::start().await;
    member::register(&t, "alice", None).await;
    let browser = member::logged_in(&t, "alice", PASSWORD).await;
    let token = common::csrf_of(&browser, &t, "/login").await;

    // a forged logout (no token) changes nothing
    let r = browser
        .post(t.url("/logout"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let s = member::send(&t, &browser, reqwest::Method::GET, "/api/session", None).await;
    assert_eq!(s.status, StatusCode::OK);

    let r = browser
        .post(t.url("/logout"))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    let cleared = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cleared.starts_with("ausweis_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let s = member::send(&t, &browser, reqwest::Method::GET, "/api/session", None).await;
    assert_eq!(s.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_and_error_pages_speak_german_and_keep_the_policy() {
    let mut t = common::start_provider(Default::default()).await;
    member::register(&t, "erika", None).await;
    let r = common::read(
        t.http
            .put(t.url("/admin/clients/forum"))
            .bearer_auth(common::ADMIN_SECRET)
            .json(&json!({"redirect_uris": [member::REDIRECT], "name": "Forum"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.body);
    t.secrets
        .push(r.body["client_secret"].as_str().unwrap().to_owned());

    let de = browser_in("de");
    let login = member::send(
        &t,
        &de,
        reqwest::Method::POST,
        "/api/login",
        Some(json!({"username": "erika", "password": PASSWORD})),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK);
    let query = format!(
        "/oidc/authorize?response_type=code&client_id=forum&redirect_uri={}&scope=openid%20profile&state=s1",
        member::REDIRECT
    );
    let (status, headers, html) = page(&de, &t, &query).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Konto teilen?") && html.contains(">Erlauben</button>"),
        "{html}"
    );
    assert!(
        html.contains("<strong>Forum</strong> möchte dich anmelden"),
        "{html}"
    );
    assert!(html.contains("deinen Benutzernamen"), "{html}");
    assert!(html.contains("name=\"csrf\""));
    assert_strict(&headers, &html);

    let (status, headers, html) = page(
        &de,
        &t,
        "/oidc/authorize?response_type=code&client_id=nobody",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Anmeldeanfrage abgelehnt"), "{html}");
    assert_strict(&headers, &html);

    // the same pages in English for an English browser
    let en = browser_in("en");
    let (_, _, html) = page(
        &en,
        &t,
        "/oidc/authorize?response_type=code&client_id=nobody",
    )
    .await;
    assert!(html.contains("Sign-in request refused"), "{html}");
}

/// The session id a login through the JSON API sets, read off the cookie.
async fn session_of(t: &TestApp, user: &str) -> String {
    let r = reqwest::Client::new()
        .post(t.url("/api/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let value = set
        .strip_prefix("ausweis_session=")
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    value
}

async fn session_status(t: &TestApp, id: &str) -> StatusCode {
    reqwest::Client::new()
        .get(t.url("/api/session"))
        .header("cookie", format!("ausweis_session={id}"))
        .send()
        .await
        .unwrap()
        .status()
}

/// A login form post by a browser whose cookies the test writes itself:
/// the form's own anti-forgery cookie and the given session cookie.
async fn login_over(t: &TestApp, session: &str, user: &str) -> StatusCode {
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain.get(t.url("/login")).send().await.unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let csrf_cookie = set.split(';').next().unwrap().to_owned();
    let page = r.text().await.unwrap();
    let token = ausweis_tests::csrf_field(&page).expect("a csrf field on the login page");
    plain
        .post(t.url("/login"))
        .header(
            "cookie",
            format!("{csrf_cookie}; ausweis_session={session}"),
        )
        .form(&[
            ("csrf", token.as_str()),
            ("username", user),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_as_someone_else_ends_the_session_the_browser_held() {
    let mut t = common::start().await;
    member::register(&t, "alice", None).await;
    member::register(&t, "bob", None).await;
    let planted = session_of(&t, "bob").await;
    t.secrets.push(planted.clone());
    assert_eq!(
        login_over(&t, &planted, "alice").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(session_status(&t, &planted).await, StatusCode::UNAUTHORIZED);

    // the same member logging in again keeps the earlier session
    let earlier = session_of(&t, "alice").await;
    t.secrets.push(earlier.clone());
    assert_eq!(
        login_over(&t, &earlier, "alice").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(session_status(&t, &earlier).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_login_page_says_when_to_come_back() {
    let t = common::start().await;
    member::register(&t, "alice", None).await;
    let browser = browser_in("de");
    let token = common::csrf_of(&browser, &t, "/login").await;
    let mut throttled = None;
    for _ in 0..8 {
        let r = browser
            .post(t.url("/login"))
            .form(&[
                ("csrf", token.as_str()),
                ("username", "alice"),
                ("password", "wrong password here"),
            ])
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = throttled.expect("throttled within 8 wrong passwords");
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    let html = r.text().await.unwrap();
    assert!(html.contains("Zu viele Fehlversuche"), "{html}");
    assert!(!html.contains(" 1 Sekunden"), "{html}");
}
