//! The session cookie.

use http::header;
use url::Url;

use crate::Request;

/// Cookie name over HTTPS: the `__Host-` prefix pins it to this host and
/// path `/` and requires `Secure` (RFC 6265bis section 4.1.3.2).
pub const SECURE_NAME: &str = "__Host-ausweis_session";
/// Cookie name over plain HTTP on localhost, where `Secure` cannot be set.
pub const PLAIN_NAME: &str = "ausweis_session";

/// The URL Spin served, from `spin-full-url`. Spin appends its own header
/// after any the client sent, so only the last value is Spin's; a client's
/// copy must not decide whether the cookie is `Secure`.
pub fn served_url(req: &Request) -> Option<&str> {
    req.headers()
        .get_all("spin-full-url")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
}

/// Name of the redemption cookie over HTTPS (see `ausweis::redeem`). It is
/// apart from the session cookie because login replaces the session id,
/// while a redeemed ticket must wait across a login or a registration.
pub const REDEEM_SECURE_NAME: &str = "__Host-ausweis_redeem";
/// Name of the redemption cookie over plain HTTP on localhost.
pub const REDEEM_PLAIN_NAME: &str = "ausweis_redeem";

/// Whether the request came over plain HTTP to a loopback name, the one case
/// in which the cookie goes without `Secure`. Spin tells the URL it served
/// in the `spin-full-url` header.
pub fn plain_localhost(req: &Request) -> bool {
    let Some(full) = served_url(req) else {
        return false;
    };
    let Ok(url) = Url::parse(full) else {
        return false;
    };
    let local = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "http" && local
}

/// The name of a cookie for this request: `plain` over plain HTTP on
/// localhost, otherwise `secure` (with its `__Host-` prefix).
pub(crate) fn named(req: &Request, secure: &'static str, plain: &'static str) -> &'static str {
    if plain_localhost(req) {
        plain
    } else {
        secure
    }
}

fn name_for(req: &Request) -> &'static str {
    named(req, SECURE_NAME, PLAIN_NAME)
}

/// The session id the browser sent, if any.
pub fn session_id(req: &Request) -> Option<String> {
    read(req, name_for(req))
}

fn redeem_name_for(req: &Request) -> &'static str {
    named(req, REDEEM_SECURE_NAME, REDEEM_PLAIN_NAME)
}

/// The redemption cookie the browser sent, if any.
pub fn redemption_id(req: &Request) -> Option<String> {
    read(req, redeem_name_for(req))
}

/// `Set-Cookie` value carrying a redemption cookie for `max_age` seconds.
pub fn set_redemption(req: &Request, id: &str, max_age: u64) -> String {
    build(req, redeem_name_for(req), id, max_age)
}

/// `Set-Cookie` value removing the redemption cookie.
pub fn clear_redemption(req: &Request) -> String {
    build(req, redeem_name_for(req), "", 0)
}

pub(crate) fn read(req: &Request, wanted: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

/// `Set-Cookie` value carrying a session id for `max_age` seconds.
pub fn set(req: &Request, id: &str, max_age: u64) -> String {
    build(req, name_for(req), id, max_age)
}

pub(crate) fn build(req: &Request, name: &str, id: &str, max_age: u64) -> String {
    let secure = if plain_localhost(req) { "" } else { "; Secure" };
    format!("{name}={id}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// `Set-Cookie` value removing the session cookie.
pub fn clear(req: &Request) -> String {
    set(req, "", 0)
}

/// Whether a form post came from one of our own pages: the `Origin` (or,
/// failing that, `Sec-Fetch-Site`) must not name another site.
///
/// Behind a proxy that ends TLS, Spin serves `http://` while the browser's
/// origin is `https://`: the configured `issuer` (the public URL) counts as
/// our own origin too.
pub fn same_origin(req: &Request, issuer: Option<&str>) -> bool {
    let origin_of = |u: &str| Url::parse(u).ok().map(|u| u.origin().ascii_serialization());
    let own = served_url(req).and_then(origin_of);
    let public = issuer.and_then(origin_of);
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        return own.as_deref() == Some(origin) || public.as_deref() == Some(origin);
    }
    match req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
    {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(url: &str, cookie: Option<&str>) -> Request {
        let mut builder = http::Request::builder().header("spin-full-url", url);
        if let Some(c) = cookie {
            builder = builder.header(header::COOKIE, c);
        }
        builder.body(Vec::new()).unwrap_or_default()
    }

    #[test]
    fn cookie_is_secure_except_on_plain_http_localhost() {
        let local = req("http://127.0.0.1:3000/api/login", None);
        let public = req("https://id.example.org/api/login", None);
        let sneaky = req("http://localhost.example.org/api/login", None);
        assert!(!set(&local, "x", 1).contains("Secure"));
        assert!(set(&public, "x", 1).starts_with("__Host-ausweis_session=x;"));
        assert!(set(&public, "x", 1).ends_with("; Secure"));
        assert!(set(&sneaky, "x", 1).contains("Secure"));
        for r in [&local, &public] {
            let c = set(r, "x", 1);
            assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"));
        }
    }

    #[test]
    fn a_client_copy_of_spin_full_url_does_not_decide() {
        let r = http::Request::builder()
            .header("spin-full-url", "https://spoofed.example/")
            .header("spin-full-url", "http://127.0.0.1:3000/api/login")
            .body(Vec::new())
            .unwrap_or_default();
        assert!(plain_localhost(&r));
        let r = http::Request::builder()
            .header("spin-full-url", "http://127.0.0.1:3000/")
            .header("spin-full-url", "https://id.example.org/api/login")
            .body(Vec::new())
            .unwrap_or_default();
        assert!(!plain_localhost(&r));
    }

    #[test]
    fn the_public_issuer_origin_counts_as_our_own() {
        let r = http::Request::builder()
            .header("spin-full-url", "http://id.example.org/login")
            .header("origin", "https://id.example.org")
            .body(Vec::new())
            .unwrap_or_default();
        assert!(!same_origin(&r, None));
        assert!(same_origin(&r, Some("https://id.example.org")));
        assert!(!same_origin(&r, Some("https://other.example.org")));
    }

    #[test]
    fn session_id_is_read_among_other_cookies() {
        let r = req(
            "http://localhost:3000/",
            Some("a=b; ausweis_session=abc; c=d"),
        );
        assert_eq!(session_id(&r).as_deref(), Some("abc"));
        let r = req("https://id.example.org/", Some("ausweis_session=abc"));
        assert_eq!(session_id(&r), None);
    }
}
