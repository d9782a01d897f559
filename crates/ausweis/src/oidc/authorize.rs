//! The authorization endpoint: code flow with PKCE (OIDC Core section 3.1,
//! RFC 7636), consent, and the permission gate.
//!
//! Key families (store `oidc`):
//! - `code:{sha256(code)}` → expiring [`CodeRecord`], single use;
//! - `consent:{account_id}:{client_id}` → the scopes the member agreed to.

use serde::{Deserialize, Serialize};

use crate::expiring;
use crate::kv::{Kv, Store};
use crate::oidc::client::{self, Client};
use crate::oidc::settings::Settings;
use crate::oidc::OAuthError;
use crate::permissions;
use crate::random;
use crate::session::Session;
use crate::{Error, Result};

/// Longest `state` or `nonce` accepted.
pub const MAX_PARAM_LEN: usize = 512;

/// The parameters of an authorization request.
#[derive(Debug, Clone, Default)]
pub struct AuthRequest {
    /// `client_id`.
    pub client_id: String,
    /// `redirect_uri`.
    pub redirect_uri: String,
    /// `response_type`.
    pub response_type: String,
    /// `scope`, space-separated.
    pub scope: String,
    /// `state`.
    pub state: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `code_challenge`.
    pub code_challenge: Option<String>,
    /// `code_challenge_method`.
    pub code_challenge_method: Option<String>,
    /// `prompt`, space-separated.
    pub prompt: Option<String>,
    /// `max_age`, seconds.
    pub max_age: Option<String>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `response_mode`.
    pub response_mode: Option<String>,
    /// `request` or `request_uri` was sent (not supported).
    pub request_object: bool,
}

impl AuthRequest {
    /// Reads the parameters; a parameter sent twice is an error (RFC 6749
    /// section 3.1), reported as a string for the error page or redirect.
    pub fn from_pairs(pairs: &[(String, String)]) -> std::result::Result<Self, String> {
        let mut r = AuthRequest::default();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in pairs {
            if !seen.insert(k.as_str()) {
                return Err(format!(
                    "parameter `{}` is repeated",
                    k.chars().take(32).collect::<String>()
                ));
            }
            let v = v.clone();
            match k.as_str() {
                "client_id" => r.client_id = v,
                "redirect_uri" => r.redirect_uri = v,
                "response_type" => r.response_type = v,
                "scope" => r.scope = v,
                "state" => r.state = Some(v),
                "nonce" => r.nonce = Some(v),
                "code_challenge" => r.code_challenge = Some(v),
                "code_challenge_method" => r.code_challenge_method = Some(v),
                "prompt" => r.prompt = Some(v),
                "max_age" => r.max_age = Some(v),
                "login_hint" => r.login_hint = Some(v),
                "response_mode" => r.response_mode = Some(v),
                "request" | "request_uri" => r.request_object = true,
                _ => {} // unknown parameters are ignored (RFC 6749 section 3.1)
            }
        }
        Ok(r)
    }

    fn prompts(&self) -> Vec<&str> {
        self.prompt
            .as_deref()
            .map(|p| p.split(' ').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// Scopes asked for, deduplicated, in order.
    pub fn scopes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.scope.split(' ').filter(|s| !s.is_empty()) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
        out
    }
}

/// A stored authorization code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    /// Client it was issued to.
    pub client_id: String,
    /// Redirect URI it was sent to.
    pub redirect_uri: String,
    /// The member.
    pub account_id: String,
    /// The member's username.
    pub username: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The client's nonce.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// Time of the member's authentication.
    pub auth_time: u64,
    /// Provider session id.
    pub sid: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// The token family this code starts; a replay revokes it.
    pub fid: String,
    /// Whether it was exchanged.
    pub used: bool,
    /// Random marker of this write.
    pub m: String,
}

/// Key of a code.
pub fn code_key(code: &str) -> String {
    format!("code:{}", random::digest_hex("code", code))
}

/// Key of a remembered consent.
pub fn consent_key(account_id: &str, client_id: &str) -> String {
    format!("consent:{account_id}:{client_id}")
}

#[derive(Serialize, Deserialize)]
struct Consent {
    scopes: Vec<String>,
}

/// What the endpoint does next.
#[derive(Debug)]
pub enum Outcome {
    /// The client or redirect URI cannot be trusted: show an error page,
    /// never redirect (RFC 6749 section 4.1.2.1).
    ErrorPage(String),
    /// Send the error to the client's redirect URI.
    RedirectError {
        /// Where to.
        redirect_uri: String,
        /// The error.
        error: OAuthError,
        /// The client's state.
        state: Option<String>,
    },
    /// The member must log in (again); `hint` prefills the username.
    Login {
        /// `login_hint`.
        hint: Option<String>,
        /// Whether a present session must be replaced (`prompt=login`,
        /// `max_age` exceeded).
        fresh: bool,
    },
    /// Ask the member to agree.
    Consent {
        /// The client.
        client: Client,
        /// Scopes asked for.
        scopes: Vec<String>,
    },
    /// The member lacks the client's required permission.
    Denied {
        /// The client.
        client: Client,
        /// The missing permission.
        permission: String,
        /// Where the "back to the service" link goes.
        redirect_uri: String,
        /// The client's state.
        state: Option<String>,
    },
    /// Success: the code goes to the client.
    Code {
        /// Where to.
        redirect_uri: String,
        /// The code.
        code: String,
        /// The client's state.
        state: Option<String>,
    },
}

/// The member's answer on the consent page, if this request carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Agreed.
    Approve,
    /// Refused.
    Deny,
}

/// Handles an authorization request for the member of `session`.
pub fn authorize(
    kv: &dyn Kv,
    settings: &Settings,
    req: &AuthRequest,
    session: Option<&Session>,
    decision: Option<Decision>,
    now: u64,
) -> Result<Outcome> {
    // client and redirect URI first: until both are trusted, no redirect
    let Some(client) = client::find(kv, &req.client_id)? else {
        return Ok(Outcome::ErrorPage("unknown client".into()));
    };
    if !client.redirect_uris.contains(&req.redirect_uri) {
        return Ok(Outcome::ErrorPage(
            "the redirect URI is not registered for this client".into(),
        ));
    }
    let fail = |error: &'static str, text: &str| {
        Ok(Outcome::RedirectError {
            redirect_uri: req.redirect_uri.clone(),
            error: OAuthError::new(error, text),
            state: req.state.clone(),
        })
    };

    if req.request_object {
        return fail("request_not_supported", "request objects are not supported");
    }
    if req.response_type != "code" {
        return fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    if req.response_mode.as_deref().is_some_and(|m| m != "query") {
        return fail("invalid_request", "only response_mode=query is supported");
    }
    let scopes = req.scopes();
    if !scopes.iter().any(|s| s == "openid") {
        return fail("invalid_scope", "scope must include openid");
    }
    if let Some(s) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        let shown: String = s.chars().take(32).collect();
        return fail(
            "invalid_scope",
            &format!("scope `{shown}` is not allowed for this client"),
        );
    }
    if req.state.as_ref().is_some_and(|s| s.len() > MAX_PARAM_LEN)
        || req.nonce.as_ref().is_some_and(|s| s.len() > MAX_PARAM_LEN)
    {
        return fail(
            "invalid_request",
            "state and nonce must be at most 512 bytes",
        );
    }
    match (&req.code_challenge, req.code_challenge_method.as_deref()) {
        (None, _) if client.public => {
            return fail(
                "invalid_request",
                "public clients must use PKCE (code_challenge)",
            );
        }
        (None, Some(_)) => {
            return fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            )
        }
        (Some(c), m) => {
            if m != Some("S256") {
                return fail("invalid_request", "code_challenge_method must be S256");
            }
            // RFC 7636 section 4.2: BASE64URL(SHA-256) is 43 characters
            let ok = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return fail(
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256 digest",
                );
            }
        }
        (None, None) => {}
    }
    let prompts = req.prompts();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return fail("invalid_request", "prompt=none cannot be combined");
    }
    if let Some(p) = prompts
        .iter()
        .find(|p| !["none", "login", "consent"].contains(p))
    {
        let shown: String = p.chars().take(32).collect();
        return fail(
            "invalid_request",
            &format!("prompt `{shown}` is not supported"),
        );
    }
    let max_age = match &req.max_age {
        Some(m) => match m.parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => return fail("invalid_request", "max_age must be a number of seconds"),
        },
        None => None,
    };

    // the member
    let Some(session) = session else {
        if prompts.contains(&"none") {
            return fail("login_required", "the member is not logged in");
        }
        return Ok(Outcome::Login {
            hint: req.login_hint.clone(),
            fresh: false,
        });
    };
    let too_old = max_age.is_some_and(|m| now > session.auth_time + m);
    if too_old || prompts.contains(&"login") {
        if prompts.contains(&"none") {
            return fail("login_required", "the member must log in again");
        }
        return Ok(Outcome::Login {
            hint: req.login_hint.clone(),
            fresh: true,
        });
    }

    // the permission gate
    if let Some(p) = &client.required_permission {
        let grants = permissions::get(kv, &session.account_id)?;
        if !grants.holds(p, now) {
            if prompts.contains(&"none") {
                return fail(
                    "access_denied",
                    &format!("the member lacks the permission `{p}`"),
                );
            }
            return Ok(Outcome::Denied {
                permission: p.clone(),
                redirect_uri: req.redirect_uri.clone(),
                state: req.state.clone(),
                client,
            });
        }
    }

    // consent
    if !client.first_party {
        match decision {
            Some(Decision::Deny) => return fail("access_denied", "the member declined"),
            Some(Decision::Approve) => {
                let mut sorted = scopes.clone();
                sorted.sort();
                let raw = serde_json::to_vec(&Consent { scopes: sorted })
                    .map_err(|e| Error::Internal(e.to_string()))?;
                kv.set(
                    Store::Oidc,
                    &consent_key(&session.account_id, &client.client_id),
                    &raw,
                )?;
            }
            None => {
                let remembered = kv
                    .get(
                        Store::Oidc,
                        &consent_key(&session.account_id, &client.client_id),
                    )?
                    .and_then(|raw| serde_json::from_slice::<Consent>(&raw).ok())
                    .is_some_and(|c| scopes.iter().all(|s| c.scopes.contains(s)));
                if !remembered || prompts.contains(&"consent") {
                    if prompts.contains(&"none") {
                        return fail("consent_required", "the member has not agreed yet");
                    }
                    return Ok(Outcome::Consent { client, scopes });
                }
            }
        }
    }

    // the code
    let code = random::token(32);
    let record = CodeRecord {
        client_id: client.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        account_id: session.account_id.clone(),
        username: session.username.clone(),
        scopes,
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        auth_time: session.auth_time,
        sid: session.sid.clone(),
        amr: session.amr.clone(),
        fid: random::token(16),
        used: false,
        m: random::token(8),
    };
    expiring::put(
        kv,
        Store::Oidc,
        &code_key(&code),
        now + settings.code_seconds,
        &record,
    )?;
    Ok(Outcome::Code {
        redirect_uri: req.redirect_uri.clone(),
        code,
        state: req.state.clone(),
    })
}
