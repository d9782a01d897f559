//! `POST /api/login` (and `POST /api/login/otp`, the second step when
//! two-factor authentication is on), `POST /api/logout`, `GET /api/session`,
//! the login page (`/login`, with its code step) and `POST /logout`.

use ausweis::login::{self, LoggedIn, Outcome, Settings};
use ausweis::password::{self, HashParams};
use ausweis::secret::Secret;
use ausweis::session::{self, Lifetimes};
use ausweis::{Error, Result};
use http::{header, HeaderValue, Method, StatusCode};
use serde::Serialize;

use crate::csrf::{self, Csrf};
use crate::html::{self, escape};
use crate::i18n::Lang;
use crate::{cookie, form, input, problem, reply, Env, Request, Response};

#[derive(Serialize)]
struct SessionInfo<'a> {
    authenticated: bool,
    username: &'a str,
    auth_time: u64,
    expires_at: u64,
    /// Authentication methods (RFC 8176): `pwd`, and `otp` after a code.
    amr: &'a [String],
}

/// The answer to a right password when a code must follow.
#[derive(Serialize)]
struct SecondStep<'a> {
    authenticated: bool,
    second_factor: &'static str,
    /// Send it back with the code to `POST /api/login/otp`.
    pending: &'a str,
    expires_at: u64,
}

/// Handles the login component's routes.
pub fn handle(req: Request, env: &Env) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let result = match (path.as_str(), req.method()) {
        ("/api/login", &Method::POST) => log_in(&req, env),
        ("/api/login", _) => return problem::method_not_allowed("POST"),
        ("/api/login/otp", &Method::POST) => second_step(&req, env),
        ("/api/login/otp", _) => return problem::method_not_allowed("POST"),
        ("/api/logout", &Method::POST) => log_out(&req, env),
        ("/api/logout", _) => return problem::method_not_allowed("POST"),
        ("/api/session", &Method::GET) => current(&req, env),
        ("/api/session", _) => return problem::method_not_allowed("GET"),
        ("/login", &Method::GET) => Ok(login_page(&req, None, StatusCode::OK)),
        ("/login", &Method::POST) => login_form(&req, env),
        ("/login", _) => return problem::method_not_allowed("GET, POST"),
        ("/logout", &Method::POST) => logout_form(&req, env),
        ("/logout", _) => return problem::method_not_allowed("POST"),
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

fn settings(env: &Env) -> Result<Settings> {
    Ok(Settings {
        hash: HashParams::from_vars(env.vars)?,
        sessions: lifetimes(env)?,
    })
}

/// The answer to a completed login: the session and its cookie.
fn logged_in(req: &Request, env: &Env, settings: &Settings, done: &LoggedIn) -> Response {
    crate::log_event("login", "ok");
    end_previous(req, env, done);
    let resp = reply::json(
        StatusCode::OK,
        &SessionInfo {
            authenticated: true,
            username: &done.session.username,
            auth_time: done.session.auth_time,
            expires_at: done.expires,
            amr: &done.session.amr,
        },
    );
    let cookie = cookie::set(req, done.session_id.expose(), settings.sessions.max);
    with_cookie(resp, cookie)
}

fn log_in(req: &Request, env: &Env) -> Result<Response> {
    let body = input::json_object(req, &["username", "password"])?;
    let username = body.required("username", 256)?;
    let password = Secret::new(body.required("password", password::MAX_BYTES)?);
    let settings = settings(env)?;
    match login::login(env.kv, &settings, &username, &password, env.now) {
        Ok(Outcome::Done(done)) => Ok(logged_in(req, env, &settings, &done)),
        Ok(Outcome::SecondFactor(p)) => {
            crate::log_event("login", "second_factor");
            Ok(reply::json(
                StatusCode::OK,
                &SecondStep {
                    authenticated: false,
                    second_factor: "totp",
                    pending: p.token.expose(),
                    expires_at: p.expires,
                },
            ))
        }
        Err(e) => {
            crate::log_event("login", "refused");
            Err(e)
        }
    }
}

/// `POST /api/login/otp` `{pending, code}`: the code of the second factor.
fn second_step(req: &Request, env: &Env) -> Result<Response> {
    let body = input::json_object(req, &["pending", "code"])?;
    let pending = Secret::new(body.required("pending", 64)?);
    let code = Secret::new(body.required("code", 64)?);
    let settings = settings(env)?;
    match login::complete(env.kv, &settings, &pending, code.expose(), env.now) {
        Ok(done) => Ok(logged_in(req, env, &settings, &done)),
        Err(e) => {
            crate::log_event("login_code", "refused");
            Err(e)
        }
    }
}

fn log_out(req: &Request, env: &Env) -> Result<Response> {
    crate::auth::same_origin(req, env)?;
    let resp = reply::json(StatusCode::OK, &serde_json::json!({"logged_out": true}));
    end_session(req, env, resp)
}

/// Ends the browser's session, if any, and clears its cookie on `resp`:
/// the one logout of the API and of the page's button.
fn end_session(req: &Request, env: &Env, resp: Response) -> Result<Response> {
    if let Some(id) = cookie::session_id(req) {
        session::end(env.kv, &Secret::new(id))?;
    }
    crate::log_event("logout", "ok");
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
            amr: &s.amr,
        },
    ))
}

/// Where the login page may send the member afterwards: back into the
/// sign-in flow or to one of our own pages, never to another site.
pub fn safe_return(target: Option<&str>) -> String {
    const PAGES: [&str; 5] = ["/", "/profile", "/account", "/redeem", "/oidc/authorize?"];
    match target {
        Some(t)
            if PAGES.iter().any(|p| {
                t == p.trim_end_matches('?') || (p.ends_with('?') && t.starts_with(p))
            }) && !t.contains('\\')
                && t.is_ascii()
                && !t.chars().any(char::is_control) =>
        {
            t.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn login_page(req: &Request, error: Option<&str>, status: StatusCode) -> Response {
    let lang = Lang::of(req);
    let csrf = Csrf::issue(req);
    let pairs = if req.method() == Method::POST {
        form::body(req)
    } else {
        form::query(req)
    };
    let return_to = safe_return(form::single(&pairs, "return_to").ok().flatten());
    let hint = form::single(&pairs, "login_hint")
        .ok()
        .flatten()
        .or(form::single(&pairs, "username").ok().flatten())
        .unwrap_or("");
    let error = error.map(html::alert).unwrap_or_default();
    let mut register = url::form_urlencoded::Serializer::new(String::new());
    register.append_pair("return_to", &return_to);
    csrf.attach(html::page(
        lang,
        status,
        lang.t("Log in", "Anmelden"),
        &format!(
            "{error}<form method=\"post\" action=\"/login\">{}{}{}{}\
<button>{}</button></form>\
<p><a href=\"/register?{}\">{}</a> · <a href=\"/account/recover\">{}</a></p>",
            csrf.field(),
            html::hidden("return_to", &return_to),
            html::input(
                "username",
                lang.t("Username", "Benutzername"),
                &format!(
                    "autocomplete=\"username\" autocapitalize=\"none\" required value=\"{}\"",
                    escape(hint)
                )
            ),
            html::input(
                "password",
                lang.t("Password", "Passwort"),
                "type=\"password\" autocomplete=\"current-password\" required"
            ),
            lang.t("Log in", "Anmelden"),
            escape(&register.finish()),
            lang.t("No account yet? Register", "Noch kein Konto? Registrieren"),
            lang.t("Forgot your password?", "Passwort vergessen?"),
        ),
    ))
}

/// The second page of a login with two-factor authentication: the code.
fn code_page(
    req: &Request,
    return_to: &str,
    pending: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let lang = Lang::of(req);
    let csrf = Csrf::issue(req);
    let error = error.map(html::alert).unwrap_or_default();
    csrf.attach(html::page(
        lang,
        status,
        lang.t("Enter your code", "Code eingeben"),
        &format!(
            "{error}<form method=\"post\" action=\"/login\">{}{}{}{}<button>{}</button></form>",
            csrf.field(),
            html::hidden("return_to", return_to),
            html::hidden("pending", pending),
            html::input(
                "code",
                lang.t(
                    "Code from your authenticator app, or a recovery code",
                    "Code aus deiner Authenticator-App oder ein Wiederherstellungscode"
                ),
                "autocomplete=\"one-time-code\" required autofocus"
            ),
            lang.t("Continue", "Weiter"),
        ),
    ))
}

/// A login as another member ends the session the browser held, so a
/// cookie left behind (or planted) stops working. A new login of the same
/// member leaves the old session to its lifetime: ending it would also end
/// the sign-ins it made at services (a forced re-login must not do that).
/// A store failure here does not stop the new login.
fn end_previous(req: &Request, env: &Env, done: &LoggedIn) {
    let Some(id) = cookie::session_id(req) else {
        return;
    };
    let id = Secret::new(id);
    let other = lifetimes(env)
        .and_then(|life| session::lookup(env.kv, &life, &id, env.now))
        .map(|found| found.is_some_and(|(s, _)| s.username != done.session.username));
    match other {
        Ok(false) => {}
        Ok(true) => {
            if session::end(env.kv, &id).is_err() {
                crate::log_event("login", "previous_session_kept");
            }
        }
        Err(_) => crate::log_event("login", "previous_session_kept"),
    }
}

fn signed_in_redirect(
    req: &Request,
    env: &Env,
    settings: &Settings,
    target: &str,
    done: &LoggedIn,
) -> Response {
    crate::log_event("login", "ok");
    end_previous(req, env, done);
    let resp = html::redirect(StatusCode::SEE_OTHER, target);
    let cookie = cookie::set(req, done.session_id.expose(), settings.sessions.max);
    with_cookie(resp, cookie)
}

/// The code form of the page.
fn code_form(
    req: &Request,
    env: &Env,
    pairs: &[(String, String)],
    pending: &str,
) -> Result<Response> {
    let lang = Lang::of(req);
    let target = safe_return(form::single(pairs, "return_to").ok().flatten());
    let Ok(Some(code)) = form::single(pairs, "code") else {
        return Ok(code_page(
            req,
            &target,
            pending,
            Some(lang.t("Enter the code.", "Gib den Code ein.")),
            StatusCode::BAD_REQUEST,
        ));
    };
    let settings = settings(env)?;
    let token = Secret::new(pending.to_owned());
    match login::complete(env.kv, &settings, &token, code, env.now) {
        Ok(done) => Ok(signed_in_redirect(req, env, &settings, &target, &done)),
        Err(Error::InvalidCode) => {
            crate::log_event("login_code", "refused");
            Ok(code_page(
                req,
                &target,
                pending,
                Some(lang.t(
                    "The code is wrong or was used already. Try the current one.",
                    "Der Code ist falsch oder wurde schon benutzt. Versuche den aktuellen.",
                )),
                StatusCode::UNAUTHORIZED,
            ))
        }
        Err(Error::NotAuthenticated) => Ok(login_page(
            req,
            Some(lang.t(
                "This login has expired. Log in again.",
                "Diese Anmeldung ist abgelaufen. Melde dich neu an.",
            )),
            StatusCode::UNAUTHORIZED,
        )),
        Err(Error::Throttled { retry_after }) => Ok(with_retry_after(
            code_page(
                req,
                &target,
                pending,
                Some(&throttled_text(lang, retry_after)),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            retry_after,
        )),
        Err(e) => Err(e),
    }
}

/// A throttled page says when to come back in the header as well
/// (RFC 9110 section 10.2.3), as the API does.
fn with_retry_after(mut resp: Response, seconds: u64) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    resp
}

fn throttled_text(lang: Lang, seconds: u64) -> String {
    match lang {
        Lang::En if seconds == 1 => "Too many failed attempts. Try again in a second.".into(),
        Lang::En => format!("Too many failed attempts. Try again in {seconds} seconds."),
        Lang::De if seconds == 1 => {
            "Zu viele Fehlversuche. Versuche es in einer Sekunde wieder.".into()
        }
        Lang::De => format!("Zu viele Fehlversuche. Versuche es in {seconds} Sekunden wieder."),
    }
}

/// The login form of the page: on success, back to where the member came from.
fn login_form(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let pairs = form::body(req);
    let issuer = env.vars.get("issuer");
    if !form::is_form(req) || !csrf::verify(req, &pairs, issuer.as_deref()) {
        return Ok(login_page(
            req,
            Some(lang.t(
                "The form had expired. Please try again.",
                "Das Formular war abgelaufen. Bitte versuche es noch einmal.",
            )),
            StatusCode::FORBIDDEN,
        ));
    }
    if let Ok(Some(pending)) = form::single(&pairs, "pending") {
        let pending = pending.to_owned();
        return code_form(req, env, &pairs, &pending);
    }
    let (Ok(Some(username)), Ok(Some(password))) = (
        form::single(&pairs, "username"),
        form::single(&pairs, "password"),
    ) else {
        return Ok(login_page(
            req,
            Some(lang.t(
                "Enter your username and password.",
                "Gib Benutzername und Passwort ein.",
            )),
            StatusCode::BAD_REQUEST,
        ));
    };
    let settings = settings(env)?;
    let password = Secret::new(password.to_owned());
    let target = safe_return(form::single(&pairs, "return_to").ok().flatten());
    match login::login(env.kv, &settings, username, &password, env.now) {
        Ok(Outcome::Done(done)) => Ok(signed_in_redirect(req, env, &settings, &target, &done)),
        Ok(Outcome::SecondFactor(p)) => {
            crate::log_event("login", "second_factor");
            Ok(code_page(
                req,
                &target,
                p.token.expose(),
                None,
                StatusCode::OK,
            ))
        }
        Err(Error::InvalidCredentials) => {
            crate::log_event("login", "refused");
            Ok(login_page(
                req,
                Some(lang.t(
                    "Username or password is wrong.",
                    "Benutzername oder Passwort ist falsch.",
                )),
                StatusCode::UNAUTHORIZED,
            ))
        }
        Err(Error::Throttled { retry_after }) => Ok(with_retry_after(
            login_page(
                req,
                Some(&throttled_text(lang, retry_after)),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            retry_after,
        )),
        Err(Error::Invalid { message, .. }) => {
            Ok(login_page(req, Some(&message), StatusCode::BAD_REQUEST))
        }
        Err(e) => Err(e),
    }
}

/// `POST /logout` from a page's logout button: ends the session and goes
/// to the start page.
fn logout_form(req: &Request, env: &Env) -> Result<Response> {
    let pairs = form::body(req);
    let issuer = env.vars.get("issuer");
    if !form::is_form(req) || !csrf::verify(req, &pairs, issuer.as_deref()) {
        return Ok(html::redirect(StatusCode::SEE_OTHER, "/"));
    }
    end_session(req, env, html::redirect(StatusCode::SEE_OTHER, "/"))
}
