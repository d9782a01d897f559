//! Pretix's REST API, as redemption needs it: look a ticket up without
//! changing it, and check it in. Reads only the few fields it needs from
//! Pretix's answers and keeps none of them (they also carry the attendee's
//! name, e-mail address and order code).
//!
//! - Look-up: `GET /api/v1/organizers/{org}/checkinrpc/search/` with
//!   `list`, `secret` (an exact match; `search` would also match names,
//!   e-mail addresses and order codes) and `ignore_status=true` (without it
//!   unpaid and cancelled tickets are silently left out).
//! - Check-in: `POST /api/v1/organizers/{org}/checkinrpc/redeem/` with
//!   `{secret, lists, nonce}`; the same nonce again answers 201 without a
//!   second check-in. It never sends `"type": "exit"`, which would make the
//!   ticket redeemable again.

use std::time::Duration;

use ausweis::config::{self, Vars};
use ausweis::redeem::{Ticket, TicketOffice};
use ausweis::secret::Secret;
use ausweis::{Error, Result};
use serde_json::Value;
use subtle::ConstantTimeEq;
use url::Url;

use crate::{Outbound, OutboundError, OutboundRequest};

/// Largest answer read from Pretix: a search for one secret is a few KiB.
const MAX_ANSWER: usize = 256 * 1024;

/// Where and how to reach Pretix, from Spin variables.
#[derive(Debug, Clone)]
pub struct PretixConfig {
    base: Url,
    token: Secret,
    organizer: String,
    list: u64,
    /// Deadline of one call to Pretix.
    pub timeout: Duration,
}

fn slug_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

impl PretixConfig {
    /// Reads `pretix_url`, `pretix_token`, `pretix_organizer`,
    /// `pretix_checkin_list` and `pretix_timeout_ms`. An empty `pretix_url`
    /// means redemption is off.
    pub fn from_vars(vars: &dyn Vars) -> Result<Self> {
        let url = vars.get("pretix_url").unwrap_or_default();
        if url.trim().is_empty() {
            return Err(Error::RedemptionDisabled);
        }
        let base = Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .filter(|u| u.query().is_none() && u.fragment().is_none())
            .ok_or_else(|| Error::Config("pretix_url must be an http(s) URL".into()))?;
        let token = config::text(vars, "pretix_token")?;
        let organizer = config::text(vars, "pretix_organizer")?;
        if !slug_ok(&organizer) {
            return Err(Error::Config("pretix_organizer must be a slug".into()));
        }
        Ok(PretixConfig {
            base,
            token: Secret::new(token),
            organizer,
            list: config::number(vars, "pretix_checkin_list", 1..=u64::from(u32::MAX))?,
            timeout: Duration::from_millis(config::number(
                vars,
                "pretix_timeout_ms",
                100..=60_000,
            )?),
        })
    }

    fn endpoint(&self, rpc: &str) -> Result<Url> {
        let mut url = self.base.clone();
        let base_path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!(
            "{base_path}/api/v1/organizers/{}/checkinrpc/{rpc}/",
            self.organizer
        ));
        Ok(url)
    }
}

/// Pretix over an [`Outbound`].
pub struct Pretix<'a> {
    config: &'a PretixConfig,
    http: &'a dyn Outbound,
}

impl<'a> Pretix<'a> {
    /// A client for `config` that sends through `http`.
    pub fn new(config: &'a PretixConfig, http: &'a dyn Outbound) -> Self {
        Pretix { config, http }
    }

    /// One call; the status and, if the answer is JSON, its value.
    fn call(&self, method: http::Method, url: Url, body: Option<Value>) -> Result<(u16, Value)> {
        let mut headers = vec![
            (
                "authorization".to_owned(),
                format!("Token {}", self.config.token.expose()),
            ),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let req = OutboundRequest {
            method,
            url: url.into(),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            timeout: self.config.timeout,
            max_body: MAX_ANSWER,
        };
        let resp = self.http.send(&req).map_err(|e| match e {
            OutboundError::Denied => Error::Config(
                "pretix_url is outside the component's allowed_outbound_hosts (pretix_origin)"
                    .into(),
            ),
            OutboundError::Unreachable => Error::PretixUnavailable("unreachable"),
            OutboundError::Timeout => Error::PretixUnavailable("timeout"),
            OutboundError::TooLarge => Error::PretixFailed("answer too large".into()),
            OutboundError::Protocol => Error::PretixFailed("protocol error".into()),
        })?;
        let status = resp.status().as_u16();
        match status {
            503 => return Err(Error::PretixUnavailable("answered 503")),
            401 => return Err(Error::PretixFailed("token refused (401)".into())),
            403 => return Err(Error::PretixFailed("access denied (403)".into())),
            s if s >= 500 => return Err(Error::PretixFailed(format!("server error ({s})"))),
            _ => {}
        }
        let value = serde_json::from_slice(resp.body())
            .map_err(|_| Error::PretixFailed(format!("answer is not JSON ({status})")))?;
        Ok((status, value))
    }
}

fn field_u64(v: &Value, name: &str) -> Result<u64> {
    v[name]
        .as_u64()
        .ok_or_else(|| Error::PretixFailed(format!("answer lacks {name}")))
}

/// Whether the position's last check-in on `list` is an entry (our
/// redemption, or a scan at the door). An exit makes it redeemable again,
/// as in Pretix.
fn checked_in(position: &Value, list: u64) -> bool {
    let Some(checkins) = position["checkins"].as_array() else {
        return false;
    };
    checkins
        .iter()
        .filter(|c| c["list"].as_u64().is_none_or(|l| l == list))
        .max_by(|a, b| {
            let at = |c: &Value| c["datetime"].as_str().unwrap_or("").to_owned();
            at(a).cmp(&at(b))
        })
        .is_some_and(|last| last["type"].as_str() != Some("exit"))
}

/// Pretix's refusal reasons, as domain errors.
fn refusal(reason: &str) -> Error {
    match reason {
        "invalid" => Error::TicketUnknown,
        "already_redeemed" => Error::TicketRedeemed,
        "unpaid" | "unapproved" => Error::TicketUnpaid,
        "canceled" | "revoked" => Error::TicketCancelled,
        "error" => Error::PretixFailed("check-in failed on Pretix's side".into()),
        other => {
            let reason: String = other
                .chars()
                .filter(|c| c.is_ascii_lowercase() || *c == '_')
                .take(32)
                .collect();
            Error::TicketRefused { reason }
        }
    }
}

impl TicketOffice for Pretix<'_> {
    fn lookup(&self, secret: &Secret) -> Result<Ticket> {
        let mut url = self.config.endpoint("search")?;
        url.query_pairs_mut()
            .append_pair("list", &self.config.list.to_string())
            .append_pair("secret", secret.expose())
            .append_pair("ignore_status", "true");
        let (status, value) = self.call(http::Method::GET, url, None)?;
        if status != 200 {
            return Err(Error::PretixFailed(format!("search answered {status}")));
        }
        let results = value["results"]
            .as_array()
            .ok_or_else(|| Error::PretixFailed("search answer lacks results".into()))?;
        // `secret=` matches exactly; compare again all the same
        let position = results
            .iter()
            .find(|r| {
                r["secret"]
                    .as_str()
                    .is_some_and(|s| bool::from(s.as_bytes().ct_eq(secret.expose().as_bytes())))
            })
            .ok_or(Error::TicketUnknown)?;
        match position["order__status"].as_str() {
            Some("p") => {}
            Some("n") => return Err(Error::TicketUnpaid),
            Some("c") | Some("e") => return Err(Error::TicketCancelled),
            _ => return Err(Error::PretixFailed("unknown order status".into())),
        }
        if position["canceled"].as_bool() == Some(true) {
            return Err(Error::TicketCancelled);
        }
        if checked_in(position, self.config.list) {
            return Err(Error::TicketRedeemed);
        }
        Ok(Ticket {
            item: field_u64(position, "item")?,
            variation: position["variation"].as_u64(),
        })
    }

    fn check_in(&self, secret: &Secret, nonce: &str) -> Result<()> {
        let body = serde_json::json!({
            "secret": secret.expose(),
            "lists": [self.config.list],
            "nonce": nonce,
            // we have no way to ask the member Pretix's check-in questions
            "questions_supported": false,
        });
        let (status, value) = self.call(
            http::Method::POST,
            self.config.endpoint("redeem")?,
            Some(body),
        )?;
        match (status, value["status"].as_str()) {
            (200 | 201, Some("ok")) => Ok(()),
            (400 | 404, Some("error")) => Err(refusal(value["reason"].as_str().unwrap_or(""))),
            (400, Some("incomplete")) => Err(Error::TicketRefused {
                reason: "incomplete".into(),
            }),
            (s, _) => Err(Error::PretixFailed(format!("check-in answered {s}"))),
        }
    }
}

#[cfg(test)]
mod tests;
