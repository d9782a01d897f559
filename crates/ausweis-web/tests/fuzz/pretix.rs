//! Pretix answers mutated from realistic ones: a `checkinrpc/search` result
//! and check-in responses with a value replaced, a key dropped or added,
//! bytes mangled, under any status. A broken answer is a 502
//! (`pretix_failed`), never a 500; a ticket is granted only from a sound
//! answer; and a refused redemption stores nothing.

use std::collections::HashMap;

use ausweis::redeem::TicketOffice;
use ausweis::secret::Secret;
use ausweis_web::pretix::{Pretix, PretixConfig};
use ausweis_web::{problem, Outbound, OutboundError, OutboundRequest};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::{
    browser_headers, config, error_code, request, seeded, session_cookie, snapshot,
    unchanged_where_it_must, NOW,
};

/// What `checkinrpc/search` answers for one paid ticket (Pretix 2026).
fn search_answer() -> Value {
    json!({
        "count": 1, "next": null, "previous": null,
        "results": [{
            "id": 23, "order": "ABC12", "positionid": 1, "item": 4, "variation": 9,
            "price": "50.00", "attendee_name": "Jane Doe", "attendee_email": null,
            "secret": "abc123", "pseudonymization_id": "MQLJZQ8XMB", "addon_to": null,
            "subevent": null, "canceled": false, "order__status": "p",
            "order__require_approval": false, "require_attention": false,
            "checkins": [{"id": 5, "list": 8, "datetime": "2026-01-01T10:00:00Z",
                          "type": "entry", "gate": null, "device": 2, "auto_checked_in": false}],
            "answers": [], "seat": null
        }]
    })
}

/// What `checkinrpc/redeem` answers: a check-in, or one of its refusals.
fn redeem_answers() -> Vec<Value> {
    vec![
        json!({"status": "ok", "require_attention": false, "position": {"id": 23, "item": 4},
               "list": {"id": 7, "name": "ausweis"}}),
        json!({"status": "error", "reason": "already_redeemed", "reason_explanation": null,
               "position": {"id": 23}}),
        json!({"status": "error", "reason": "invalid"}),
        json!({"status": "incomplete", "questions": [{"id": 1, "question": "T-shirt?"}]}),
    ]
}

/// A JSON value of any type, to put where another was.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "p", "n", "c", "e", "", "abc123", "ABC123", "abc123 ", "exit", "entry", "ok", "error"
        ])
        .prop_map(|s| Value::from(s.to_string())),
        "\\PC{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(Value),
    Drop,
    Add(String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => any_value().prop_map(Edit::Replace),
        1 => Just(Edit::Drop),
        1 => ("[a-z_]{1,12}", any_value()).prop_map(|(k, v)| Edit::Add(k, v)),
    ]
}

/// Applies `edit` at the place in `v` that `path` leads to.
fn apply(v: &mut Value, path: &[prop::sample::Index], edit: &Edit) {
    let child = |v: &mut Value, i: &prop::sample::Index| -> Option<String> {
        match v {
            Value::Object(m) if !m.is_empty() => m.keys().nth(i.index(m.len())).cloned(),
            Value::Array(a) if !a.is_empty() => Some(i.index(a.len()).to_string()),
            _ => None,
        }
    };
    let Some((first, rest)) = path.split_first() else {
        match edit {
            Edit::Replace(n) => *v = n.clone(),
            Edit::Add(k, n) => {
                if let Value::Object(m) = v {
                    m.insert(k.clone(), n.clone());
                }
            }
            Edit::Drop => *v = Value::Null,
        }
        return;
    };
    let Some(key) = child(v, first) else {
        return apply(v, &[], edit);
    };
    let leaf = rest.is_empty();
    match v {
        Value::Object(m) if leaf && matches!(edit, Edit::Drop) => {
            m.remove(&key);
        }
        Value::Array(a) if leaf && matches!(edit, Edit::Drop) => {
            a.remove(key.parse::<usize>().unwrap_or(0));
        }
        Value::Object(m) => apply(m.get_mut(&key).unwrap(), rest, edit),
        Value::Array(a) => apply(&mut a[key.parse::<usize>().unwrap_or(0)], rest, edit),
        _ => {}
    }
}

/// A mutated answer: the realistic one with some edits, as bytes, perhaps
/// mangled, under a status.
fn answer(base: Value) -> impl Strategy<Value = (u16, Vec<u8>)> {
    let status = prop_oneof![
        4 => Just(200u16),
        1 => prop::sample::select(vec![201u16, 204, 302, 400, 401, 403, 404, 409, 429, 500, 502, 503]),
    ];
    let edits = prop::collection::vec(
        (
            prop::collection::vec(any::<prop::sample::Index>(), 0..5),
            edit(),
        ),
        0..4,
    );
    let mangle = prop::option::weighted(
        0.15,
        (
            any::<prop::sample::Index>(),
            prop_oneof![Just(None), any::<u8>().prop_map(Some)],
        ),
    );
    (status, edits, mangle).prop_map(move |(status, edits, mangle)| {
        let mut v = base.clone();
        for (path, e) in &edits {
            apply(&mut v, path, e);
        }
        let mut bytes = v.to_string().into_bytes();
        if let Some((at, b)) = mangle {
            let i = at.index(bytes.len() + 1);
            match b {
                Some(b) if i < bytes.len() => bytes[i] = b,
                Some(b) => bytes.push(b),
                None => bytes.truncate(i),
            }
        }
        (status, bytes)
    })
}

fn redeem_answer() -> impl Strategy<Value = (u16, Vec<u8>)> {
    prop::sample::select(redeem_answers()).prop_flat_map(answer)
}

/// A Pretix double that answers every call with one canned answer.
struct Canned {
    search: (u16, Vec<u8>),
    redeem: (u16, Vec<u8>),
}

impl Outbound for Canned {
    fn post_form(&self, _: &str, _: &str, _: u64) -> Result<u16, String> {
        Err("not used".into())
    }

    fn send(&self, req: &OutboundRequest) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let (status, body) = if req.url.contains("/search/") {
            &self.search
        } else {
            &self.redeem
        };
        let mut resp = http::Response::new(body.clone());
        *resp.status_mut() =
            http::StatusCode::from_u16(*status).map_err(|_| OutboundError::Protocol)?;
        Ok(resp)
    }
}

fn vars() -> HashMap<String, String> {
    let mut v = crate::vars();
    for (k, val) in [
        ("pretix_url", "https://shop.example/pretix/"),
        ("pretix_token", "tok123"),
        ("pretix_organizer", "assoc"),
        ("pretix_checkin_list", "7"),
        ("pretix_timeout_ms", "2000"),
        ("redemption_minutes", "15"),
        (
            "item_entitlements",
            r#"{"4": {"member": true, "permissions": [{"name": "cloud", "days": 365}]}}"#,
        ),
        ("registration_requires_ticket", "false"),
    ] {
        v.insert(k.into(), val.into());
    }
    v
}

/// The statuses a refusal caused by Pretix may have: the ticket's verdicts
/// and 502/503 for Pretix's own failures.
const PRETIX_STATUSES: [u16; 5] = [404, 409, 422, 502, 503];

proptest! {
    #![proptest_config(config(1536))]

    /// A look-up grants a ticket only from a sound answer, and every
    /// refusal maps to a verdict or a 502/503.
    #[test]
    fn lookup_of_a_mutated_search_answer(search in answer(search_answer())) {
        let cfg = PretixConfig::from_vars(&vars()).unwrap();
        let shop = Canned { search: search.clone(), redeem: (500, Vec::new()) };
        match Pretix::new(&cfg, &shop).lookup(&Secret::new("abc123".into())) {
            Ok(ticket) => {
                prop_assert_eq!(search.0, 200);
                let v: Value = serde_json::from_slice(&search.1).unwrap();
                let found = v["results"].as_array().unwrap().iter()
                    .find(|r| r["secret"] == "abc123").unwrap();
                prop_assert_eq!(&found["order__status"], "p");
                prop_assert_eq!(found["item"].as_u64(), Some(ticket.item));
                prop_assert!(found["canceled"] != true);
            }
            Err(e) => {
                let status = problem::from_error(&e).status().as_u16();
                prop_assert!(PRETIX_STATUSES.contains(&status), "{status} from {e:?}");
                if search.0 == 200 && serde_json::from_slice::<Value>(&search.1).is_err() {
                    prop_assert_eq!(status, 502);
                }
            }
        }
    }

    /// A check-in counts only when Pretix says `ok` with 200 or 201.
    #[test]
    fn check_in_with_a_mutated_answer(redeem in redeem_answer()) {
        let cfg = PretixConfig::from_vars(&vars()).unwrap();
        let shop = Canned { search: (500, Vec::new()), redeem: redeem.clone() };
        match Pretix::new(&cfg, &shop).check_in(&Secret::new("abc123".into()), "nonce1") {
            Ok(()) => {
                prop_assert!(redeem.0 == 200 || redeem.0 == 201);
                let v: Value = serde_json::from_slice(&redeem.1).unwrap();
                prop_assert_eq!(&v["status"], "ok");
            }
            Err(e) => {
                let status = problem::from_error(&e).status().as_u16();
                prop_assert!(PRETIX_STATUSES.contains(&status), "{status} from {e:?}");
            }
        }
    }

    /// The redeem route, over mutated Pretix answers: no 500, and a
    /// refusal stores no link and changes no grant.
    #[test]
    fn redeem_route_over_mutated_answers(
        search in answer(search_answer()),
        redeem in redeem_answer(),
        logged_in in any::<bool>(),
    ) {
        let kv = seeded();
        let vars = vars();
        let shop = Canned { search, redeem };
        let env = ausweis_web::Env { kv: &kv, vars: &vars, outbound: &shop, now: NOW };
        let cookie = if logged_in { format!("__Host-ausweis_session={}", session_cookie()) } else { String::new() };
        let headers = browser_headers("/api/redeem", &cookie, "application/json");
        let req = request("POST", "/api/redeem", &headers, br#"{"secret": "abc123"}"#.to_vec()).unwrap();
        let before = snapshot(&kv);
        let resp = ausweis_web::redeem::handle(req, &env);
        let status = resp.status().as_u16();
        prop_assert!(status == 200 || PRETIX_STATUSES.contains(&status), "{status} {:?}", error_code(&resp));
        if status >= 400 {
            prop_assert!(error_code(&resp).is_some());
            // a ticket that passed the look-up waits for a retry when the
            // check-in fails, and the answer keeps its cookie
            let kept = resp.headers().get_all("set-cookie").iter()
                .filter_map(|v| v.to_str().ok())
                .any(|c| c.starts_with("__Host-ausweis_redeem=") && !c.starts_with("__Host-ausweis_redeem=;"));
            let without_links = |s: crate::Snapshot| -> crate::Snapshot {
                s.into_iter().filter(|((store, _), _)| !kept || *store != ausweis::kv::Store::Redemptions).collect()
            };
            prop_assert!(unchanged_where_it_must(&without_links(before), &without_links(snapshot(&kv)), status));
        }
    }
}
