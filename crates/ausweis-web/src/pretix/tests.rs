//! The Pretix client against canned answers (a test double of the HTTP
//! layer; the end-to-end suite runs against a real Pretix).

#![allow(clippy::panic, reason = "a test fails by panicking")]

use std::cell::RefCell;
use std::collections::HashMap;

use super::*;

/// Answers every request with one canned result and records the requests.
struct Canned {
    answer: Result<(u16, &'static str), OutboundError>,
    seen: RefCell<Vec<OutboundRequest>>,
}

impl Canned {
    fn new(status: u16, body: &'static str) -> Self {
        Canned {
            answer: Ok((status, body)),
            seen: RefCell::new(Vec::new()),
        }
    }

    fn failing(e: OutboundError) -> Self {
        Canned {
            answer: Err(e),
            seen: RefCell::new(Vec::new()),
        }
    }
}

impl Outbound for Canned {
    fn post_form(&self, _: &str, _: &str, _: u64) -> Result<u16, String> {
        Err("not used".into())
    }

    fn send(&self, req: &OutboundRequest) -> Result<http::Response<Vec<u8>>, OutboundError> {
        self.seen.borrow_mut().push(req.clone());
        let (status, body) = self.answer?;
        let mut resp = http::Response::new(body.as_bytes().to_vec());
        *resp.status_mut() =
            http::StatusCode::from_u16(status).map_err(|_| OutboundError::Protocol)?;
        Ok(resp)
    }
}

fn config() -> PretixConfig {
    let vars: HashMap<String, String> = [
        ("pretix_url", "https://shop.example/pretix/"),
        ("pretix_token", "tok123"),
        ("pretix_organizer", "assoc"),
        ("pretix_checkin_list", "7"),
        ("pretix_timeout_ms", "2000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    match PretixConfig::from_vars(&vars) {
        Ok(c) => c,
        Err(e) => panic!("config: {e}"),
    }
}

fn lookup(status: u16, body: &'static str) -> Result<Ticket> {
    let cfg = config();
    let http = Canned::new(status, body);
    Pretix::new(&cfg, &http).lookup(&Secret::new("abc123".into()))
}

fn check_in(status: u16, body: &'static str) -> Result<()> {
    let cfg = config();
    let http = Canned::new(status, body);
    Pretix::new(&cfg, &http).check_in(&Secret::new("abc123".into()), "n1")
}

const PAID: &str = r#"{"count": 1, "results": [{"secret": "abc123", "item": 4, "variation": 9,
    "order": "ABC12", "attendee_name": "Jane", "order__status": "p", "checkins": []}]}"#;

#[test]
fn lookup_asks_for_the_exact_secret_with_the_token() -> Result<()> {
    let cfg = config();
    let http = Canned::new(200, PAID);
    let t = Pretix::new(&cfg, &http).lookup(&Secret::new("a&b=c".into()));
    assert!(matches!(t, Err(Error::TicketUnknown)), "secret differs");
    let req = &http.seen.borrow()[0];
    assert_eq!(
        req.url,
        "https://shop.example/pretix/api/v1/organizers/assoc/checkinrpc/search/?list=7&secret=a%26b%3Dc&ignore_status=true"
    );
    assert!(!req.url.contains("search="));
    assert!(req
        .headers
        .contains(&("authorization".into(), "Token tok123".into())));
    assert_eq!(req.timeout, Duration::from_millis(2000));
    assert_eq!(
        lookup(200, PAID)?,
        Ticket {
            item: 4,
            variation: Some(9)
        }
    );
    Ok(())
}

#[test]
fn lookup_verdicts_follow_order_status_and_checkins() {
    let with = |status: &str, checkins: &str| -> String {
        format!(
            r#"{{"results": [{{"secret": "abc123", "item": 1, "variation": null, "order__status": "{status}", "checkins": {checkins}}}]}}"#
        )
    };
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    assert!(matches!(
        lookup(200, leak(with("n", "[]"))),
        Err(Error::TicketUnpaid)
    ));
    assert!(matches!(
        lookup(200, leak(with("c", "[]"))),
        Err(Error::TicketCancelled)
    ));
    assert!(matches!(
        lookup(200, leak(with("e", "[]"))),
        Err(Error::TicketCancelled)
    ));
    let entry = r#"[{"list": 7, "type": "entry", "datetime": "2026-01-01T10:00:00Z"}]"#;
    assert!(matches!(
        lookup(200, leak(with("p", entry))),
        Err(Error::TicketRedeemed)
    ));
    let out = r#"[{"list": 7, "type": "entry", "datetime": "2026-01-01T10:00:00Z"},
                  {"list": 7, "type": "exit", "datetime": "2026-01-01T11:00:00Z"}]"#;
    assert!(lookup(200, leak(with("p", out))).is_ok());
    let other_list = r#"[{"list": 8, "type": "entry", "datetime": "2026-01-01T10:00:00Z"}]"#;
    assert!(lookup(200, leak(with("p", other_list))).is_ok());
    assert!(matches!(
        lookup(200, r#"{"results": []}"#),
        Err(Error::TicketUnknown)
    ));
}

#[test]
fn broken_answers_are_pretix_failures_and_outages_unavailable() {
    assert!(matches!(
        lookup(500, "<html><body>Server Error</body></html>"),
        Err(Error::PretixFailed(_))
    ));
    assert!(matches!(
        lookup(200, "{not json"),
        Err(Error::PretixFailed(_))
    ));
    assert!(matches!(
        lookup(200, r#"{"results": 5}"#),
        Err(Error::PretixFailed(_))
    ));
    assert!(matches!(
        lookup(401, r#"{"detail": "x"}"#),
        Err(Error::PretixFailed(_))
    ));
    assert!(matches!(
        lookup(503, "down"),
        Err(Error::PretixUnavailable(_))
    ));
    let cfg = config();
    for (e, unavailable) in [
        (OutboundError::Timeout, true),
        (OutboundError::Unreachable, true),
        (OutboundError::TooLarge, false),
    ] {
        let http = Canned::failing(e);
        let r = Pretix::new(&cfg, &http).lookup(&Secret::new("abc123".into()));
        assert_eq!(matches!(r, Err(Error::PretixUnavailable(_))), unavailable);
    }
    let http = Canned::failing(OutboundError::Denied);
    assert!(matches!(
        Pretix::new(&cfg, &http).lookup(&Secret::new("abc123".into())),
        Err(Error::Config(_))
    ));
}

#[test]
fn check_in_sends_the_nonce_and_maps_refusals() -> Result<()> {
    let cfg = config();
    let http = Canned::new(201, r#"{"status": "ok", "position": {}}"#);
    Pretix::new(&cfg, &http).check_in(&Secret::new("abc123".into()), "nonce-1")?;
    let req = &http.seen.borrow()[0];
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
    assert_eq!(body["nonce"], "nonce-1");
    assert_eq!(body["lists"], serde_json::json!([7]));
    assert!(body.get("type").is_none(), "never an exit");
    assert!(req.url.ends_with("/checkinrpc/redeem/"));

    let refused = |reason: &str| -> &'static str {
        Box::leak(format!(r#"{{"status": "error", "reason": "{reason}"}}"#).into_boxed_str())
    };
    assert!(matches!(
        check_in(400, refused("already_redeemed")),
        Err(Error::TicketRedeemed)
    ));
    assert!(matches!(
        check_in(400, refused("unpaid")),
        Err(Error::TicketUnpaid)
    ));
    assert!(matches!(
        check_in(400, refused("canceled")),
        Err(Error::TicketCancelled)
    ));
    assert!(matches!(
        check_in(404, refused("invalid")),
        Err(Error::TicketUnknown)
    ));
    assert!(matches!(
        check_in(400, refused("rules")),
        Err(Error::TicketRefused { reason }) if reason == "rules"
    ));
    assert!(matches!(
        check_in(500, "<html>"),
        Err(Error::PretixFailed(_))
    ));
    Ok(())
}

#[test]
fn configuration_is_checked() {
    let base: HashMap<String, String> = [
        ("pretix_token", "t"),
        ("pretix_organizer", "assoc"),
        ("pretix_checkin_list", "1"),
        ("pretix_timeout_ms", "1000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let with = |k: &str, v: &str| {
        let mut m = base.clone();
        m.insert(k.into(), v.into());
        m.insert("pretix_url".into(), "http://127.0.0.1:8000".into());
        if k == "pretix_url" {
            m.insert(k.into(), v.into());
        }
        PretixConfig::from_vars(&m)
    };
    assert!(matches!(
        with("pretix_url", ""),
        Err(Error::RedemptionDisabled)
    ));
    assert!(matches!(
        with("pretix_url", "ftp://x"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        with("pretix_organizer", "a/../b"),
        Err(Error::Config(_))
    ));
    assert!(matches!(with("pretix_token", ""), Err(Error::Config(_))));
    assert!(with("pretix_checkin_list", "3").is_ok());
}
