//! The authorization request (OIDC Core section 3.1.2.1), built from the
//! valid parameter set with one parameter mutated: dropped, repeated,
//! emptied, garbled or replaced. The endpoint never redirects anywhere but
//! a registered redirect URI or the login page, issues a code only for an
//! exactly matching request, and writes nothing when it refuses.

use ausweis::kv::Store;
use proptest::prelude::*;

use crate::{browser_headers, config, request, run, seeded, session_cookie, snapshot};

/// PKCE challenge (RFC 7636 appendix B).
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The valid request of a client: `spa` is public and first-party (a code
/// at once), `app` confidential (a consent page).
fn valid(client: &str) -> Vec<(String, String)> {
    let redirect = if client == "spa" {
        "http://127.0.0.1:8080/cb"
    } else {
        crate::REDIRECT
    };
    [
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect),
        ("scope", "openid profile"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Drop,
    Repeat,
    Value(String),
    Add(String, String),
    None,
}

fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_string()),
        Just("openid".to_string()),
        Just("none".to_string()),
        Just("login consent none".to_string()),
        Just("plain".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("0".to_string()),
        Just("https://evil.example/cb".to_string()),
        Just("http://127.0.0.1:8080/cb/".to_string()),
        Just("http://127.0.0.1:8080/cb?x=1".to_string()),
        Just("HTTP://127.0.0.1:8080/cb".to_string()),
        Just("https://app.example.org/cb?x=1#frag".to_string()),
        Just("https://app.example.org/cb?x=1&x=2".to_string()),
        Just("code token id_token".to_string()),
        Just("x".repeat(600)),
        "[ -~]{0,60}",
        "\\PC{0,30}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::None),
        Just(Mutation::Drop),
        Just(Mutation::Repeat),
        odd_value().prop_map(Mutation::Value),
        (
            prop::sample::select(vec![
                "prompt",
                "max_age",
                "login_hint",
                "response_mode",
                "request",
                "request_uri",
                "claims",
                "consent",
                "csrf",
                "id_token_hint",
            ]),
            odd_value()
        )
            .prop_map(|(k, v)| Mutation::Add(k.to_string(), v)),
    ]
}

/// The query string of `pairs`, well encoded or with raw bytes.
fn encode(pairs: &[(String, String)], raw: bool) -> String {
    if raw {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    } else {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }
}

proptest! {
    #![proptest_config(config(1536))]

    #[test]
    fn authorize_with_one_parameter_mutated(
        client in prop::sample::select(vec!["spa", "app"]),
        which in 0usize..8,
        m in mutation(),
        raw in prop::bool::weighted(0.2),
        logged_in in prop::bool::weighted(0.8),
        post in any::<bool>(),
    ) {
        let mut pairs = valid(client);
        match &m {
            Mutation::None => {}
            Mutation::Drop => { pairs.remove(which); }
            Mutation::Repeat => { let p = pairs[which].clone(); pairs.push(p); }
            Mutation::Value(v) => pairs[which].1 = v.clone(),
            Mutation::Add(k, v) => pairs.push((k.clone(), v.clone())),
        }
        let query = encode(&pairs, raw);
        let cookie = if logged_in { format!("__Host-ausweis_session={}", session_cookie()) } else { String::new() };
        let req = if post {
            let headers = browser_headers("/oidc/authorize", &cookie, "application/x-www-form-urlencoded");
            request("POST", "/oidc/authorize", &headers, query.into_bytes())
        } else {
            let headers = browser_headers("/oidc/authorize", &cookie, "");
            let q: String = query.chars().filter(|c| !c.is_whitespace() && *c != '#').collect();
            request("GET", &format!("/oidc/authorize?{q}"), &headers, Vec::new())
        };
        let Some(req) = req else { return Ok(()); };
        let kv = seeded();
        let before = snapshot(&kv);
        let resp = run(&kv, ausweis_web::oidc::handle, req);
        let status = resp.status().as_u16();
        prop_assert!([200, 302, 400, 403].contains(&status), "{status} for {m:?}");

        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("");
        let new_codes: Vec<_> = snapshot(&kv).into_keys()
            .filter(|(s, k)| *s == Store::Oidc && k.starts_with("code:") && !before.contains_key(&(*s, k.clone())))
            .collect();
        if status == 302 {
            let registered = ["http://127.0.0.1:8080/cb?", "https://app.example.org/cb?x=1&"];
            prop_assert!(location.starts_with("/login?") || registered.iter().any(|r| location.starts_with(r)),
                "redirect to {location}");
        }
        let issued = status == 302 && url::Url::parse(location)
            .map(|u| u.query_pairs().any(|(k, _)| k == "code")).unwrap_or(false);
        if issued {
            // only for the exact, unrepeated client and redirect URI, with PKCE
            prop_assert_eq!(new_codes.len(), 1);
            let count = |name: &str| pairs.iter().filter(|(k, _)| k == name).count();
            prop_assert_eq!(count("client_id"), 1);
            prop_assert_eq!(count("redirect_uri"), 1);
            let sent_uri = &pairs.iter().find(|(k, _)| k == "redirect_uri").unwrap().1;
            prop_assert!(location.starts_with(sent_uri.as_str()));
            let sent_client = &pairs.iter().find(|(k, _)| k == "client_id").unwrap().1;
            if sent_client == "spa" {
                prop_assert_eq!(count("code_challenge"), 1);
            }
            prop_assert!(logged_in);
        } else {
            prop_assert!(new_codes.is_empty());
        }
        if status >= 400 {
            prop_assert_eq!(before, snapshot(&kv));
        }
    }

    #[test]
    fn authorize_request_parsing_never_panics(pairs in prop::collection::vec(("[a-z_]{1,20}", "[ -~]{0,60}"), 0..12)) {
        let _ = ausweis::oidc::authorize::AuthRequest::from_pairs(&pairs);
    }
}

/// The base the mutations start from is a valid request: a code for
/// `spa`, a consent page for `app`.
#[test]
fn the_unmutated_requests_succeed() {
    for (client, want) in [("spa", 302), ("app", 200)] {
        let cookie = format!("__Host-ausweis_session={}", session_cookie());
        let headers = browser_headers("/oidc/authorize", &cookie, "");
        let uri = format!("/oidc/authorize?{}", encode(&valid(client), false));
        let req = request("GET", &uri, &headers, Vec::new()).unwrap();
        let resp = run(&seeded(), ausweis_web::oidc::handle, req);
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok());
        assert_eq!(resp.status(), want, "{client} {location:?}");
        if want == 302 {
            assert!(
                location.is_some_and(|l| l.contains("?code=")),
                "{location:?}"
            );
        }
    }
}
