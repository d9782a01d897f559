//! `allowed_outbound_hosts`: which outgoing HTTP requests a component may
//! make. Patterns have the form `scheme://host[:port]`, where the scheme may
//! be `*`, the host may be `*` or `*.domain`, and the port may be `*`, a
//! number or a range `a-b`; without a port the scheme's default is meant.

use anyhow::{bail, Context};

/// One allowed-host pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    ports: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Subdomains(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Range(u16, u16),
}

impl AllowedHost {
    /// Parses one pattern (after its templates have been filled in).
    pub fn parse(text: &str) -> anyhow::Result<AllowedHost> {
        let (scheme, rest) = text
            .split_once("://")
            .with_context(|| format!("allowed host {text:?} needs a scheme, as in https://host"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            bail!("allowed host {text:?} must not have a path");
        }
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() => Some(s.to_ascii_lowercase()),
            _ => bail!("allowed host {text:?} has an empty scheme"),
        };
        let (host, port) = split_host_port(rest);
        if host.is_empty() {
            bail!("allowed host {text:?} has an empty host");
        }
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            HostPattern::Subdomains(domain.to_ascii_lowercase())
        } else {
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        let ports = match port {
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once('-') {
                Some((a, b)) => PortPattern::Range(parse_port(a, text)?, parse_port(b, text)?),
                None => {
                    let n = parse_port(p, text)?;
                    PortPattern::Range(n, n)
                }
            },
            None => match scheme.as_deref().and_then(default_port) {
                Some(n) => PortPattern::Range(n, n),
                None => bail!("allowed host {text:?} needs a port for this scheme"),
            },
        };
        Ok(AllowedHost {
            scheme,
            host,
            ports,
        })
    }

    /// Whether a request to `scheme://host:port` fits this pattern.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self
            .scheme
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case(scheme));
        let host = host.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h.trim_start_matches('[').trim_end_matches(']') == host,
            HostPattern::Subdomains(d) => host
                .strip_suffix(d.as_str())
                .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
        };
        let port_ok = match self.ports {
            PortPattern::Any => true,
            PortPattern::Range(a, b) => (a..=b).contains(&port),
        };
        scheme_ok && host_ok && port_ok
    }
}

/// Whether any of `allowed` lets a request go to `uri`.
pub fn is_allowed(allowed: &[AllowedHost], uri: &http::Uri) -> bool {
    let Some(scheme) = uri.scheme_str() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let Some(port) = uri.port_u16().or_else(|| default_port(scheme)) else {
        return false;
    };
    allowed.iter().any(|a| a.allows(scheme, host, port))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn parse_port(text: &str, whole: &str) -> anyhow::Result<u16> {
    text.parse()
        .with_context(|| format!("allowed host {whole:?} has a bad port {text:?}"))
}

fn split_host_port(rest: &str) -> (&str, Option<&str>) {
    if rest.starts_with('[') {
        // An IPv6 literal: the port comes after the closing bracket.
        match rest.find(']') {
            Some(end) => {
                let host = &rest[..=end];
                let port = rest[end + 1..].strip_prefix(':');
                (host, port)
            }
            None => (rest, None),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn allowed(patterns: &[&str], uri: &str) -> bool {
        let list: Vec<_> = patterns
            .iter()
            .map(|p| AllowedHost::parse(p).unwrap())
            .collect();
        is_allowed(&list, &uri.parse().unwrap())
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert!(allowed(
            &["https://pretix.example"],
            "https://pretix.example/api"
        ));
        assert!(!allowed(
            &["https://pretix.example"],
            "http://pretix.example/api"
        ));
        assert!(!allowed(
            &["https://pretix.example"],
            "https://pretix.example:8443/"
        ));
        assert!(allowed(
            &["https://pretix.example:443"],
            "https://pretix.example/"
        ));
    }

    #[test]
    fn explicit_ports_and_wildcards() {
        assert!(allowed(
            &["http://127.0.0.1:8080"],
            "http://127.0.0.1:8080/x"
        ));
        assert!(!allowed(
            &["http://127.0.0.1:8080"],
            "http://127.0.0.1:8081/x"
        ));
        assert!(allowed(&["http://127.0.0.1:*"], "http://127.0.0.1:8081/x"));
        assert!(allowed(
            &["*://localhost:1-9000"],
            "https://localhost:8443/"
        ));
        assert!(allowed(
            &["https://*.example.com"],
            "https://a.example.com/"
        ));
        assert!(!allowed(&["https://*.example.com"], "https://example.com/"));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://badexample.com/"
        ));
        assert!(allowed(&["https://*"], "https://anything.test/"));
    }

    #[test]
    fn nothing_is_allowed_by_an_empty_list() {
        assert!(!allowed(&[], "https://example.com/"));
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        assert!(AllowedHost::parse("example.com").is_err());
        assert!(AllowedHost::parse("https://example.com/path").is_err());
        assert!(AllowedHost::parse("*://example.com").is_err());
        assert!(AllowedHost::parse("https://example.com:port").is_err());
    }
}
