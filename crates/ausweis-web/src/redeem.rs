//! `POST /api/redeem` and `POST /api/redeem/apply`: Pretix tickets into
//! permissions. See `ausweis::redeem` for the steps and their order.
//!
//! - `POST /api/redeem {secret}`: checks the ticket at Pretix and keeps a
//!   short-lived link in this browser (a cookie of its own). Logged in, it
//!   also applies it at once; otherwise it answers what the ticket grants
//!   and waits for a login or a registration.
//! - `POST /api/redeem/apply {}`: logged in, applies the waiting link.

use ausweis::config;
use ausweis::entitlements::{Entitlement, EntitlementMap};
use ausweis::redeem::{self, Applied, Pending, Settings, MAX_SECRET_LEN};
use ausweis::secret::Secret;
use ausweis::session::{self, Lifetimes, Session};
use ausweis::{Error, Result};
use http::{header, HeaderValue, Method, StatusCode};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::pretix::{Pretix, PretixConfig};
use crate::{cookie, input, problem, reply, Env, Request, Response};

#[derive(Serialize)]
struct Answer<'a> {
    /// `pending` (waiting for an account) or `applied`.
    status: &'static str,
    /// What the ticket grants.
    grants: &'a Entitlement,
    /// Pending: when the link expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    /// Applied: whether the account is a member now.
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<bool>,
    /// Applied: the granted permissions and their new expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<&'a BTreeMap<String, u64>>,
}

/// Handles the redeem component's routes.
pub fn handle(req: Request, env: &Env) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    match (path.as_str(), req.method()) {
        ("/api/redeem", &Method::POST) => redeem_route(&req, env),
        ("/api/redeem/apply", &Method::POST) => apply_route(&req, env),
        ("/api/redeem" | "/api/redeem/apply", _) => problem::method_not_allowed("POST"),
        _ => problem::not_found(),
    }
}

fn settings(env: &Env, pretix: &PretixConfig) -> Result<Settings> {
    Ok(Settings {
        lifetime: config::number(env.vars, "redemption_minutes", 1..=24 * 60)? * 60,
        // the whole Pretix call plus the store writes around it
        lease: pretix.timeout.as_secs() + 3,
        map: EntitlementMap::parse(&env.vars.get("item_entitlements").unwrap_or_default())?,
    })
}

fn logged_in(req: &Request, env: &Env) -> Result<Option<Session>> {
    let Some(id) = cookie::session_id(req) else {
        return Ok(None);
    };
    let life = Lifetimes::from_vars(env.vars)?;
    Ok(session::lookup(env.kv, &life, &Secret::new(id), env.now)?.map(|(s, _)| s))
}

fn with_cookie(mut resp: Response, value: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn pending(req: &Request, env: &Env, cookie: &Secret, p: &Pending) -> Response {
    let resp = reply::json(
        StatusCode::OK,
        &Answer {
            status: "pending",
            grants: &p.grants,
            expires_at: Some(p.expires_at),
            member: None,
            permissions: None,
        },
    );
    let max_age = p.expires_at.saturating_sub(env.now);
    with_cookie(resp, cookie::set_redemption(req, cookie.expose(), max_age))
}

fn applied(req: &Request, a: &Applied) -> Response {
    let resp = reply::json(
        StatusCode::OK,
        &Answer {
            status: "applied",
            grants: &a.grants,
            expires_at: None,
            member: Some(a.member),
            permissions: Some(&a.permissions),
        },
    );
    with_cookie(resp, cookie::clear_redemption(req))
}

/// An error answer, keeping the redemption cookie while its link may still
/// be retried and clearing it once the ticket is refused for good.
fn failed(req: &Request, e: &Error, cookie: &Secret, max_age: u64) -> Response {
    let resp = refused(e);
    match e {
        Error::TicketUnknown
        | Error::TicketRedeemed
        | Error::TicketUnpaid
        | Error::TicketCancelled
        | Error::TicketRefused { .. }
        | Error::NoRedemption => with_cookie(resp, cookie::clear_redemption(req)),
        _ => with_cookie(resp, cookie::set_redemption(req, cookie.expose(), max_age)),
    }
}

fn redeem_route(req: &Request, env: &Env) -> Response {
    let prepared = (|| -> Result<_> {
        let body = input::json_object(req, &["secret"])?;
        let secret = Secret::new(body.required("secret", MAX_SECRET_LEN)?);
        redeem::check_secret(secret.expose())?;
        let pretix = PretixConfig::from_vars(env.vars)?;
        let settings = settings(env, &pretix)?;
        let user = logged_in(req, env)?;
        Ok((secret, pretix, settings, user))
    })();
    let (secret, pretix, settings, user) = match prepared {
        Ok(p) => p,
        Err(e) => return refused(&e),
    };
    let shop = Pretix::new(&pretix, env.outbound);
    let cookie = cookie::redemption_id(req)
        .filter(|c| redeem::well_formed_cookie(c))
        .map(Secret::new)
        .unwrap_or_else(redeem::new_cookie);

    // step 1: nothing is stored unless the ticket can be redeemed
    let p = match redeem::start(env.kv, &shop, &settings, &cookie, &secret, env.now) {
        Ok(p) => p,
        Err(e) => return refused(&e),
    };
    let Some(user) = user else {
        crate::log_event("redeem", "pending");
        return pending(req, env, &cookie, &p);
    };

    // step 2 at once for a member who is logged in
    match redeem::apply(env.kv, &shop, &settings, &cookie, &user.account_id, env.now) {
        Ok(a) => {
            crate::log_event("redeem", "applied");
            applied(req, &a)
        }
        Err(e) => failed(req, &e, &cookie, settings.lifetime),
    }
}

fn apply_route(req: &Request, env: &Env) -> Response {
    let prepared = (|| -> Result<_> {
        // a JSON body, so that a cross-site form cannot trigger it
        input::json_object(req, &[])?;
        let pretix = PretixConfig::from_vars(env.vars)?;
        let settings = settings(env, &pretix)?;
        let user = logged_in(req, env)?.ok_or(Error::NotAuthenticated)?;
        let cookie = cookie::redemption_id(req)
            .filter(|c| redeem::well_formed_cookie(c))
            .map(Secret::new)
            .ok_or(Error::NoRedemption)?;
        Ok((pretix, settings, user, cookie))
    })();
    let (pretix, settings, user, cookie) = match prepared {
        Ok(p) => p,
        Err(e) => return refused(&e),
    };
    let shop = Pretix::new(&pretix, env.outbound);
    match redeem::apply(env.kv, &shop, &settings, &cookie, &user.account_id, env.now) {
        Ok(a) => {
            crate::log_event("redeem", "applied");
            applied(req, &a)
        }
        Err(e) => failed(req, &e, &cookie, settings.lifetime),
    }
}

fn refused(e: &Error) -> Response {
    crate::log_event("redeem", "refused");
    problem::from_error(e)
}

#[cfg(test)]
mod tests;
