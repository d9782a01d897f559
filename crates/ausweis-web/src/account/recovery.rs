//! Recovery of an account whose password is lost.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /api/account/recovery/pgp/challenge` `{username}` | a text to sign, valid 10 minutes |
//! | `POST /api/account/recovery/pgp` `{signed_message \| signature + challenge, new_password}` | new password |
//! | `POST /api/account/recovery/email` `{email}` | a link by mail, if an account has the address |
//! | `POST /api/account/recovery/email/confirm` `{token, new_password}` | new password |
//!
//! The pages for the same, under `/account/recover`, are in [`super::recover_pages`].

use std::time::Duration;

use ausweis::account::Account;
use ausweis::email;
use ausweis::openpgp::{self, Proof};
use ausweis::password::{self, HashParams};
use ausweis::recovery::{self, Mail};
use ausweis::secret::Secret;
use ausweis::{config, Error, Result};
use http::{Method, StatusCode};
use serde_json::json;

use crate::{input, problem, reply, Env, OutboundRequest, Request, Response};

/// How long the relay may take to accept a mail.
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read from the relay, in bytes (only its status counts).
const RELAY_MAX_ANSWER: usize = 16 * 1024;

pub(super) fn handle(req: &Request, env: &Env, parts: &[&str]) -> Response {
    let m = req.method();
    let result = match (parts, m) {
        (["api", "account", "recovery", "pgp", "challenge"], &Method::POST) => challenge(req, env),
        (["api", "account", "recovery", "pgp"], &Method::POST) => with_signature(req, env),
        (["api", "account", "recovery", "email"], &Method::POST) => request_mail(req, env),
        (["api", "account", "recovery", "email", "confirm"], &Method::POST) => with_link(req, env),
        (["api", "account", "recovery", "pgp" | "email", ..], _) => {
            return problem::method_not_allowed("POST")
        }
        _ => return problem::not_found(),
    };
    result.unwrap_or_else(|e| problem::from_error(&e))
}

fn challenge(req: &Request, env: &Env) -> Result<Response> {
    let body = input::json_object(req, &["username"])?;
    let username = body.required("username", 256)?;
    let issued = recovery::challenge(env.kv, &username, env.now)?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({
            "challenge": issued.text,
            "expires_at": issued.expires,
            "next": "sign the challenge with your OpenPGP key (gpg --clearsign) and POST it \
        to /api/account/recovery/pgp as signed_message, with new_password",
        }),
    ))
}

fn with_signature(req: &Request, env: &Env) -> Result<Response> {
    let body = input::json_object(
        req,
        &["signed_message", "signature", "challenge", "new_password"],
    )?;
    let signed = body.optional("signed_message", openpgp::MAX_SIGNED_LEN)?;
    let signature = body.optional("signature", openpgp::MAX_SIGNED_LEN)?;
    let text = body.optional("challenge", 1024)?;
    let new = Secret::new(body.required("new_password", password::MAX_BYTES)?);
    let proof = match (&signed, &signature, &text) {
        (Some(m), None, None) => Proof::Cleartext(m),
        (None, Some(s), Some(t)) => Proof::Detached {
            signature: s,
            text: t,
        },
        _ => {
            return Err(Error::invalid(
                "invalid_proof",
                "send either signed_message (a cleartext-signed challenge), or signature \
(an armored detached signature) with challenge",
            ))
        }
    };
    let account = with_proof(env, &proof, &new)?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({"recovered": true, "username": account.username}),
    ))
}

/// Sets a new password after a signature over a live challenge (for the
/// JSON route and the page).
pub(super) fn with_proof(env: &Env, proof: &Proof<'_>, new: &Secret) -> Result<Account> {
    let hash = HashParams::from_vars(env.vars)?;
    let account = recovery::recover_with_signature(env.kv, &hash, proof, new, env.now)
        .inspect_err(|_| crate::log_event("recovery_pgp", "refused"))?;
    crate::log_event("recovery_pgp", "ok");
    Ok(account)
}

/// The relay's URL and token; recovery by mail is off without a URL.
pub(super) fn relay(env: &Env) -> Result<(String, Option<String>)> {
    let url = env.vars.get("mail_relay_url").unwrap_or_default();
    if url.trim().is_empty() {
        return Err(Error::MailRecoveryDisabled);
    }
    let token = env
        .vars
        .get("mail_relay_token")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    Ok((url.trim().to_owned(), token))
}

fn mail_body(env: &Env, mail: &Mail, minutes: u64) -> Result<Vec<u8>> {
    let issuer = config::text(env.vars, "issuer")?;
    let site = config::text(env.vars, "site_name").unwrap_or_else(|_| "ausweis".into());
    let link = format!(
        "{}/account/recover?token={}",
        issuer.trim_end_matches('/'),
        mail.token.expose()
    );
    let text = format!(
        "Someone, hopefully you, asked to recover the account \"{user}\" at {site}.\n\n\
To choose a new password, open this link within {minutes} minutes. It works once:\n\n\
{link}\n\n\
If you did not ask for this, ignore this mail: your password stays as it is.\n",
        user = mail.username,
    );
    serde_json::to_vec(&json!({
        "to": mail.to,
        "subject": format!("{site}: recover your account {}", mail.username),
        "text": text,
    }))
    .map_err(|e| Error::Internal(e.to_string()))
}

/// `POST /api/account/recovery/email` `{email}`: the same answer whether
/// an account has the address or not.
fn request_mail(req: &Request, env: &Env) -> Result<Response> {
    let body = input::json_object(req, &["email"])?;
    let address = body.required("email", email::MAX_LEN)?;
    mail_links(env, |minutes| {
        recovery::request_links(env.kv, &address, minutes * 60, env.now)
    })?;
    Ok(reply::json(
        StatusCode::ACCEPTED,
        &json!({
            "accepted": true,
            "message": "if an account has this address, a link to recover it is on its way",
        }),
    ))
}

/// Makes the recovery links with `links` (given their lifetime in
/// minutes) and sends each through the relay; a link whose mail the relay
/// does not take is dropped. Says nothing about how many there were.
pub(super) fn mail_links(env: &Env, links: impl FnOnce(u64) -> Result<Vec<Mail>>) -> Result<()> {
    let (url, token) = relay(env)?;
    let minutes = config::number(env.vars, "recovery_link_minutes", 5..=24 * 60)?;
    for mail in links(minutes)? {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(t) = &token {
            headers.push(("authorization".to_owned(), format!("Bearer {t}")));
        }
        let request = OutboundRequest {
            method: Method::POST,
            url: url.clone(),
            headers,
            body: mail_body(env, &mail, minutes)?,
            timeout: RELAY_TIMEOUT,
            max_body: RELAY_MAX_ANSWER,
        };
        match env.outbound.send(&request) {
            Ok(answer) if answer.status().is_success() => {
                crate::log_event("recovery_mail", "sent");
            }
            // the link is dropped; the answer stays the same, so that it
            // does not tell whether the address is known
            _ => {
                crate::log_event("recovery_mail", "relay_failed");
                recovery::forget_link(env.kv, &mail.token)?;
            }
        }
    }
    Ok(())
}

fn with_link(req: &Request, env: &Env) -> Result<Response> {
    let body = input::json_object(req, &["token", "new_password"])?;
    let token = Secret::new(body.required("token", 64)?);
    let new = Secret::new(body.required("new_password", password::MAX_BYTES)?);
    let account = with_token(env, &token, &new)?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({"recovered": true, "username": account.username}),
    ))
}

/// Sets a new password with a mailed link's token (for the JSON route and
/// the page).
pub(super) fn with_token(env: &Env, token: &Secret, new: &Secret) -> Result<Account> {
    let hash = HashParams::from_vars(env.vars)?;
    let account = recovery::recover_with_link(env.kv, &hash, token, new, env.now)
        .inspect_err(|_| crate::log_event("recovery_link", "refused"))?;
    crate::log_event("recovery_link", "ok");
    Ok(account)
}
