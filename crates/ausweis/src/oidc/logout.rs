//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a
//! member logs out, every client they signed in to in that session and that
//! registered a `backchannel_logout_uri` gets a signed logout token.
//!
//! Key family (store `oidc`): `rp:{sid}:{client_id}` → expiring marker that
//! the session signed in to the client, written at the code exchange.

use jwt_simple::prelude::{Audiences, JWTClaims, UnixTimeStamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::expiring;
use crate::kv::{Kv, Store};
use crate::oidc::client::{self, Client};
use crate::oidc::keys;
use crate::oidc::settings::Settings;
use crate::{random, Result};

/// `typ` of logout tokens (Back-Channel Logout 1.0 section 2.4).
pub const LOGOUT_TYP: &str = "logout+jwt";
/// The event that marks a logout token.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Lifetime of a logout token, seconds.
const LOGOUT_TOKEN_SECONDS: u64 = 120;

/// Key of the record that session `sid` signed in to `client_id`.
pub fn rp_key(sid: &str, client_id: &str) -> String {
    format!("rp:{sid}:{client_id}")
}

#[derive(Serialize, Deserialize)]
struct SignedIn {
    account_id: String,
}

/// Notes that session `sid` signed in to a client that wants back-channel
/// logout.
pub fn remember(
    kv: &dyn Kv,
    client: &Client,
    sid: &str,
    account_id: &str,
    until: u64,
) -> Result<()> {
    if client.backchannel_logout_uri.is_none() || sid.is_empty() {
        return Ok(());
    }
    let v = SignedIn {
        account_id: account_id.to_owned(),
    };
    expiring::put(kv, Store::Oidc, &rp_key(sid, &client.client_id), until, &v)
}

/// A logout token to send, and where.
#[derive(Debug)]
pub struct Notice {
    /// The client's back-channel logout URI.
    pub uri: String,
    /// The signed logout token.
    pub token: String,
}

#[derive(Serialize)]
struct LogoutClaims {
    sid: String,
    events: Map<String, Value>,
}

/// Makes the logout tokens for session `sid` and forgets which clients it
/// signed in to.
pub fn notices(kv: &dyn Kv, settings: &Settings, sid: &str, now: u64) -> Result<Vec<Notice>> {
    let mut out = Vec::new();
    if sid.is_empty() {
        return Ok(out);
    }
    let prefix = format!("rp:{sid}:");
    for key in kv.keys(Store::Oidc, &prefix)? {
        let client_id = key.trim_start_matches(&prefix).to_owned();
        let found = expiring::get_live::<SignedIn>(kv, Store::Oidc, &key, now)?;
        kv.delete(Store::Oidc, &key)?;
        let (Some((signed_in, _)), Some(c)) = (found, client::find(kv, &client_id)?) else {
            continue;
        };
        let Some(uri) = c.backchannel_logout_uri.clone() else {
            continue;
        };
        let signer = keys::signer(kv, c.signing_alg, settings, now)?;
        let mut events = Map::new();
        events.insert(EVENT.into(), json!({}));
        let claims = JWTClaims {
            issued_at: Some(UnixTimeStamp::from_secs(now)),
            expires_at: Some(UnixTimeStamp::from_secs(now + LOGOUT_TOKEN_SECONDS)),
            invalid_before: None,
            issuer: Some(settings.issuer.clone()),
            subject: Some(signed_in.v.account_id),
            audiences: Some(Audiences::AsString(c.client_id.clone())),
            jwt_id: Some(random::token(16)),
            nonce: None,
            custom: LogoutClaims {
                sid: sid.to_owned(),
                events,
            },
        };
        out.push(Notice {
            uri,
            token: signer.sign(claims, LOGOUT_TYP)?,
        });
    }
    Ok(out)
}
