//! `POST /api/register` and the register page (`/register`, see [`page`]).
//! Both make the account through [`create`].

mod page;

use ausweis::config;
use ausweis::password::{self, HashParams};
use ausweis::redeem;
use ausweis::register::{self, NewAccount, Registered, Settings};
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
    match (req.uri().path().trim_end_matches('/'), req.method()) {
        ("/api/register", &Method::POST) => api(&req, env),
        ("/api/register", _) => problem::method_not_allowed("POST"),
        ("/register", &Method::GET) => page::show(&req, env),
        ("/register", &Method::POST) => page::submit(&req, env),
        ("/register", _) => problem::method_not_allowed("GET, POST"),
        _ => problem::not_found(),
    }
}

fn api(req: &Request, env: &Env) -> Response {
    let result = input::json_object(req, &["username", "password", "email", "public_key"])
        .and_then(|body| {
            Ok(NewAccount {
                username: body.required("username", 256)?,
                password: Secret::new(body.required("password", password::MAX_BYTES)?),
                email: body.optional("email", ausweis::email::MAX_LEN)?,
                public_key: body.optional("public_key", openpgp::MAX_ARMORED_LEN)?,
            })
        })
        .and_then(|new| create(req, env, new));
    match result {
        Ok(done) => reply::json(
            StatusCode::CREATED,
            &Created {
                username: &done.account.username,
                public_key: &done.account.public_key,
                fingerprint: &done.account.fingerprint,
                private_key: done.private_key.as_ref().map(Secret::expose),
            },
        ),
        Err(e) => {
            crate::log_event("register", "refused");
            problem::from_error(&e)
        }
    }
}

/// Whether a redeemed ticket waits in this browser (see `ausweis::redeem`).
fn ticket_waiting(req: &Request, env: &Env) -> Result<bool> {
    match cookie::redemption_id(req) {
        Some(c) => redeem::has_live_link(env.kv, &Secret::new(c), env.now),
        None => Ok(false),
    }
}

/// When the association sells accounts, a ticket redeemed in this browser
/// must be waiting.
// TODO(#4): the ticket is checked in only when applied, so a ticket that
// is never applied can open several registrations; check it in here.
fn check_ticket(req: &Request, env: &Env) -> Result<()> {
    if redeem::requires_ticket(env.vars)? && !ticket_waiting(req, env)? {
        return Err(Error::TicketRequired);
    }
    Ok(())
}

/// The one way an account is made, for the API and the page alike.
fn create(req: &Request, env: &Env, new: NewAccount) -> Result<Registered> {
    check_ticket(req, env)?;
    let settings = Settings {
        hash: HashParams::from_vars(env.vars)?,
        mail_domain: config::text(env.vars, "mail_domain")?,
    };
    let done = register::register(env.kv, &settings, new, env.now)?;
    crate::log_event("register", "created");
    Ok(done)
}
