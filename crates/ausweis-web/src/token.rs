//! The `token` component: the token endpoint, revocation and logout. It is
//! the only component that reads signing keys and client secrets, so
//! everything that signs or checks a client secret lives here.

use ausweis::oidc::client;
use ausweis::oidc::grant::{self, ClientAuth, GrantError};
use ausweis::oidc::keys;
use ausweis::oidc::logout;
use ausweis::oidc::settings::Settings;
use ausweis::oidc::OAuthError;
use ausweis::secret::Secret;
use ausweis::session::{self, Lifetimes};
use ausweis::Result;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::json;

use crate::csrf::{self, Csrf};
use crate::html::{self, escape};
use crate::i18n::Lang;
use crate::{cookie, form, problem, reply, Env, Request, Response};

/// Handles the token component's routes.
pub fn handle(req: Request, env: &Env) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let result = match (path.as_str(), req.method()) {
        ("/oidc/token", &Method::POST) => token(&req, env),
        ("/oidc/token", _) => return problem::method_not_allowed("POST"),
        ("/oidc/revoke", &Method::POST) => revoke(&req, env),
        ("/oidc/revoke", _) => return problem::method_not_allowed("POST"),
        ("/oidc/logout", &Method::GET | &Method::POST) => logout(&req, env),
        ("/oidc/logout", _) => return problem::method_not_allowed("GET, POST"),
        _ => return problem::not_found(),
    };
    result.unwrap_or_else(|e| problem::from_error(&e))
}

/// RFC 6749 section 5.2 error answer.
fn oauth_error(err: &OAuthError, basic: bool) -> Response {
    let status = if err.error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut resp = reply::json(status, err);
    if status == StatusCode::UNAUTHORIZED && basic {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"ausweis\""),
        );
    }
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

fn bad(text: &str) -> Response {
    oauth_error(&OAuthError::new("invalid_request", text), false)
}

/// Client credentials from HTTP Basic (RFC 6749 section 2.3.1: both parts
/// form-encoded) or from the body; both at once is refused.
fn client_auth(
    req: &Request,
    pairs: &[(String, String)],
) -> std::result::Result<ClientAuth, String> {
    let body_id = form::single(pairs, "client_id")?;
    let body_secret = form::single(pairs, "client_secret")?;
    // the scheme is case-insensitive (RFC 9110 section 11.1); a bare
    // `Basic` is an attempt without credentials
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
            scheme.eq_ignore_ascii_case("basic").then_some(rest)
        });
    if let Some(encoded) = basic {
        if body_secret.is_some() {
            return Err("use one client authentication method".into());
        }
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or("malformed Basic credentials")?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or("malformed Basic credentials")?;
        // one form-encoded value: a raw `&` is part of it, not the start
        // of another pair
        let decode = |s: &str| -> String {
            url::form_urlencoded::parse(format!("x={}", s.replace('&', "%26")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let id = decode(id);
        if body_id.is_some_and(|b| b != id) {
            return Err("client_id differs from the Basic credentials".into());
        }
        return Ok(ClientAuth {
            client_id: id,
            secret: Some(decode(secret)),
            basic: true,
        });
    }
    Ok(ClientAuth {
        client_id: body_id.ok_or("client_id is required")?.to_owned(),
        secret: body_secret.map(String::from),
        basic: false,
    })
}

fn token(req: &Request, env: &Env) -> Result<Response> {
    if !form::is_form(req) {
        return Ok(bad("the body must be application/x-www-form-urlencoded"));
    }
    let settings = Settings::from_vars(env.vars)?;
    let pairs = form::body(req);
    let auth = match client_auth(req, &pairs) {
        Ok(a) => a,
        Err(m) => return Ok(bad(&m)),
    };
    let get = |name: &str| form::single(&pairs, name);
    let (grant_type, code, redirect_uri, verifier, refresh, scope) = match (
        get("grant_type"),
        get("code"),
        get("redirect_uri"),
        get("code_verifier"),
        get("refresh_token"),
        get("scope"),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d), Ok(e), Ok(f)) => (a, b, c, d, e, f),
        _ => return Ok(bad("a parameter is repeated")),
    };
    let result = grant::authenticate(env.kv, &auth).and_then(|client| match grant_type {
        Some("authorization_code") => {
            let Some(code) = code else {
                return Err(GrantError::OAuth(OAuthError::new(
                    "invalid_request",
                    "code is required",
                )));
            };
            grant::exchange_code(
                env.kv,
                &settings,
                &client,
                code,
                redirect_uri,
                verifier,
                env.now,
            )
        }
        Some("refresh_token") => {
            let Some(refresh) = refresh else {
                return Err(GrantError::OAuth(OAuthError::new(
                    "invalid_request",
                    "refresh_token is required",
                )));
            };
            grant::refresh(env.kv, &settings, &client, refresh, scope, env.now)
        }
        Some(_) => Err(GrantError::OAuth(OAuthError::new(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ))),
        None => Err(GrantError::OAuth(OAuthError::new(
            "invalid_request",
            "grant_type is required",
        ))),
    });
    match result {
        Ok(tokens) => {
            crate::log_event("token", grant_type.unwrap_or("unknown"));
            let mut resp = reply::json(StatusCode::OK, &tokens);
            resp.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            Ok(resp)
        }
        Err(GrantError::OAuth(e)) => {
            crate::log_event("token", e.error);
            Ok(oauth_error(&e, auth.basic))
        }
        Err(GrantError::Other(e)) => Err(e),
    }
}

/// RFC 7009.
fn revoke(req: &Request, env: &Env) -> Result<Response> {
    if !form::is_form(req) {
        return Ok(bad("the body must be application/x-www-form-urlencoded"));
    }
    let settings = Settings::from_vars(env.vars)?;
    let pairs = form::body(req);
    let auth = match client_auth(req, &pairs) {
        Ok(a) => a,
        Err(m) => return Ok(bad(&m)),
    };
    let Ok(Some(token)) = form::single(&pairs, "token") else {
        return Ok(bad("token is required"));
    };
    let result = grant::authenticate(env.kv, &auth)
        .and_then(|client| grant::revoke(env.kv, &settings, &client, token, env.now));
    match result {
        Ok(()) => {
            crate::log_event("revoke", "ok");
            Ok(reply::json(StatusCode::OK, &json!({})))
        }
        Err(GrantError::OAuth(e)) => Ok(oauth_error(&e, auth.basic)),
        Err(GrantError::Other(e)) => Err(e),
    }
}

fn logged_out_page(lang: Lang) -> Response {
    html::message(
        lang,
        StatusCode::OK,
        lang.t("Logged out", "Abgemeldet"),
        lang.t(
            "You are logged out of ausweis.",
            "Du bist von ausweis abgemeldet.",
        ),
        "/login",
        lang.t("Log in again", "Wieder anmelden"),
    )
}

/// The one claim of an ID token hint that logout needs besides the
/// registered ones.
#[derive(serde::Serialize, serde::Deserialize)]
struct HintClaims {
    sid: Option<String>,
}

/// Sends logout tokens to the clients the session signed in to. A client
/// that does not answer 200 is logged, by event only; the member's logout
/// goes on regardless.
fn backchannel(env: &Env, settings: &Settings, sid: &str) -> Result<()> {
    for notice in logout::notices(env.kv, settings, sid, env.now)? {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("logout_token", &notice.token)
            .finish();
        let outcome = match env
            .outbound
            .post_form(&notice.uri, &body, BACKCHANNEL_TIMEOUT_MS)
        {
            Ok(200 | 204) => "sent",
            Ok(_) => "refused",
            Err(_) => "unreachable",
        };
        crate::log_event("backchannel_logout", outcome);
    }
    Ok(())
}

/// How long one client may take to acknowledge a logout token.
const BACKCHANNEL_TIMEOUT_MS: u64 = 3000;

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
fn logout(req: &Request, env: &Env) -> Result<Response> {
    let settings = Settings::from_vars(env.vars)?;
    let pairs = if req.method() == Method::POST && form::is_form(req) {
        form::body(req)
    } else {
        form::query(req)
    };
    let lang = Lang::of(req);
    let page_error = |m: &str| {
        html::page(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Logout refused", "Abmeldung abgelehnt"),
            &format!(
                "{}<p class=\"hint\">{}</p>",
                html::alert(lang.t(
                    "The service that sent you here asked for a logout that is not set up correctly.",
                    "Der Dienst, der dich hierher geschickt hat, hat eine fehlerhafte Abmeldung angefragt."
                )),
                escape(m)
            ),
        )
    };
    let get = |n: &str| form::single(&pairs, n);
    let (hint, post_logout, state, client_id) = match (
        get("id_token_hint"),
        get("post_logout_redirect_uri"),
        get("state"),
        get("client_id"),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        _ => return Ok(page_error("a parameter is repeated")),
    };

    // the hint names the client; an expired hint is still a valid hint
    let (hinted_client, hinted_sid) = match hint {
        Some(h) => match keys::verify_hint::<HintClaims>(env.kv, h, &settings.issuer) {
            Ok(claims) => (
                claims.audiences.and_then(|a| a.into_string().ok()),
                claims.custom.sid,
            ),
            Err(_) => return Ok(page_error("the id_token_hint is not valid")),
        },
        None => (None, None),
    };
    if let (Some(h), Some(c)) = (&hinted_client, client_id) {
        if h != c {
            return Ok(page_error("client_id does not match the id_token_hint"));
        }
    }
    let client_name = hinted_client.or(client_id.map(String::from));
    let redirect = match (post_logout, &client_name) {
        (Some(uri), Some(id)) => {
            let Some(client) = client::find(env.kv, id)? else {
                return Ok(page_error("unknown client"));
            };
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Ok(page_error(
                    "post_logout_redirect_uri is not registered for this client",
                ));
            }
            Some(uri.to_owned())
        }
        (Some(_), None) => {
            return Ok(page_error(
                "post_logout_redirect_uri needs id_token_hint or client_id",
            ))
        }
        (None, _) => None,
    };

    let session_id = cookie::session_id(req);
    // Ask the member unless the hint names this very session: a link with
    // no hint, or with somebody else's ID token, must not log them out.
    let current_sid = match &session_id {
        Some(id) => {
            let life = Lifetimes::from_vars(env.vars)?;
            session::lookup(env.kv, &life, &Secret::new(id.clone()), env.now)?.map(|(s, _)| s.sid)
        }
        None => None,
    };
    let hint_matches = hinted_sid.is_some() && hinted_sid == current_sid;
    if !hint_matches && current_sid.is_some() {
        let issuer = env.vars.get("issuer");
        let confirmed = req.method() == Method::POST
            && form::is_form(req)
            && csrf::verify(req, &pairs, issuer.as_deref());
        if !confirmed {
            let csrf = Csrf::issue(req);
            let fields: String = pairs
                .iter()
                .filter(|(k, _)| k != csrf::FIELD)
                .map(|(k, v)| html::hidden(k, v))
                .collect();
            return Ok(csrf.attach(html::page(
                lang,
                StatusCode::OK,
                lang.t("Log out?", "Abmelden?"),
                &format!(
                    "<p>{}</p><form method=\"post\" action=\"/oidc/logout\">{fields}{}\
<button>{}</button></form>",
                    lang.t(
                        "A service asks to log you out of ausweis.",
                        "Ein Dienst möchte dich von ausweis abmelden."
                    ),
                    csrf.field(),
                    lang.t("Log out of ausweis", "Von ausweis abmelden")
                ),
            )));
        }
    }
    if let Some(id) = session_id {
        session::end(env.kv, &Secret::new(id))?;
        if let Some(sid) = current_sid {
            backchannel(env, &settings, &sid)?;
        }
    }
    crate::log_event("logout", "rp_initiated");
    let mut resp = match redirect {
        Some(uri) => {
            let target = match (state, url::Url::parse(&uri)) {
                (Some(s), Ok(mut u)) => {
                    u.query_pairs_mut().append_pair("state", s);
                    u.to_string()
                }
                _ => uri,
            };
            html::redirect(StatusCode::FOUND, &target)
        }
        None => logged_out_page(lang),
    };
    if let Ok(v) = HeaderValue::from_str(&cookie::clear(req)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}
