//! `application/x-www-form-urlencoded` bodies and query strings.

use http::header;

use crate::Request;

/// Name/value pairs of the query string.
pub fn query(req: &Request) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the body is form-encoded.
pub fn is_form(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Name/value pairs of a form-encoded body.
pub fn body(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.body())
        .into_owned()
        .collect()
}

/// The first name that appears more than once: a page's forms never send
/// one twice, so such a post is refused whole rather than read in part.
pub fn repeated(pairs: &[(String, String)]) -> Option<&str> {
    pairs
        .iter()
        .enumerate()
        .find(|(i, (k, _))| pairs[..*i].iter().any(|(seen, _)| seen == k))
        .map(|(_, (k, _))| k.as_str())
}

/// The single value of `name`; `Err` if it is repeated.
pub fn single<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, String> {
    let mut found = pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = found.next();
    if found.next().is_some() {
        return Err(format!("parameter `{name}` is repeated"));
    }
    Ok(first.filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_repeated_name_is_found() {
        assert_eq!(repeated(&pairs(&[("a", "1"), ("b", "2")])), None);
        assert_eq!(
            repeated(&pairs(&[("a", "1"), ("b", "2"), ("a", "3")])),
            Some("a")
        );
        assert_eq!(repeated(&pairs(&[("v", ""), ("v", "")])), Some("v"));
    }
}
