//! Server-rendered pages: they work without JavaScript and load nothing
//! from elsewhere. Texts come in English and German ([`Lang`]).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{header, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use crate::i18n::Lang;
use crate::Response;

/// Content-Security-Policy of every page: nothing loads from anywhere, no
/// script runs, and the one style sheet is allowed by its digest, so even
/// an injected `style` attribute would not apply. Images only as `data:`.
pub fn csp() -> String {
    let digest = Sha256::digest(STYLE.as_bytes());
    format!(
        "default-src 'none'; style-src 'sha256-{}'; img-src data:; frame-ancestors 'none'; base-uri 'none'",
        STANDARD.encode(digest)
    )
}

/// The style sheet of every page, inline because nothing may load from
/// elsewhere. Readable on a phone; dark where the system is dark.
const STYLE: &str = "*{box-sizing:border-box}\
body{font-family:system-ui,sans-serif;margin:0;line-height:1.5;color:#1b1b1b;background:#fafafa}\
header{background:#234;padding:.6rem 1rem}header a{color:#fff;font-weight:bold;text-decoration:none}\
main{max-width:36rem;margin:0 auto;padding:1rem}h1{font-size:1.6rem;margin:.5rem 0 1rem}\
label{display:block;margin-top:1rem;font-weight:600}\
input,select,textarea{width:100%;padding:.55rem;font-size:1rem;border:1px solid #888;border-radius:4px;background:#fff;color:inherit}\
input[type=checkbox],input[type=radio]{width:auto}textarea{font-family:ui-monospace,monospace;font-size:.8rem}\
button,.button{display:inline-block;margin:1rem .5rem 0 0;padding:.6rem 1.2rem;font-size:1rem;border:0;border-radius:4px;\
background:#246;color:#fff;text-decoration:none;cursor:pointer}button.secondary{background:#666}button.danger{background:#a22}\
:focus-visible{outline:3px solid #e90;outline-offset:2px}\
.error{color:#900;background:#fee;border-left:4px solid #c00;padding:.5rem}\
.ok{color:#050;background:#efe;border-left:4px solid #090;padding:.5rem}\
.hint{color:#555;font-size:.9rem}table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem;border-bottom:1px solid #ccc}\
nav a{margin-right:1rem}svg{max-width:100%;height:auto;background:#fff}\
@media (prefers-color-scheme:dark){body{background:#111;color:#eee}input,select,textarea{background:#222}.hint{color:#aaa}\
.error{background:#311;color:#fbb}.ok{background:#131;color:#bfb}}";

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A page in `lang` with the given title and (already escaped) body.
pub fn page(lang: Lang, status: StatusCode, title: &str, body: &str) -> Response {
    let title = escape(title);
    let html = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\">\
<title>{title} · ausweis</title><style>{STYLE}</style></head><body>\
<header><a href=\"/\">ausweis</a></header><main><h1>{title}</h1>{body}</main></body></html>",
        lang.tag()
    );
    let mut resp = Response::new(html.into_bytes());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp()) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // No referrer leaves for another site. Not `no-referrer`: under it a
    // browser sends `Origin: null` with the page's own form posts, and the
    // login form's same-origin check refuses them (found in Chromium).
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Language, Cookie"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A message that something went wrong, read out by screen readers.
pub fn alert(text: &str) -> String {
    format!("<p class=\"error\" role=\"alert\">{}</p>", escape(text))
}

/// A message that something worked.
pub fn notice(text: &str) -> String {
    format!("<p class=\"ok\" role=\"status\">{}</p>", escape(text))
}

/// A page that says one thing worked and offers one way on: `notice_text`
/// (escaped here) and a link to `href` (a path of ours) named `link_text`.
pub fn message(
    lang: Lang,
    status: StatusCode,
    title: &str,
    notice_text: &str,
    href: &str,
    link_text: &str,
) -> Response {
    page(
        lang,
        status,
        title,
        &format!(
            "{}<p><a href=\"{}\">{}</a></p>",
            notice(notice_text),
            escape(href),
            escape(link_text)
        ),
    )
}

/// A labelled input named like its id; `attrs` are further attributes,
/// written by the caller (escape any value in them).
pub fn input(id: &str, label: &str, attrs: &str) -> String {
    format!(
        "<label for=\"{id}\">{}</label><input id=\"{id}\" name=\"{id}\" {attrs}>",
        escape(label)
    )
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        escape(name),
        escape(value)
    )
}

/// A redirect (303 after a form post, 302 otherwise).
pub fn redirect(status: StatusCode, location: &str) -> Response {
    let mut resp = Response::new(Vec::new());
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// How the API answers an error ([`crate::problem::from_error`], which
/// also logs unexpected ones): its status, incident id and `Retry-After`,
/// for a page about the same error.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    id: Option<String>,
    retry_after: Option<HeaderValue>,
}

impl Answer {
    /// The API's answer to `err`.
    pub fn to(err: &ausweis::Error) -> Answer {
        let api = crate::problem::from_error(err);
        let id = serde_json::from_slice::<serde_json::Value>(api.body())
            .ok()
            .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned));
        Answer {
            status: api.status(),
            id,
            retry_after: api.headers().get(header::RETRY_AFTER).cloned(),
        }
    }

    /// A page with this answer's status and `Retry-After`; the incident id,
    /// if any, is added to `body`.
    pub fn page(&self, lang: Lang, title: &str, body: &str) -> Response {
        let id = self
            .id
            .as_deref()
            .map(|id| {
                format!(
                    "<p class=\"hint\">{} <code>{}</code></p>",
                    lang.t(
                        "If it happens again, tell the operator this number:",
                        "Wenn es wieder passiert, nenne den Betreibern diese Nummer:"
                    ),
                    escape(id)
                )
            })
            .unwrap_or_default();
        let mut resp = page(lang, self.status, title, &format!("{body}{id}"));
        if let Some(v) = &self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, v.clone());
        }
        resp
    }
}

/// The page for a failure a page does not explain itself (a store that is
/// down, a misconfiguration), with the API's status for it.
pub fn failure(lang: Lang, err: &ausweis::Error) -> Response {
    let answer = Answer::to(err);
    let text = if answer.status == StatusCode::SERVICE_UNAVAILABLE {
        lang.t(
            "This is not available for a moment. Nothing was changed; please try again in a minute.",
            "Das geht gerade nicht. Es wurde nichts geändert; bitte versuche es in einer Minute noch einmal.",
        )
    } else if answer.status.is_server_error() {
        lang.t(
            "Something went wrong on our side. Please try again later.",
            "Bei uns ist etwas schiefgegangen. Bitte versuche es später noch einmal.",
        )
    } else {
        lang.t(
            "This request could not be handled. Go back and try again.",
            "Diese Anfrage ließ sich nicht bearbeiten. Geh zurück und versuche es noch einmal.",
        )
    };
    answer.page(
        lang,
        lang.t("That did not work", "Das hat nicht geklappt"),
        &format!(
            "{}<p><a href=\"/\">{}</a></p>",
            alert(text),
            lang.t("To the start page", "Zur Startseite")
        ),
    )
}

/// A Unix time as a day, `2027-01-31` (UTC).
pub fn day(unix: u64) -> String {
    ausweis::date::rfc3339(unix).chars().take(10).collect()
}

/// A Unix time to the minute, `2027-01-31 13:05 UTC`.
pub fn minute(unix: u64) -> String {
    let t: String = ausweis::date::rfc3339(unix).chars().take(16).collect();
    format!("{} UTC", t.replacen('T', " ", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_failure_is_a_page_that_asks_to_try_again() {
        let err = ausweis::Error::Store(ausweis::kv::StoreError {
            store: "accounts",
            kind: "get",
        });
        let resp = failure(Lang::De, &err);
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let text = String::from_utf8_lossy(resp.body());
        assert!(text.contains("in einer Minute") && text.contains("<code>"));
        assert!(!text.contains("accounts"), "the cause stays in the log");
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
