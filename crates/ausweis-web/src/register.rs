//! `POST /api/register`.

use ausweis::config;
use ausweis::password::{self, HashParams};
use ausweis::redeem;
use ausweis::register::{self, NewAccount, Settings};
use ausweis::secret::Secret;
use ausweis::{openpgp, Error, Result};
use http::{Method, StatusCode};
use serde::Serialize;

use crate::{cookie, input, problem, reply, Env, Request, Response};

#[derive(Serialize)]
struct Created<'a> {
    username: &'a str,
    public_key: &'a str,
    fingerprint: &'a str,
    /// Present only when the key pair was made here: shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<&'a str>,
}

/// Handles the register component's routes.
pub fn handle(req: Request, env: &Env) -> Response {
    if req.uri().path().trim_end_matches('/') != "/api/register" {
        return problem::not_found();
    }
    if req.method() != Method::POST {
        return problem::method_not_allowed("POST");
    }
    match run(&req, env) {
        Ok(resp) => resp,
        Err(e) => {
            crate::log_event("register", "refused");
            problem::from_error(&e)
        }
    }
}

fn run(req: &Request, env: &Env) -> Result<Response> {
    let body = input::json_object(req, &["username", "password", "email", "public_key"])?;
    // when the association sells accounts, a ticket redeemed in this
    // browser must be waiting (see `ausweis::redeem`).
    // TODO(#4): the ticket is checked in only when applied, so a ticket that
    // is never applied can open several registrations; check it in here.
    if redeem::requires_ticket(env.vars)? {
        let waiting = match cookie::redemption_id(req) {
            Some(c) => redeem::has_live_link(env.kv, &Secret::new(c), env.now)?,
            None => false,
        };
        if !waiting {
            return Err(Error::TicketRequired);
        }
    }
    let new = NewAccount {
        username: body.required("username", 256)?,
        password: Secret::new(body.required("password", password::MAX_BYTES)?),
        email: body.optional("email", ausweis::email::MAX_LEN)?,
        public_key: body.optional("public_key", openpgp::MAX_ARMORED_LEN)?,
    };
    let settings = Settings {
        hash: HashParams::from_vars(env.vars)?,
        mail_domain: config::text(env.vars, "mail_domain")?,
    };
    let done = register::register(env.kv, &settings, new, env.now)?;
    crate::log_event("register", "created");
    Ok(reply::json(
        StatusCode::CREATED,
        &Created {
            username: &done.account.username,
            public_key: &done.account.public_key,
            fingerprint: &done.account.fingerprint,
            private_key: done.private_key.as_ref().map(Secret::expose),
        },
    ))
}
