//! Helpers for the tests of the pages: a browser stand-in in English or
//! German, form posts, and the checks every page must pass (no script, no
//! inline style, nothing loaded from elsewhere, a label for every input).

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::common::{TestApp, USER_AGENT};

/// A page, read whole.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Page {
    /// The `Location` of a redirect.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The first anti-forgery field on the page.
    pub fn csrf(&self) -> String {
        ausweis_tests::csrf_field(&self.text)
            .unwrap_or_else(|| panic!("no csrf field: {}", self.text))
    }

    /// Whether a `Set-Cookie` sets (not clears) the cookie `name`.
    pub fn sets_cookie(&self, name: &str) -> bool {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|c| c.starts_with(&format!("{name}=")) && !c.contains("Max-Age=0"))
    }
}

/// A browser stand-in: keeps cookies, follows no redirect, asks for
/// `lang` (`en` or `de`).
pub fn browser(lang: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("accept-language", lang.parse().expect("header"));
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(USER_AGENT)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn read(resp: reqwest::Response) -> Page {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    Page {
        status,
        headers,
        text,
    }
}

/// `GET path`; an HTML answer is checked with [`assert_sound`].
pub async fn get(client: &reqwest::Client, t: &TestApp, path: &str) -> Page {
    let page = read(client.get(t.url(path)).send().await.expect("request")).await;
    if is_html(&page) {
        assert_sound(&page);
    }
    page
}

/// Posts a form; an HTML answer is checked with [`assert_sound`].
pub async fn post(
    client: &reqwest::Client,
    t: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> Page {
    let page = read(
        client
            .post(t.url(path))
            .form(fields)
            .send()
            .await
            .expect("request"),
    )
    .await;
    if is_html(&page) {
        assert_sound(&page);
    }
    page
}

fn is_html(page: &Page) -> bool {
    page.headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

/// What every page must be: no script, no inline style, nothing from
/// elsewhere, the strict policy, a label for every control, and a
/// anti-forgery field in every form that posts.
pub fn assert_sound(page: &Page) {
    let text = &page.text;
    let lower = text.to_ascii_lowercase();
    for bad in ["<script", "<iframe", "<object", "<embed"] {
        assert!(!lower.contains(bad), "page holds {bad:?}:\n{text}");
    }
    // the one link is the empty icon, so that no favicon is fetched
    for link in lower.split("<link").skip(1) {
        let tag = link.split('>').next().unwrap_or("");
        assert!(tag.contains("href=\"data:"), "page links to <link{tag}>");
    }
    let inline = regex::Regex::new(r#"(?i)\s(style|src|on[a-z]+)="#).expect("pattern");
    assert!(
        !inline.is_match(text),
        "page holds an inline style, source or handler:\n{text}"
    );
    let remote = regex::Regex::new(r#"(?i)(href|action)="(https?:)?//"#).expect("pattern");
    assert!(!remote.is_match(text), "page points elsewhere:\n{text}");
    let csp = page
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "policy: {csp}"
    );

    // every control has a label: by `for`, or by a label around it
    let control = regex::Regex::new(r#"<(input|select|textarea)\b([^>]*)>"#).expect("pattern");
    let id = regex::Regex::new(r#"\bid="([^"]+)""#).expect("pattern");
    for c in control.captures_iter(text) {
        let attrs = &c[2];
        for attr in [" name=", " id=", " type=", " value="] {
            assert!(
                attrs.matches(attr).count() <= 1,
                "{attr} twice (a browser keeps the first): {}",
                &c[0]
            );
        }
        if attrs.contains("type=\"hidden\"") {
            continue;
        }
        let start = c.get(0).map_or(0, |m| m.start());
        let wrapped = text[..start].ends_with("<label>");
        let labelled = id
            .captures(attrs)
            .is_some_and(|i| text.contains(&format!("<label for=\"{}\">", &i[1])));
        assert!(wrapped || labelled, "unlabelled control {}:\n{text}", &c[0]);
    }
    for form in text.split("<form").skip(1) {
        let form = form.split("</form>").next().unwrap_or("");
        if form.contains("method=\"post\"") {
            assert!(
                form.contains("name=\"csrf\""),
                "a form without the token: {form}"
            );
        }
    }
}
