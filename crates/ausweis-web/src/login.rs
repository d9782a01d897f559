//! `POST /api/login`, `POST /api/logout`, `GET /api/session`.

use ausweis::login::{self, Settings};
use ausweis::password::{self, HashParams};
use ausweis::secret::Secret;
use ausweis::session::{self, Lifetimes};
use ausweis::{Error, Result};
use http::{header, HeaderValue, Method, StatusCode};
use serde::Serialize;

use crate::{cookie, input, problem, reply, Env, Request, Response};

#[derive(Serialize)]
struct SessionInfo<'a> {
    authenticated: bool,
    username: &'a str,
    auth_time: u64,
    expires_at: u64,
}

/// Handles the login component's routes.
pub fn handle(req: Request, env: &Env) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let result = match (path.as_str(), req.method()) {
        ("/api/login", &Method::POST) => log_in(&req, env),
        ("/api/login", _) => return problem::method_not_allowed("POST"),
        ("/api/logout", &Method::POST) => log_out(&req, env),
        ("/api/logout", _) => return problem::method_not_allowed("POST"),
        ("/api/session", &Method::GET) => current(&req, env),
        ("/api/session", _) => return problem::method_not_allowed("GET"),
        _ => return problem::not_found(),
    };
    result.unwrap_or_else(|e| problem::from_error(&e))
}

fn lifetimes(env: &Env) -> Result<Lifetimes> {
    Lifetimes::from_vars(env.vars)
}

fn with_cookie(mut resp: Response, value: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn log_in(req: &Request, env: &Env) -> Result<Response> {
    let body = input::json_object(req, &["username", "password"])?;
    let username = body.required("username", 256)?;
    let password = Secret::new(body.required("password", password::MAX_BYTES)?);
    let settings = Settings {
        hash: HashParams::from_vars(env.vars)?,
        sessions: lifetimes(env)?,
    };
    let done = match login::login(env.kv, &settings, &username, &password, env.now) {
        Ok(done) => done,
        Err(e) => {
            crate::log_event("login", "refused");
            return Err(e);
        }
    };
    crate::log_event("login", "ok");
    let resp = reply::json(
        StatusCode::OK,
        &SessionInfo {
            authenticated: true,
            username: &done.session.username,
            auth_time: done.session.auth_time,
            expires_at: done.expires,
        },
    );
    let cookie = cookie::set(req, done.session_id.expose(), settings.sessions.max);
    Ok(with_cookie(resp, cookie))
}

fn log_out(req: &Request, env: &Env) -> Result<Response> {
    if let Some(id) = cookie::session_id(req) {
        session::end(env.kv, &Secret::new(id))?;
    }
    crate::log_event("logout", "ok");
    let resp = reply::json(StatusCode::OK, &serde_json::json!({"logged_out": true}));
    Ok(with_cookie(resp, cookie::clear(req)))
}

fn current(req: &Request, env: &Env) -> Result<Response> {
    let id = cookie::session_id(req).ok_or(Error::NotAuthenticated)?;
    let found = session::lookup(env.kv, &lifetimes(env)?, &Secret::new(id), env.now)?;
    let (s, exp) = found.ok_or(Error::NotAuthenticated)?;
    Ok(reply::json(
        StatusCode::OK,
        &SessionInfo {
            authenticated: true,
            username: &s.username,
            auth_time: s.auth_time,
            expires_at: exp,
        },
    ))
}
