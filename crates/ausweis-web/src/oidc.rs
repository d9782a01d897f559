//! The `oidc` component: discovery, JWKS, authorization, userinfo.

use ausweis::oidc::authorize::{self, AuthRequest, Decision, Outcome};
use ausweis::oidc::claims::{self, AccessTokenClaims};
use ausweis::oidc::grant::{self, ACCESS_TYP};
use ausweis::oidc::keys::{self, Alg};
use ausweis::oidc::settings::Settings;
use ausweis::oidc::OAuthError;
use ausweis::secret::Secret;
use ausweis::session::{self, Lifetimes, Session};
use ausweis::username::Username;
use ausweis::{account, permissions, profile, Error, Result};
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use url::Url;

use crate::csrf::{self, Csrf};
use crate::html::{self, escape};
use crate::i18n::Lang;
use crate::{cookie, form, problem, reply, Env, Request, Response};

/// Handles the oidc component's routes.
pub fn handle(req: Request, env: &Env) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let result = match (path.as_str(), req.method()) {
        ("/.well-known/openid-configuration", &Method::GET | &Method::HEAD) => discovery(env),
        ("/.well-known/openid-configuration", _) => return problem::method_not_allowed("GET"),
        ("/oidc/jwks", &Method::GET | &Method::HEAD) => jwks(env),
        ("/oidc/jwks", _) => return problem::method_not_allowed("GET"),
        ("/oidc/authorize", &Method::GET | &Method::POST) => authorize_endpoint(&req, env),
        ("/oidc/authorize", _) => return problem::method_not_allowed("GET, POST"),
        ("/oidc/userinfo", &Method::GET | &Method::POST) => userinfo(&req, env),
        ("/oidc/userinfo", _) => return problem::method_not_allowed("GET, POST"),
        _ => return problem::not_found(),
    };
    let mut resp = result.unwrap_or_else(|e| problem::from_error(&e));
    // public documents and bearer-token endpoints: any origin may read
    // them (no cookies are involved)
    if path != "/oidc/authorize" {
        resp.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    resp
}

/// OpenID Connect Discovery 1.0 section 3.
fn discovery(env: &Env) -> Result<Response> {
    let s = Settings::from_vars(env.vars)?;
    let iss = &s.issuer;
    let algs: Vec<&str> = Alg::ALL.iter().map(|a| a.name()).collect();
    let doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oidc/authorize"),
        "token_endpoint": format!("{iss}/oidc/token"),
        "userinfo_endpoint": format!("{iss}/oidc/userinfo"),
        "jwks_uri": format!("{iss}/oidc/jwks"),
        "end_session_endpoint": format!("{iss}/oidc/logout"),
        "revocation_endpoint": format!("{iss}/oidc/revoke"),
        "scopes_supported": ausweis::oidc::client::KNOWN_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "azp",
            "preferred_username", "name", "email", "email_verified", "groups"],
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
    });
    let mut resp = reply::json(StatusCode::OK, &doc);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(resp)
}

fn jwks(env: &Env) -> Result<Response> {
    let doc = keys::jwks(env.kv, env.now)?;
    let empty = doc["keys"].as_array().is_none_or(|k| k.is_empty());
    let mut resp = reply::json(StatusCode::OK, &doc);
    // no key yet (none is made before the first token): let nobody keep
    // the empty set
    let cache = if empty {
        "no-store"
    } else {
        "public, max-age=300"
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    Ok(resp)
}

fn current_session(req: &Request, env: &Env) -> Result<Option<(Session, String)>> {
    let Some(id) = cookie::session_id(req) else {
        return Ok(None);
    };
    let life = Lifetimes::from_vars(env.vars)?;
    Ok(session::lookup(env.kv, &life, &Secret::new(id.clone()), env.now)?.map(|(s, _)| (s, id)))
}

/// Adds parameters to a redirect URI, keeping its own query.
fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}

fn error_redirect(uri: &str, err: &OAuthError, state: Option<&str>, iss: &str) -> Response {
    let mut params = vec![
        ("error", err.error),
        ("error_description", err.error_description.as_str()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", iss));
    html::redirect(StatusCode::FOUND, &with_params(uri, &params))
}

fn error_page(lang: Lang, message: &str) -> Response {
    html::page(
        lang,
        StatusCode::BAD_REQUEST,
        lang.t("Sign-in request refused", "Anmeldeanfrage abgelehnt"),
        &format!(
            "{}<p class=\"hint\">{}: {}</p>",
            html::alert(lang.t(
                "The service that sent you here is not set up correctly. Go back and tell its operator.",
                "Der Dienst, der dich hierher geschickt hat, ist nicht richtig eingerichtet. \
Geh zurück und sag es seinen Betreibern."
            )),
            lang.t("Details", "Einzelheiten"),
            escape(message)
        ),
    )
}

/// The authorization request's parameters, without the consent form's own.
fn auth_params(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter(|(k, _)| k != "consent" && k != csrf::FIELD)
        .cloned()
        .collect()
}

fn authorize_endpoint(req: &Request, env: &Env) -> Result<Response> {
    let lang = Lang::of(req);
    let error_page = |m: &str| error_page(lang, m);
    let settings = Settings::from_vars(env.vars)?;
    let pairs = if req.method() == Method::POST {
        if !form::is_form(req) {
            return Ok(error_page("the request must be form-encoded"));
        }
        form::body(req)
    } else {
        form::query(req)
    };
    let params = auth_params(&pairs);
    let auth = match AuthRequest::from_pairs(&params) {
        Ok(a) => a,
        Err(m) => return Ok(error_page(&m)),
    };
    let session = current_session(req, env)?;

    // the consent form's answer counts only with a matching token
    let decision = match form::single(&pairs, "consent") {
        Ok(Some(answer)) => {
            let issuer = env.vars.get("issuer");
            let csrf_ok = session.is_some() && csrf::verify(req, &pairs, issuer.as_deref());
            if !csrf_ok || req.method() != Method::POST {
                return Ok(error_page(
                    "the consent form expired; start again from the service",
                ));
            }
            Some(if answer == "approve" {
                Decision::Approve
            } else {
                Decision::Deny
            })
        }
        Ok(None) => None,
        Err(m) => return Ok(error_page(&m)),
    };

    let outcome = authorize::authorize(
        env.kv,
        &settings,
        &auth,
        session.as_ref().map(|(s, _)| s),
        decision,
        env.now,
    )?;
    let iss = settings.issuer.as_str();
    Ok(match outcome {
        Outcome::ErrorPage(m) => error_page(&m),
        Outcome::RedirectError {
            redirect_uri,
            error,
            state,
        } => error_redirect(&redirect_uri, &error, state.as_deref(), iss),
        Outcome::Code {
            redirect_uri,
            code,
            state,
        } => {
            crate::log_event("authorize", "code");
            let mut p = vec![("code", code.as_str())];
            if let Some(s) = &state {
                p.push(("state", s));
            }
            p.push(("iss", iss));
            html::redirect(StatusCode::FOUND, &with_params(&redirect_uri, &p))
        }
        Outcome::Login { hint, fresh } => {
            // come back to this request after logging in; a forced login
            // must not ask for another one
            let back: Vec<(String, String)> = params
                .iter()
                .filter_map(|(k, v)| {
                    if k == "prompt" && fresh {
                        let rest: Vec<&str> = v.split(' ').filter(|p| *p != "login").collect();
                        (!rest.is_empty()).then(|| (k.clone(), rest.join(" ")))
                    } else if k == "max_age" && fresh {
                        // the login about to happen satisfies it
                        None
                    } else {
                        Some((k.clone(), v.clone()))
                    }
                })
                .collect();
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(back)
                .finish();
            let return_to = format!("/oidc/authorize?{query}");
            let mut login = url::form_urlencoded::Serializer::new(String::new());
            login.append_pair("return_to", &return_to);
            if let Some(h) = hint {
                login.append_pair("login_hint", &h);
            }
            html::redirect(StatusCode::FOUND, &format!("/login?{}", login.finish()))
        }
        Outcome::Consent { client, scopes } => {
            if session.is_none() {
                return Err(Error::NotAuthenticated);
            }
            let csrf = Csrf::issue(req);
            let mut fields: String = params.iter().map(|(k, v)| html::hidden(k, v)).collect();
            fields.push_str(&csrf.field());
            let items: String = scopes
                .iter()
                .map(|s| format!("<li>{}</li>", escape(scope_text(lang, s))))
                .collect();
            let name = escape(client.name.as_deref().unwrap_or(&client.client_id));
            let asks = match lang {
                Lang::En => format!("<strong>{name}</strong> asks to sign you in and to see:"),
                Lang::De => format!("<strong>{name}</strong> möchte dich anmelden und sehen:"),
            };
            csrf.attach(html::page(
                lang,
                StatusCode::OK,
                lang.t("Share your account?", "Konto teilen?"),
                &format!(
                    "<p>{asks}</p><ul>{items}</ul>\
<form method=\"post\" action=\"/oidc/authorize\">{fields}\
<button name=\"consent\" value=\"approve\">{}</button>\
<button name=\"consent\" value=\"deny\" class=\"secondary\">{}</button></form>",
                    lang.t("Allow", "Erlauben"),
                    lang.t("Deny", "Ablehnen"),
                ),
            ))
        }
        Outcome::Denied {
            client,
            permission,
            redirect_uri,
            state,
        } => {
            let err = OAuthError::new("access_denied", format!("missing permission {permission}"));
            let mut p = vec![
                ("error", err.error),
                ("error_description", err.error_description.as_str()),
            ];
            if let Some(s) = &state {
                p.push(("state", s));
            }
            p.push(("iss", iss));
            let back = with_params(&redirect_uri, &p);
            let name = escape(client.name.as_deref().unwrap_or(&client.client_id));
            let permission = escape(&permission);
            let text = match lang {
                Lang::En => format!(
                    "<p>To use <strong>{name}</strong> you need the permission \
<strong>{permission}</strong>, and you do not hold it (or it has expired).</p>\
<p>You get it with a ticket from the association's shop: buy the item, then redeem its \
ticket code on the <a href=\"/redeem\">redeem page</a>.</p>"
                ),
                Lang::De => format!(
                    "<p>Für <strong>{name}</strong> brauchst du die Berechtigung \
<strong>{permission}</strong>, und du hast sie nicht (oder sie ist abgelaufen).</p>\
<p>Du bekommst sie mit einem Ticket aus dem Shop des Vereins: kaufe den Artikel und löse \
dann den Ticket-Code auf der <a href=\"/redeem\">Einlöse-Seite</a> ein.</p>"
                ),
            };
            html::page(
                lang,
                StatusCode::FORBIDDEN,
                lang.t("Permission missing", "Berechtigung fehlt"),
                &format!(
                    "{text}<p><a href=\"{}\">{}</a></p>",
                    escape(&back),
                    lang.t("Back to the service", "Zurück zum Dienst")
                ),
            )
        }
    })
}

fn scope_text(lang: Lang, scope: &str) -> &'static str {
    match scope {
        "openid" => lang.t(
            "that it is you (an identifier unique to your account)",
            "dass du es bist (eine Kennung, die nur dein Konto hat)",
        ),
        "profile" => lang.t(
            "your username, and the name in your profile if you share it",
            "deinen Benutzernamen und den Namen in deinem Profil, wenn du ihn teilst",
        ),
        "email" => lang.t(
            "your e-mail address, if you gave one",
            "deine E-Mail-Adresse, wenn du eine angegeben hast",
        ),
        "groups" => lang.t(
            "your permissions and whether you are a member",
            "deine Berechtigungen und ob du Mitglied bist",
        ),
        "offline_access" => lang.t(
            "access while you are away (until you revoke it)",
            "Zugriff, während du weg bist (bis du ihn widerrufst)",
        ),
        _ => lang.t("other data", "weitere Daten"),
    }
}

fn bearer_error(description: &str) -> Response {
    let mut resp = reply::json(
        StatusCode::UNAUTHORIZED,
        &json!({"error": "invalid_token", "error_description": description}),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Bearer error=\"invalid_token\", error_description=\"{description}\""
    )) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// OIDC Core section 5.3: the claims of the access token's scopes.
fn userinfo(req: &Request, env: &Env) -> Result<Response> {
    let settings = Settings::from_vars(env.vars)?;
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    let token = match from_header {
        Some(t) => t,
        None if req.method() == Method::POST && form::is_form(req) => {
            match form::single(&form::body(req), "access_token") {
                Ok(Some(t)) => t.to_owned(),
                _ => return Ok(bearer_error("no access token")),
            }
        }
        None => return Ok(bearer_error("no access token")),
    };
    let claims = match keys::verify::<AccessTokenClaims>(
        env.kv,
        &token,
        ACCESS_TYP,
        &settings.issuer,
        env.now,
    ) {
        Ok(c) => c,
        Err(Error::NotAuthenticated) => {
            return Ok(bearer_error("the access token is invalid or expired"))
        }
        Err(e) => return Err(e),
    };
    let Some(family) = grant::family_live(env.kv, &claims.custom.fid, env.now)? else {
        return Ok(bearer_error("the access token was revoked"));
    };
    let Some(acc) = Username::parse(&family.username)
        .ok()
        .map(|n| account::find(env.kv, &n))
        .transpose()?
        .flatten()
        .filter(|a| a.id == family.account_id)
    else {
        return Ok(bearer_error("the account no longer exists"));
    };
    let grants = permissions::get(env.kv, &acc.id)?;
    let shown = profile::get(env.kv, &acc.id)?;
    let scopes: Vec<String> = claims.custom.scope.split(' ').map(String::from).collect();
    let mut out = claims::for_scopes(&acc, &grants, shown.display_name(), &scopes, env.now);
    out.insert("sub".into(), Value::from(acc.id));
    Ok(reply::json(StatusCode::OK, &out))
}
