//! The redeem handler with an in-memory store and a Pretix double that
//! speaks the two RPC calls (the end-to-end suite uses a real Pretix).

use std::cell::RefCell;
use std::collections::HashMap;

use ausweis::kv::{MemoryKv, Store};
use ausweis::permissions;
use serde_json::{json, Value};

use super::*;
use crate::{Outbound, OutboundError, OutboundRequest};

/// A Pretix double: one paid ticket `PAIDSECRET` of item 1, checked in once.
#[derive(Default)]
struct FakePretix {
    nonce: RefCell<Option<String>>,
}

impl Outbound for FakePretix {
    fn post_form(&self, _: &str, _: &str, _: u64) -> Result<u16, String> {
        Err("not used".into())
    }

    fn send(&self, req: &OutboundRequest) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let (status, body) = if req.url.contains("/search/") {
            let found = req.url.contains("secret=PAIDSECRET");
            let checkins = if self.nonce.borrow().is_some() {
                json!([{"list": 1, "type": "entry", "datetime": "2026-01-01T00:00:00Z"}])
            } else {
                json!([])
            };
            let results = if found {
                json!([{"secret": "PAIDSECRET", "item": 1, "variation": null,
                        "order__status": "p", "order": "ORDER1", "checkins": checkins}])
            } else {
                json!([])
            };
            (200, json!({"count": 1, "results": results}))
        } else {
            let body: Value =
                serde_json::from_slice(&req.body).map_err(|_| OutboundError::Protocol)?;
            let nonce = body["nonce"].as_str().unwrap_or("").to_owned();
            let mut held = self.nonce.borrow_mut();
            match held.as_deref() {
                Some(n) if n != nonce => (
                    400,
                    json!({"status": "error", "reason": "already_redeemed"}),
                ),
                _ => {
                    *held = Some(nonce);
                    (201, json!({"status": "ok"}))
                }
            }
        };
        let mut resp = http::Response::new(body.to_string().into_bytes());
        *resp.status_mut() = StatusCode::from_u16(status).map_err(|_| OutboundError::Protocol)?;
        Ok(resp)
    }
}

fn vars(pretix: bool) -> HashMap<String, String> {
    let mut v: HashMap<String, String> = [
        ("pretix_url", "http://127.0.0.1:9"),
        ("pretix_token", "tok"),
        ("pretix_organizer", "assoc"),
        ("pretix_checkin_list", "1"),
        ("pretix_timeout_ms", "1000"),
        ("redemption_minutes", "15"),
        (
            "item_entitlements",
            r#"{"1": {"member": true, "permissions": [{"name": "member", "days": 365}]}}"#,
        ),
        ("session_idle_minutes", "60"),
        ("session_max_hours", "24"),
        ("registration_requires_ticket", "auto"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if !pretix {
        v.insert("pretix_url".into(), String::new());
    }
    v
}

fn post(path: &str, body: &str, cookies: &str) -> Request {
    let mut b = http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("spin-full-url", format!("http://127.0.0.1:3000{path}"))
        .header(header::CONTENT_TYPE, "application/json");
    if !cookies.is_empty() {
        b = b.header(header::COOKIE, cookies);
    }
    b.body(body.as_bytes().to_vec()).unwrap_or_default()
}

fn set_cookie(resp: &Response) -> String {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("\n")
}

fn body(resp: &Response) -> Value {
    serde_json::from_slice(resp.body()).unwrap_or_default()
}

fn redeem_cookie(resp: &Response) -> String {
    set_cookie(resp).split(';').next().unwrap_or("").to_owned()
}

#[test]
fn without_pretix_redemption_is_disabled() {
    let kv = MemoryKv::new();
    let v = vars(false);
    let shop = FakePretix::default();
    let env = Env {
        kv: &kv,
        vars: &v,
        outbound: &shop,
        now: 1000,
    };
    let resp = handle(post("/api/redeem", r#"{"secret": "X1"}"#, ""), &env);
    assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(body(&resp)["error"], "redemption_disabled");
}

#[test]
fn logged_out_redemption_waits_in_a_cookie_and_apply_needs_a_login() {
    let kv = MemoryKv::new();
    let v = vars(true);
    let shop = FakePretix::default();
    let env = Env {
        kv: &kv,
        vars: &v,
        outbound: &shop,
        now: 1000,
    };
    let resp = handle(post("/api/redeem", r#"{"secret": "PAIDSECRET"}"#, ""), &env);
    assert_eq!(resp.status(), StatusCode::OK, "{}", body(&resp));
    assert_eq!(body(&resp)["status"], "pending");
    assert_eq!(body(&resp)["grants"]["member"], true);
    let jar = redeem_cookie(&resp);
    assert!(jar.starts_with("ausweis_redeem="), "{jar}");
    assert!(set_cookie(&resp).contains("HttpOnly"));
    assert_eq!(kv.all_keys(Store::Redemptions).len(), 1);
    for v in kv.values() {
        let text = String::from_utf8_lossy(&v);
        assert!(!text.contains("PAIDSECRET") && !text.contains("ORDER1"));
    }

    let resp = handle(post("/api/redeem/apply", "{}", &jar), &env);
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = handle(post("/api/redeem/apply", "", &jar), &env);
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn a_logged_in_member_is_granted_at_once() -> ausweis::Result<()> {
    let kv = MemoryKv::new();
    let v = vars(true);
    let shop = FakePretix::default();
    let env = Env {
        kv: &kv,
        vars: &v,
        outbound: &shop,
        now: 1000,
    };
    permissions::create(&kv, "acct1")?;
    let s = ausweis::session::Session {
        account_id: "acct1".into(),
        username: "alice".into(),
        auth_time: 1000,
        seen: 1000,
        amr: vec!["pwd".into()],
        sid: "sid1".into(),
    };
    let (sid, _) = session::create(&kv, &Lifetimes::from_vars(&v)?, &s)?;
    let jar = format!("ausweis_session={}", sid.expose());
    let resp = handle(
        post("/api/redeem", r#"{"secret": "PAIDSECRET"}"#, &jar),
        &env,
    );
    assert_eq!(resp.status(), StatusCode::OK, "{}", body(&resp));
    assert_eq!(body(&resp)["status"], "applied");
    assert_eq!(body(&resp)["permissions"]["member"], 1000 + 365 * 86_400);
    assert!(set_cookie(&resp).contains("Max-Age=0"));
    assert!(kv.all_keys(Store::Redemptions).is_empty());

    let again = handle(
        post("/api/redeem", r#"{"secret": "PAIDSECRET"}"#, &jar),
        &env,
    );
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let unknown = handle(post("/api/redeem", r#"{"secret": "NOPE"}"#, &jar), &env);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(&unknown)["error"], "ticket_unknown");
    Ok(())
}

#[test]
fn registration_requires_a_waiting_ticket_once_pretix_is_configured() {
    let kv = MemoryKv::new();
    let v = vars(true);
    let shop = FakePretix::default();
    let env = Env {
        kv: &kv,
        vars: &v,
        outbound: &shop,
        now: 1000,
    };
    let req = post(
        "/api/register",
        r#"{"username": "alice", "password": "correct horse battery"}"#,
        "",
    );
    let resp = crate::register::handle(req, &env);
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(&resp)["error"], "ticket_required");
    assert!(kv.values().is_empty());
}

mod hostile {
    use proptest::prelude::*;

    use super::*;

    fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            "\\{(\"secret\":\"[ -~]{0,40}\")?(,\"[a-z_]{1,8}\":[0-9a-z\"]{0,6})?\\}"
                .prop_map(String::into_bytes),
            Just(br#"{"secret": "PAIDSECRET"}"#.to_vec()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        /// Whatever arrives, the redeem handler answers, and a refused
        /// request stores no link and changes no grant.
        #[test]
        fn redeem_never_panics_and_refusals_store_nothing(
            apply in any::<bool>(),
            method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
            content_type in prop::sample::select(vec!["application/json", "text/plain", ""]),
            cookie in "(ausweis_redeem=[A-Za-z0-9_-]{0,50})?(; ausweis_session=[ -~]{0,50})?",
            body in body_strategy(),
        ) {
            let kv = MemoryKv::new();
            let v = vars(true);
            let shop = FakePretix::default();
            let env = Env { kv: &kv, vars: &v, outbound: &shop, now: 1000 };
            let path = if apply { "/api/redeem/apply" } else { "/api/redeem" };
            let mut b = http::Request::builder()
                .method(method)
                .uri(path)
                .header("spin-full-url", format!("http://127.0.0.1:3000{path}"))
                .header(header::COOKIE, cookie);
            if !content_type.is_empty() {
                b = b.header(header::CONTENT_TYPE, content_type);
            }
            let Ok(req) = b.body(body) else { return Ok(()); };
            let resp = handle(req, &env);
            let status = resp.status().as_u16();
            prop_assert!((200..600).contains(&status));
            prop_assert!(serde_json::from_slice::<Value>(resp.body()).is_ok());
            if status >= 400 {
                prop_assert!(kv.all_keys(Store::Redemptions).is_empty());
                prop_assert!(kv.all_keys(Store::Permissions).is_empty());
            }
        }
    }
}
