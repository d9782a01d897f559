//! Anti-forgery tokens for every form post of the pages.
//!
//! A page that shows a form makes sure the browser holds a random cookie
//! (`__Host-ausweis_csrf` over HTTPS) and puts a digest of it in a hidden
//! field. A post counts only when the field matches the cookie sent with it
//! and the request did not come from another site ([`cookie::same_origin`]).
//! Another site can neither read the cookie nor, thanks to the `__Host-`
//! prefix, set it. The token does not depend on the session, so a login in
//! another tab does not spoil an open form.

use subtle::ConstantTimeEq;

use http::{header, HeaderValue};

use crate::{cookie, html, Request, Response};

/// Cookie name over HTTPS.
pub const SECURE_NAME: &str = "__Host-ausweis_csrf";
/// Cookie name over plain HTTP on localhost.
pub const PLAIN_NAME: &str = "ausweis_csrf";
/// Name of the hidden form field.
pub const FIELD: &str = "csrf";
/// Random bytes of the cookie (256 bits, 43 base64url characters).
const COOKIE_BYTES: usize = 32;
/// Lifetime of the cookie: a day; a form older than that is shown again.
const MAX_AGE: u64 = 24 * 60 * 60;

fn name_for(req: &Request) -> &'static str {
    cookie::named(req, SECURE_NAME, PLAIN_NAME)
}

/// The cookie the browser sent, if it has the shape we make.
fn sent(req: &Request) -> Option<String> {
    cookie::read(req, name_for(req)).filter(|v| {
        v.len() == 43
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn token_of(cookie_value: &str) -> String {
    ausweis::random::digest_hex("ausweis-csrf", cookie_value)
}

/// The token for a page's forms, and the cookie to set if the browser has
/// none yet.
pub struct Csrf {
    token: String,
    set_cookie: Option<String>,
}

impl Csrf {
    /// Reuses the browser's cookie, or makes one.
    pub fn issue(req: &Request) -> Csrf {
        match sent(req) {
            Some(value) => Csrf {
                token: token_of(&value),
                set_cookie: None,
            },
            None => {
                let value = ausweis::random::token(COOKIE_BYTES);
                Csrf {
                    token: token_of(&value),
                    set_cookie: Some(cookie::build(req, name_for(req), &value, MAX_AGE)),
                }
            }
        }
    }

    /// The hidden field every form carries.
    pub fn field(&self) -> String {
        html::hidden(FIELD, &self.token)
    }

    /// Adds the cookie to a page that shows this token's forms.
    pub fn attach(&self, mut resp: Response) -> Response {
        if let Some(c) = self.set_cookie.as_deref() {
            if let Ok(v) = HeaderValue::from_str(c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// Whether a form post is genuine: same origin, and a `csrf` field that
/// matches the browser's cookie.
pub fn verify(req: &Request, pairs: &[(String, String)], issuer: Option<&str>) -> bool {
    if !cookie::same_origin(req, issuer) {
        return false;
    }
    let mut fields = pairs.iter().filter(|(k, _)| k == FIELD);
    let (Some((_, given)), None) = (fields.next(), fields.next()) else {
        return false;
    };
    let Some(value) = sent(req) else {
        return false;
    };
    token_of(&value).as_bytes().ct_eq(given.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cookie: Option<&str>) -> Request {
        let mut b = http::Request::builder().header("spin-full-url", "http://127.0.0.1:3000/login");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        b.body(Vec::new()).unwrap_or_default()
    }

    fn cookie_value(set_cookie: &str) -> String {
        let (_, rest) = set_cookie.split_once('=').unwrap_or_default();
        rest.split(';').next().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_form_token_matches_only_its_own_cookie() {
        let first = Csrf::issue(&req(None));
        let set = first.set_cookie.clone().unwrap_or_default();
        assert!(set.starts_with("ausweis_csrf=") && set.contains("HttpOnly"));
        let value = cookie_value(&set);
        let with_cookie = req(Some(&format!("ausweis_csrf={value}")));
        let pairs = vec![(FIELD.to_owned(), first.token.clone())];
        assert!(verify(&with_cookie, &pairs, None));
        // the page shown again keeps the cookie and the token
        let again = Csrf::issue(&with_cookie);
        assert!(again.set_cookie.is_none());
        assert_eq!(again.token, first.token);

        let other = format!("ausweis_csrf={}", ausweis::random::token(COOKIE_BYTES));
        assert!(!verify(&req(Some(&other)), &pairs, None));
        assert!(!verify(&req(None), &pairs, None));
        let wrong = vec![(FIELD.to_owned(), "0".repeat(64))];
        assert!(!verify(&with_cookie, &wrong, None));
        let twice = vec![pairs[0].clone(), pairs[0].clone()];
        assert!(!verify(&with_cookie, &twice, None));
    }

    #[test]
    fn a_post_from_another_site_fails_even_with_the_token() {
        let first = Csrf::issue(&req(None));
        let value = cookie_value(&first.set_cookie.clone().unwrap_or_default());
        let r = http::Request::builder()
            .header("spin-full-url", "http://127.0.0.1:3000/login")
            .header(header::COOKIE, format!("ausweis_csrf={value}"))
            .header(header::ORIGIN, "http://evil.example")
            .body(Vec::new())
            .unwrap_or_default();
        assert!(!verify(&r, &[(FIELD.to_owned(), first.token)], None));
    }

    #[test]
    fn a_malformed_cookie_is_replaced() {
        let r = req(Some("ausweis_csrf=short"));
        assert!(Csrf::issue(&r).set_cookie.is_some());
    }
}
