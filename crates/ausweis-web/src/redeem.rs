//! `POST /api/redeem` and `POST /api/redeem/apply`: Pretix tickets into
//! permissions. See `ausweis::redeem` for the steps and their order.
//!
//! - `POST /api/redeem {secret}`: checks the ticket at Pretix and keeps a
//!   short-lived link in this browser (a cookie of its own). Logged in, it
//!   also applies it at once; otherwise it answers what the ticket grants
//!   and waits for a login or a registration.
//! - `POST /api/redeem/apply {}`: logged in, applies the waiting link.
//! - The redeem page, `/redeem` and `POST /redeem/apply`, does the same
//!   through the same steps (see [`page`]).

mod page;

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
        ("/redeem", &Method::GET) => page::show(&req, env),
        ("/redeem", &Method::POST) => page::redeem(&req, env),
        ("/redeem", _) => problem::method_not_allowed("GET, POST"),
        ("/redeem/apply", &Method::POST) => page::apply(&req, env),
        ("/redeem/apply", _) => problem::method_not_allowed("POST"),
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

/// This browser's redemption cookie, if it has the shape we make.
fn sent_cookie(req: &Request) -> Option<Secret> {
    cookie::redemption_id(req)
        .filter(|c| redeem::well_formed_cookie(c))
        .map(Secret::new)
}

/// Whether a checked ticket waits in this browser.
fn waiting(req: &Request, env: &Env) -> Result<bool> {
    match sent_cookie(req) {
        Some(c) => redeem::has_live_link(env.kv, &c, env.now),
        None => Ok(false),
    }
}

fn with_cookie(mut resp: Response, value: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// Where a redemption got to.
enum Redeemed {
    /// Checked, waiting in this browser for an account.
    Pending(Pending),
    /// Granted to the logged-in account.
    Applied(Applied),
}

/// What a redemption request ended in, and the `Set-Cookie` value for the
/// redemption cookie, if it changes. The API and the page answer from it.
struct Outcome {
    result: Result<Redeemed>,
    cookie: Option<String>,
}

impl Outcome {
    fn refused(e: Error) -> Outcome {
        crate::log_event("redeem", "refused");
        Outcome {
            result: Err(e),
            cookie: None,
        }
    }

    fn pending(req: &Request, env: &Env, cookie: &Secret, p: Pending) -> Outcome {
        crate::log_event("redeem", "pending");
        let max_age = p.expires_at.saturating_sub(env.now);
        Outcome {
            result: Ok(Redeemed::Pending(p)),
            cookie: Some(cookie::set_redemption(req, cookie.expose(), max_age)),
        }
    }

    /// The answer of a step 2: keeps the redemption cookie while its link
    /// may still be retried and clears it once applied or refused for good.
    fn applied(req: &Request, r: Result<Applied>, cookie: &Secret, max_age: u64) -> Outcome {
        let keep = match &r {
            Ok(_) => {
                crate::log_event("redeem", "applied");
                false
            }
            Err(e) => {
                crate::log_event("redeem", "refused");
                !matches!(
                    e,
                    Error::TicketUnknown
                        | Error::TicketRedeemed
                        | Error::TicketUnpaid
                        | Error::TicketCancelled
                        | Error::TicketRefused { .. }
                        | Error::NoRedemption
                )
            }
        };
        let cookie = if keep {
            cookie::set_redemption(req, cookie.expose(), max_age)
        } else {
            cookie::clear_redemption(req)
        };
        Outcome {
            result: r.map(Redeemed::Applied),
            cookie: Some(cookie),
        }
    }

    /// Adds the cookie change to a response.
    fn attach(&self, resp: Response) -> Response {
        match &self.cookie {
            Some(c) => with_cookie(resp, c.clone()),
            None => resp,
        }
    }
}

/// Redeems a ticket: checks it at Pretix and keeps the link in this
/// browser; applies it at once when someone is logged in.
fn redeem_secret(req: &Request, env: &Env, secret: &Secret) -> Outcome {
    let prepared = (|| -> Result<_> {
        redeem::check_secret(secret.expose())?;
        let pretix = PretixConfig::from_vars(env.vars)?;
        let settings = settings(env, &pretix)?;
        let user = logged_in(req, env)?;
        Ok((pretix, settings, user))
    })();
    let (pretix, settings, user) = match prepared {
        Ok(p) => p,
        Err(e) => return Outcome::refused(e),
    };
    let shop = Pretix::new(&pretix, env.outbound);
    let cookie = sent_cookie(req).unwrap_or_else(redeem::new_cookie);

    // step 1: nothing is stored unless the ticket can be redeemed
    let p = match redeem::start(env.kv, &shop, &settings, &cookie, secret, env.now) {
        Ok(p) => p,
        Err(e) => return Outcome::refused(e),
    };
    let Some(user) = user else {
        return Outcome::pending(req, env, &cookie, p);
    };

    // step 2 at once for a member who is logged in
    let r = redeem::apply(env.kv, &shop, &settings, &cookie, &user.account_id, env.now);
    Outcome::applied(req, r, &cookie, settings.lifetime)
}

/// Applies the ticket waiting in this browser to the logged-in account.
fn apply_waiting(req: &Request, env: &Env) -> Outcome {
    let prepared = (|| -> Result<_> {
        let pretix = PretixConfig::from_vars(env.vars)?;
        let settings = settings(env, &pretix)?;
        let user = logged_in(req, env)?.ok_or(Error::NotAuthenticated)?;
        let cookie = sent_cookie(req).ok_or(Error::NoRedemption)?;
        Ok((pretix, settings, user, cookie))
    })();
    let (pretix, settings, user, cookie) = match prepared {
        Ok(p) => p,
        Err(e) => return Outcome::refused(e),
    };
    let shop = Pretix::new(&pretix, env.outbound);
    let r = redeem::apply(env.kv, &shop, &settings, &cookie, &user.account_id, env.now);
    Outcome::applied(req, r, &cookie, settings.lifetime)
}

/// The API's answer to an outcome.
fn answer(o: &Outcome) -> Response {
    let resp = match &o.result {
        Ok(Redeemed::Pending(p)) => reply::json(
            StatusCode::OK,
            &Answer {
                status: "pending",
                grants: &p.grants,
                expires_at: Some(p.expires_at),
                member: None,
                permissions: None,
            },
        ),
        Ok(Redeemed::Applied(a)) => reply::json(
            StatusCode::OK,
            &Answer {
                status: "applied",
                grants: &a.grants,
                expires_at: None,
                member: Some(a.member),
                permissions: Some(&a.permissions),
            },
        ),
        Err(e) => problem::from_error(e),
    };
    o.attach(resp)
}

fn redeem_route(req: &Request, env: &Env) -> Response {
    let secret = input::json_object(req, &["secret"])
        .and_then(|body| body.required("secret", MAX_SECRET_LEN))
        .map(Secret::new);
    match secret {
        Ok(secret) => answer(&redeem_secret(req, env, &secret)),
        Err(e) => answer(&Outcome::refused(e)),
    }
}

fn apply_route(req: &Request, env: &Env) -> Response {
    // a JSON body, so that a cross-site form cannot trigger it
    match input::json_object(req, &[]) {
        Ok(_) => answer(&apply_waiting(req, env)),
        Err(e) => answer(&Outcome::refused(e)),
    }
}

#[cfg(test)]
mod tests;
