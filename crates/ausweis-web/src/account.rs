//! The `account` component: what a member does to their own account.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /api/account/password` | change the password |
//! | `GET`, `POST`, `DELETE /api/account/two-factor`, `POST .../confirm` | second factor |
//! | `/api/account/recovery/...`, `/account/recover` | recovery, see [`recovery`] |
//! | `GET /api/account/export` | everything stored about the member |
//! | `DELETE /api/account` | delete the account |

mod recovery;

use ausweis::password::{self, HashParams};
use ausweis::secret::Secret;
use ausweis::{config, credentials, erase, export, twofactor, Result};
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::json;

use crate::{auth, cookie, input, problem, reply, Env, Request, Response};

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
        (["api", "account", "recovery", ..], _) | (["account", "recover"], _) => {
            return recovery::handle(&req, env, &parts)
        }
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
    let hash = HashParams::from_vars(env.vars)?;
    let keep = (me.key.as_str(), me.session.sid.as_str());
    let ended =
        credentials::change_password(env.kv, &hash, &me.account, &current, &new, keep, env.now)
            .inspect_err(|_| crate::log_event("password_change", "refused"))?;
    crate::log_event("password_change", "ok");
    Ok(reply::json(
        StatusCode::OK,
        &json!({"changed": true, "other_sessions_ended": ended}),
    ))
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
    let e = twofactor::begin(
        env.kv,
        &me.account.id,
        &me.account.username,
        &site_name(env),
        env.now,
    )?;
    crate::log_event("two_factor", "enrolment_started");
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
    let codes = twofactor::confirm(env.kv, &me.account.id, code.expose(), env.now)
        .inspect_err(|_| crate::log_event("two_factor", "confirm_refused"))?;
    crate::log_event("two_factor", "enabled");
    let shown: Vec<&str> = codes.iter().map(Secret::expose).collect();
    Ok(reply::json(
        StatusCode::OK,
        &json!({"enabled": true, "recovery_codes": shown}),
    ))
}

/// `DELETE /api/account/two-factor` `{code}`.
fn disable(req: &Request, env: &Env) -> Result<Response> {
    let me = auth::member(req, env)?;
    auth::same_origin(req, env)?;
    let code = code(req)?;
    twofactor::disable(env.kv, &me.account.id, code.expose(), env.now)
        .inspect_err(|_| crate::log_event("two_factor", "disable_refused"))?;
    crate::log_event("two_factor", "disabled");
    Ok(reply::json(StatusCode::OK, &json!({"enabled": false})))
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
    let hash = HashParams::from_vars(env.vars)?;
    credentials::reauthenticate(
        env.kv,
        &hash,
        &me.account,
        &password,
        code.as_ref().map(Secret::expose),
        true,
        env.now,
    )
    .inspect_err(|_| crate::log_event("account_delete", "refused"))?;
    erase::erase(env.kv, &me.account, env.now)?;
    crate::log_event("account_delete", "ok");
    let mut resp = reply::json(StatusCode::OK, &json!({"deleted": true}));
    if let Ok(v) = HeaderValue::from_str(&cookie::clear(req)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}
