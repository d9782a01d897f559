//! The `account` component: what a member does to their own account.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /api/account/password` | change the password |
//! | `GET`, `POST`, `DELETE /api/account/two-factor`, `POST .../confirm` | second factor |
//! | `/api/account/recovery/...`, `/account/recover` | recovery, see [`recovery`] |
//! | `GET /api/account/export` | everything stored about the member |
//! | `DELETE /api/account` | delete the account |
//! | `/account`, `/account/...` | the same as pages, see [`pages`] and [`recover_pages`] |

mod pages;
mod recover_pages;
mod recovery;
mod second_factor;

use ausweis::password::{self, HashParams};
use ausweis::secret::Secret;
use ausweis::{config, credentials, erase, export, twofactor, Result};
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::json;

use crate::auth::{self, Member};
use crate::{cookie, input, problem, reply, Env, Request, Response};

/// Handles the account component's routes.
pub fn handle(req: Request, env: &Env) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let result = match (parts.as_slice(), req.method()) {
        (["api", "account"], &Method::DELETE) => delete(&req, env),
        (["api", "account"], _) => return problem::method_not_allowed("DELETE"),
        (["api", "account", "password"], &Method::POST) => change_password(&req, env),
        (["api", "account", "password"], _) => return problem::method_not_allowed("POST"),
        (["api", "account", "two-factor"], &Method::GET) => two_factor_status(&req, env),
        (["api", "account", "two-factor"], &Method::POST) => enrol(&req, env),
        (["api", "account", "two-factor"], &Method::DELETE) => disable(&req, env),
        (["api", "account", "two-factor"], _) => {
            return problem::method_not_allowed("GET, POST, DELETE")
        }
        (["api", "account", "two-factor", "confirm"], &Method::POST) => confirm(&req, env),
        (["api", "account", "two-factor", "confirm"], _) => {
            return problem::method_not_allowed("POST")
        }
        (["api", "account", "export"], &Method::GET) => export(&req, env),
        (["api", "account", "export"], _) => return problem::method_not_allowed("GET"),
        (["api", "account", "recovery", ..], _) => return recovery::handle(&req, env, &parts),
        (["account", "recover", ..], _) => return recover_pages::handle(&req, env, &parts),
        (["account", ..], _) => return pages::handle(&req, env, &parts),
        _ => return problem::not_found(),
    };
    result.unwrap_or_else(|e| problem::from_error(&e))
}

/// The name authenticator apps show for this server.
fn site_name(env: &Env) -> String {
    config::text(env.vars, "site_name").unwrap_or_else(|_| "ausweis".into())
}

/// `POST /api/account/password` `{current_password, new_password}`.
fn change_password(req: &Request, env: &Env) -> Result<Response> {
    let me = auth::member(req, env)?;
    auth::same_origin(req, env)?;
    let body = input::json_object(req, &["current_password", "new_password"])?;
    let current = Secret::new(body.required("current_password", password::MAX_BYTES)?);
    let new = Secret::new(body.required("new_password", password::MAX_BYTES)?);
    let ended = set_password(env, &me, &current, &new)?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({"changed": true, "other_sessions_ended": ended}),
    ))
}

/// Changes the member's password and ends their other sessions (for the
/// JSON route and the page alike); returns how many ended.
fn set_password(env: &Env, me: &Member, current: &Secret, new: &Secret) -> Result<usize> {
    let hash = HashParams::from_vars(env.vars)?;
    let keep = (me.key.as_str(), me.session.sid.as_str());
    let ended =
        credentials::change_password(env.kv, &hash, &me.account, current, new, keep, env.now)
            .inspect_err(|_| crate::log_event("password_change", "refused"))?;
    crate::log_event("password_change", "ok");
    Ok(ended)
}

fn two_factor_status(req: &Request, env: &Env) -> Result<Response> {
    let me = auth::member(req, env)?;
    let body = match twofactor::get(env.kv, &me.account.id)? {
        Some((t, _)) if t.enabled => {
            json!({"enabled": true, "recovery_codes_left": t.recovery.len()})
        }
        Some(_) => json!({"enabled": false, "enrolment_pending": true}),
        None => json!({"enabled": false}),
    };
    Ok(reply::json(StatusCode::OK, &body))
}

/// `POST /api/account/two-factor`: a new secret and its `otpauth://` URI;
/// on only after `confirm`.
fn enrol(req: &Request, env: &Env) -> Result<Response> {
    let me = auth::member(req, env)?;
    auth::same_origin(req, env)?;
    let e = start_enrolment(env, &me)?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({
            "secret": e.secret.expose(),
            "otpauth_uri": e.uri.expose(),
            "algorithm": "SHA1", "digits": 6, "period": 30,
            "next": "POST /api/account/two-factor/confirm with {\"code\": \"<current code>\"}",
        }),
    ))
}

/// Starts enrolment of a second factor (for the JSON route and the page).
fn start_enrolment(env: &Env, me: &Member) -> Result<twofactor::Enrolment> {
    let e = twofactor::begin(
        env.kv,
        &me.account.id,
        &me.account.username,
        &site_name(env),
        env.now,
    )?;
    crate::log_event("two_factor", "enrolment_started");
    Ok(e)
}

fn code(req: &Request) -> Result<Secret> {
    let body = input::json_object(req, &["code"])?;
    Ok(Secret::new(body.required("code", 64)?))
}

/// `POST /api/account/two-factor/confirm` `{code}`: turns the factor on
/// and shows the recovery codes, once.
fn confirm(req: &Request, env: &Env) -> Result<Response> {
    let me = auth::member(req, env)?;
    auth::same_origin(req, env)?;
    let code = code(req)?;
    let codes = confirm_enrolment(env, &me, &code)?;
    let shown: Vec<&str> = codes.iter().map(Secret::expose).collect();
    Ok(reply::json(
        StatusCode::OK,
        &json!({"enabled": true, "recovery_codes": shown}),
    ))
}

/// Turns the second factor on with a first code; returns the recovery
/// codes (for the JSON route and the page).
fn confirm_enrolment(env: &Env, me: &Member, code: &Secret) -> Result<Vec<Secret>> {
    let codes = twofactor::confirm(env.kv, &me.account.id, code.expose(), env.now)
        .inspect_err(|_| crate::log_event("two_factor", "confirm_refused"))?;
    crate::log_event("two_factor", "enabled");
    Ok(codes)
}

/// `DELETE /api/account/two-factor` `{code}`.
fn disable(req: &Request, env: &Env) -> Result<Response> {
    let me = auth::member(req, env)?;
    auth::same_origin(req, env)?;
    let code = code(req)?;
    turn_off(env, &me, &code)?;
    Ok(reply::json(StatusCode::OK, &json!({"enabled": false})))
}

/// Turns the second factor off with a code (for the JSON route and the page).
fn turn_off(env: &Env, me: &Member, code: &Secret) -> Result<()> {
    twofactor::disable(env.kv, &me.account.id, code.expose(), env.now)
        .inspect_err(|_| crate::log_event("two_factor", "disable_refused"))?;
    crate::log_event("two_factor", "disabled");
    Ok(())
}

/// `GET /api/account/export`: everything stored about the member.
fn export(req: &Request, env: &Env) -> Result<Response> {
    let me = auth::member(req, env)?;
    let doc = export::export(env.kv, &me.account, env.now)?;
    crate::log_event("export", "ok");
    let mut resp = reply::json(StatusCode::OK, &doc);
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"ausweis-export.json\""),
    );
    Ok(resp)
}

/// `DELETE /api/account` `{password, code?}`: deletes the account and
/// everything of it; the code is needed when the second factor is on.
fn delete(req: &Request, env: &Env) -> Result<Response> {
    let me = auth::member(req, env)?;
    auth::same_origin(req, env)?;
    let body = input::json_object(req, &["password", "code"])?;
    let password = Secret::new(body.required("password", password::MAX_BYTES)?);
    let code = body.optional("code", 64)?.map(Secret::new);
    erase_account(env, &me, &password, code.as_ref())?;
    let mut resp = reply::json(StatusCode::OK, &json!({"deleted": true}));
    if let Ok(v) = HeaderValue::from_str(&cookie::clear(req)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Deletes the member's account after checking the password and, when the
/// second factor is on, a code (for the JSON route and the page alike).
fn erase_account(env: &Env, me: &Member, password: &Secret, code: Option<&Secret>) -> Result<()> {
    let hash = HashParams::from_vars(env.vars)?;
    credentials::reauthenticate(
        env.kv,
        &hash,
        &me.account,
        password,
        code.map(Secret::expose),
        true,
        env.now,
    )
    .inspect_err(|_| crate::log_event("account_delete", "refused"))?;
    erase::erase(env.kv, &me.account, env.now)?;
    crate::log_event("account_delete", "ok");
    Ok(())
}
