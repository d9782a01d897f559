//! The token endpoint's grants (RFC 6749 sections 4.1.3 and 6), client
//! authentication (section 2.3.1), refresh token rotation with reuse
//! detection (RFC 9700 section 4.14.2), and revocation (RFC 7009).
//!
//! Key families (store `oidc`):
//! - `family:{fid}` → expiring [`Family`]: one authorization grant; all its
//!   refresh and access tokens die with it;
//! - `refresh:{sha256(token)}` → expiring [`RefreshRecord`], single use.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::{Audiences, JWTClaims, UnixTimeStamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::account::{self, Account};
use crate::expiring;
use crate::kv::{Kv, Store};
use crate::oidc::authorize::{code_key, CodeRecord};
use crate::oidc::claims::{self, AccessTokenClaims, IdTokenClaims};
use crate::oidc::client::{self, Client};
use crate::oidc::keys;
use crate::oidc::settings::Settings;
use crate::oidc::OAuthError;
use crate::permissions;
use crate::profile;
use crate::random;
use crate::session;
use crate::username::Username;
use crate::Error;

/// `typ` of access tokens (RFC 9068 section 2.1).
pub const ACCESS_TYP: &str = "at+jwt";

/// A failure of a grant: an OAuth error for the client, or our own.
#[derive(Debug)]
pub enum GrantError {
    /// Sent to the client as RFC 6749 section 5.2 JSON.
    OAuth(OAuthError),
    /// A store or internal failure.
    Other(Error),
}

impl From<Error> for GrantError {
    fn from(e: Error) -> Self {
        GrantError::Other(e)
    }
}

impl From<crate::kv::StoreError> for GrantError {
    fn from(e: crate::kv::StoreError) -> Self {
        GrantError::Other(e.into())
    }
}

type Result<T> = std::result::Result<T, GrantError>;

fn oauth(error: &'static str, text: &str) -> GrantError {
    GrantError::OAuth(OAuthError::new(error, text))
}

/// One authorization grant and everything issued from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Family {
    /// Client.
    pub client_id: String,
    /// The member.
    pub account_id: String,
    /// The member's username.
    pub username: String,
    /// Provider session id.
    pub sid: String,
    /// Revoked: a code replay, a refresh token reuse, or a revocation.
    pub revoked: bool,
    /// The client's serial when the grant was made (see [`Client::serial`]).
    #[serde(default)]
    pub client_serial: String,
    /// Granted with `offline_access`: outlives the member's session.
    #[serde(default)]
    pub offline: bool,
}

/// How long a revocation marker is kept: longer than any refresh token
/// lives (`oidc_refresh_token_days` is at most 365).
const REVOKED_MARKER_SECONDS: u64 = 366 * 86_400;

/// Key of the marker that a family is revoked. It is a key of its own, so
/// that no concurrent renewal of the family record can overwrite it.
pub fn revoked_key(fid: &str) -> String {
    format!("revoked:{fid}")
}

fn is_revoked(kv: &dyn Kv, fid: &str, now: u64) -> std::result::Result<bool, Error> {
    Ok(expiring::get_live::<bool>(kv, Store::Oidc, &revoked_key(fid), now)?.is_some())
}

/// A stored refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// The family.
    pub fid: String,
    /// Client.
    pub client_id: String,
    /// The member.
    pub account_id: String,
    /// The member's username.
    pub username: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Time of the member's authentication.
    pub auth_time: u64,
    /// Provider session id.
    pub sid: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Rotated already.
    pub used: bool,
    /// Random marker of this write.
    pub m: String,
}

/// Key of a family.
pub fn family_key(fid: &str) -> String {
    format!("family:{fid}")
}

/// Key of a refresh token.
pub fn refresh_key(token: &str) -> String {
    format!("refresh:{}", random::digest_hex("refresh", token))
}

/// What the token endpoint answers on success (RFC 6749 section 5.1).
#[derive(Debug, Serialize)]
pub struct Tokens {
    /// The access token (a JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The ID token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The next refresh token.
    pub refresh_token: String,
    /// Granted scopes.
    pub scope: String,
}

/// How the client presented itself.
#[derive(Debug, Default)]
pub struct ClientAuth {
    /// `client_id`, from HTTP Basic or the body.
    pub client_id: String,
    /// The secret, if one was sent.
    pub secret: Option<String>,
    /// Whether it came through HTTP Basic.
    pub basic: bool,
}

/// Authenticates a client: confidential clients by secret, public ones by
/// id alone (they then must prove PKCE).
pub fn authenticate(kv: &dyn Kv, auth: &ClientAuth) -> Result<Client> {
    let invalid = || oauth("invalid_client", "client authentication failed");
    let Some(client) = client::find(kv, &auth.client_id)? else {
        return Err(invalid());
    };
    match (&auth.secret, client.public) {
        (None, true) => Ok(client),
        (Some(_), true) => Err(invalid()),
        (None, false) => Err(invalid()),
        (Some(s), false) => {
            if client::secret_matches(kv, &client.client_id, s)? {
                Ok(client)
            } else {
                Err(invalid())
            }
        }
    }
}

fn load_family(kv: &dyn Kv, fid: &str, now: u64) -> Result<Option<(Family, u64)>> {
    Ok(
        expiring::get_live::<Family>(kv, Store::Oidc, &family_key(fid), now)?
            .map(|(f, _)| (f.v, f.exp)),
    )
}

/// Revokes a family: its refresh tokens and access tokens stop working.
/// The marker is written first and never overwritten, so a revocation
/// racing with a successful exchange or refresh always wins.
pub fn revoke_family(kv: &dyn Kv, fid: &str, now: u64) -> std::result::Result<(), Error> {
    let until = now + REVOKED_MARKER_SECONDS;
    expiring::put(kv, Store::Oidc, &revoked_key(fid), until, &true)?;
    if let Some((mut f, _)) = expiring::get_live::<Family>(kv, Store::Oidc, &family_key(fid), now)?
    {
        f.v.revoked = true;
        expiring::put(kv, Store::Oidc, &family_key(fid), f.exp, &f.v)?;
    }
    Ok(())
}

/// Revokes every live family of an account except those made in the
/// session `keep_sid`; returns how many were revoked. Scans every family:
/// the store has no index by account (TODO(#5): an index once the scan is
/// slow).
pub fn revoke_all(
    kv: &dyn Kv,
    account_id: &str,
    keep_sid: Option<&str>,
    now: u64,
) -> std::result::Result<usize, Error> {
    let mut revoked = 0;
    for k in kv.keys(Store::Oidc, "family:")? {
        let Some((f, _)) = expiring::get_readable::<Family>(kv, Store::Oidc, &k, now)? else {
            continue;
        };
        if f.v.account_id == account_id && !f.v.revoked && Some(f.v.sid.as_str()) != keep_sid {
            revoke_family(kv, k.trim_start_matches("family:"), now)?;
            revoked += 1;
        }
    }
    Ok(revoked)
}

/// A family that still stands: not revoked, its client not replaced, and
/// its session not logged out unless it was granted `offline_access` (for
/// the userinfo endpoint).
pub fn family_live(kv: &dyn Kv, fid: &str, now: u64) -> std::result::Result<Option<Family>, Error> {
    if is_revoked(kv, fid, now)? {
        return Ok(None);
    }
    let Some(f) = expiring::get_live::<Family>(kv, Store::Oidc, &family_key(fid), now)?
        .map(|(f, _)| f.v)
        .filter(|f| !f.revoked)
    else {
        return Ok(None);
    };
    let client_same = client::find(kv, &f.client_id)?.is_some_and(|c| c.serial == f.client_serial);
    if !client_same || !(f.offline || session::sid_live(kv, &f.sid, now)?) {
        return Ok(None);
    }
    Ok(Some(f))
}

/// Checks the client's required permission and that the account exists.
fn still_allowed(
    kv: &dyn Kv,
    client: &Client,
    username: &str,
    account_id: &str,
    now: u64,
) -> Result<Account> {
    let name = Username::parse(username).map_err(|_| oauth("invalid_grant", "unknown account"))?;
    let Some(acc) = account::find(kv, &name)?.filter(|a| a.id == account_id) else {
        return Err(oauth("invalid_grant", "the account no longer exists"));
    };
    if let Some(p) = &client.required_permission {
        if !permissions::get(kv, account_id)?.holds(p, now) {
            return Err(oauth(
                "invalid_grant",
                "the member no longer holds the required permission",
            ));
        }
    }
    Ok(acc)
}

/// The registered claims every token of one issue shares.
struct Base<'a> {
    now: u64,
    exp: u64,
    issuer: &'a str,
    subject: &'a str,
    audience: &'a str,
}

impl Base<'_> {
    fn claims<C>(&self, custom: C) -> JWTClaims<C> {
        JWTClaims {
            issued_at: Some(UnixTimeStamp::from_secs(self.now)),
            expires_at: Some(UnixTimeStamp::from_secs(self.exp)),
            invalid_before: None,
            issuer: Some(self.issuer.to_owned()),
            subject: Some(self.subject.to_owned()),
            audiences: Some(Audiences::AsString(self.audience.to_owned())),
            jwt_id: None,
            nonce: None,
            custom,
        }
    }
}

struct Issue<'a> {
    client: &'a Client,
    account: &'a Account,
    /// Scopes of the tokens issued now.
    scopes: &'a [String],
    /// Scopes of the grant, kept by the next refresh token (RFC 6749
    /// section 6: a narrower refresh does not narrow the grant).
    grant_scopes: &'a [String],
    nonce: Option<&'a str>,
    auth_time: u64,
    sid: &'a str,
    amr: &'a [String],
    fid: &'a str,
    with_id_token: bool,
}

fn issue(kv: &dyn Kv, settings: &Settings, i: Issue<'_>, now: u64) -> Result<Tokens> {
    let signer = keys::signer(kv, i.client.signing_alg, settings, now)?;
    let scope = i.scopes.join(" ");
    let exp = now + settings.access_seconds;
    let base = Base {
        now,
        exp,
        issuer: &settings.issuer,
        subject: &i.account.id,
        audience: &i.client.client_id,
    };
    let mut access = base.claims(AccessTokenClaims {
        client_id: i.client.client_id.clone(),
        scope: scope.clone(),
        sid: i.sid.to_owned(),
        fid: i.fid.to_owned(),
    });
    access.jwt_id = Some(random::token(16));
    let access_token = signer.sign(access, ACCESS_TYP)?;

    let id_token = if i.with_id_token {
        let grants = permissions::get(kv, &i.account.id)?;
        let shown = profile::get(kv, &i.account.id)?;
        let mut id = base.claims(IdTokenClaims {
            auth_time: i.auth_time,
            at_hash: Some(claims::at_hash(&access_token, signer.alg)),
            sid: i.sid.to_owned(),
            amr: i.amr.to_vec(),
            azp: i.client.client_id.clone(),
            claims: claims::for_scopes(i.account, &grants, shown.display_name(), i.scopes, now),
        });
        id.nonce = i.nonce.map(String::from);
        Some(signer.sign(id, "JWT")?)
    } else {
        None
    };

    // the next refresh token of this family
    let refresh_token = random::token(32);
    let record = RefreshRecord {
        fid: i.fid.to_owned(),
        client_id: i.client.client_id.clone(),
        account_id: i.account.id.clone(),
        username: i.account.username.clone(),
        scopes: i.grant_scopes.to_vec(),
        auth_time: i.auth_time,
        sid: i.sid.to_owned(),
        amr: i.amr.to_vec(),
        used: false,
        m: random::token(8),
    };
    let refresh_exp = now + settings.refresh_seconds;
    expiring::put(
        kv,
        Store::Oidc,
        &refresh_key(&refresh_token),
        refresh_exp,
        &record,
    )?;
    Ok(Tokens {
        access_token,
        token_type: "Bearer",
        expires_in: settings.access_seconds,
        id_token,
        refresh_token,
        scope,
    })
}

/// Marks a single-use record used by compare-and-swap against its present
/// value (atomic on every backend). Returns false if another use won.
fn consume<T: Serialize>(kv: &dyn Kv, key: &str, raw: &[u8], exp: u64, used: &T) -> Result<bool> {
    let encoded = expiring::encode(exp, used)?;
    Ok(kv.compare_and_swap(Store::Oidc, key, Some(raw), &encoded)?)
}

/// `grant_type=authorization_code`.
pub fn exchange_code(
    kv: &dyn Kv,
    settings: &Settings,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    now: u64,
) -> Result<Tokens> {
    let invalid = |t: &str| oauth("invalid_grant", t);
    if code.is_empty() || code.len() > 128 {
        return Err(invalid("unknown code"));
    }
    let key = code_key(code);
    let Some((found, raw)) = expiring::get_live::<CodeRecord>(kv, Store::Oidc, &key, now)? else {
        return Err(invalid("the code is unknown or expired"));
    };
    let rec = found.v;
    if rec.used {
        // a replay: revoke everything the first exchange issued
        revoke_family(kv, &rec.fid, now)?;
        return Err(invalid("the code was used already; its tokens are revoked"));
    }
    if rec.client_id != client.client_id {
        return Err(invalid("the code was issued to another client"));
    }
    if redirect_uri != Some(rec.redirect_uri.as_str()) {
        return Err(invalid(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&rec.code_challenge, verifier) {
        (Some(challenge), Some(v)) => {
            // RFC 7636 section 4.1: 43 to 128 unreserved characters
            let well_formed = (43..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()));
            if !well_formed || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                return Err(invalid("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(invalid("code_verifier is required")),
        (None, Some(_)) => return Err(invalid("no code_challenge was sent for this code")),
        (None, None) => {}
    }

    // single use, decided by the store
    let used = CodeRecord {
        used: true,
        m: random::token(8),
        ..rec.clone()
    };
    if !consume(kv, &key, &raw, found.exp, &used)? {
        revoke_family(kv, &rec.fid, now)?;
        return Err(invalid("the code was used already; its tokens are revoked"));
    }

    let account = still_allowed(kv, client, &rec.username, &rec.account_id, now)?;
    let family = Family {
        client_id: client.client_id.clone(),
        account_id: rec.account_id.clone(),
        username: rec.username.clone(),
        sid: rec.sid.clone(),
        revoked: false,
        client_serial: client.serial.clone(),
        offline: rec.scopes.iter().any(|s| s == "offline_access"),
    };
    expiring::put(
        kv,
        Store::Oidc,
        &family_key(&rec.fid),
        now + settings.refresh_seconds,
        &family,
    )?;
    let until = now + settings.refresh_seconds;
    crate::oidc::logout::remember(kv, client, &rec.sid, &rec.account_id, until)?;
    issue(
        kv,
        settings,
        Issue {
            client,
            account: &account,
            scopes: &rec.scopes,
            grant_scopes: &rec.scopes,
            nonce: rec.nonce.as_deref(),
            auth_time: rec.auth_time,
            sid: &rec.sid,
            amr: &rec.amr,
            fid: &rec.fid,
            with_id_token: true,
        },
        now,
    )
}

/// `grant_type=refresh_token`: rotates the refresh token; a reused one
/// revokes the whole family.
pub fn refresh(
    kv: &dyn Kv,
    settings: &Settings,
    client: &Client,
    token: &str,
    scope: Option<&str>,
    now: u64,
) -> Result<Tokens> {
    let invalid = |t: &str| oauth("invalid_grant", t);
    if token.is_empty() || token.len() > 128 {
        return Err(invalid("unknown refresh token"));
    }
    let key = refresh_key(token);
    let Some((found, raw)) = expiring::get_live::<RefreshRecord>(kv, Store::Oidc, &key, now)?
    else {
        return Err(invalid("the refresh token is unknown or expired"));
    };
    let rec = found.v;
    if rec.client_id != client.client_id {
        return Err(invalid("the refresh token was issued to another client"));
    }
    if rec.used {
        revoke_family(kv, &rec.fid, now)?;
        return Err(invalid(
            "the refresh token was used already; the grant is revoked",
        ));
    }
    let Some((family, _)) = load_family(kv, &rec.fid, now)? else {
        return Err(invalid("the grant has ended"));
    };
    if family.revoked || is_revoked(kv, &rec.fid, now)? {
        return Err(invalid("the grant is revoked"));
    }
    if family.client_serial != client.serial {
        return Err(invalid("the grant belongs to a client that was removed"));
    }
    if !family.offline && !session::sid_live(kv, &family.sid, now)? {
        return Err(invalid("the member has logged out; sign in again"));
    }
    let scopes: Vec<String> = match scope {
        None => rec.scopes.clone(),
        Some(s) => {
            let asked: Vec<String> = s
                .split(' ')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect();
            if asked.iter().any(|a| !rec.scopes.contains(a)) {
                return Err(oauth(
                    "invalid_scope",
                    "a refresh cannot widen the granted scopes",
                ));
            }
            asked
        }
    };
    let used = RefreshRecord {
        used: true,
        m: random::token(8),
        ..rec.clone()
    };
    if !consume(kv, &key, &raw, found.exp, &used)? {
        revoke_family(kv, &rec.fid, now)?;
        return Err(invalid(
            "the refresh token was used already; the grant is revoked",
        ));
    }
    let account = still_allowed(kv, client, &rec.username, &rec.account_id, now)?;
    // keep the family alive as long as its newest refresh token
    let renewed = Family { ..family };
    expiring::put(
        kv,
        Store::Oidc,
        &family_key(&rec.fid),
        now + settings.refresh_seconds,
        &renewed,
    )?;
    issue(
        kv,
        settings,
        Issue {
            client,
            account: &account,
            scopes: &scopes,
            grant_scopes: &rec.scopes,
            nonce: None,
            auth_time: rec.auth_time,
            sid: &rec.sid,
            amr: &rec.amr,
            fid: &rec.fid,
            with_id_token: scopes.iter().any(|s| s == "openid"),
        },
        now,
    )
}

/// RFC 7009: revokes a refresh or access token of this client. Unknown
/// tokens are not an error.
pub fn revoke(
    kv: &dyn Kv,
    settings: &Settings,
    client: &Client,
    token: &str,
    now: u64,
) -> Result<()> {
    if token.is_empty() || token.len() > 8192 {
        return Ok(());
    }
    if let Some((found, _)) =
        expiring::get_live::<RefreshRecord>(kv, Store::Oidc, &refresh_key(token), now)?
    {
        if found.v.client_id == client.client_id {
            revoke_family(kv, &found.v.fid, now)?;
        }
        return Ok(());
    }
    if let Ok(claims) =
        keys::verify::<AccessTokenClaims>(kv, token, ACCESS_TYP, &settings.issuer, now)
    {
        if claims.custom.client_id == client.client_id {
            revoke_family(kv, &claims.custom.fid, now)?;
        }
    }
    Ok(())
}
