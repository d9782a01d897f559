//! Registered clients (relying parties), managed through the admin API.
//!
//! Key families: `clients` / `client:{client_id}` → [`Client`];
//! `client_secrets` / `secret:{client_id}` → SHA-256 of the secret.
//! Secrets are 256-bit random values made here (or at least 32 characters
//! when the operator brings one), so a fast hash suffices.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use url::Url;

use crate::kv::{Kv, Store};
use crate::oidc::keys::Alg;
use crate::{permissions, random, Error, Result};

/// Scopes a client may ask for unless registered otherwise.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "groups", "offline_access"];
/// Scopes this provider knows.
pub const KNOWN_SCOPES: &[&str] = &["openid", "profile", "email", "groups", "offline_access"];
/// Shortest secret an operator may set.
pub const MIN_SECRET_LEN: usize = 32;

/// A relying party.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Client {
    /// The client identifier.
    pub client_id: String,
    /// Whether the client has no secret (native and browser apps); it then
    /// must use PKCE.
    #[serde(default)]
    pub public: bool,
    /// Redirect URIs, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens are posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
    /// Algorithm of its ID tokens.
    pub signing_alg: Alg,
    /// First-party clients get no consent page.
    #[serde(default)]
    pub first_party: bool,
    /// A permission the member must hold, unexpired, to log in here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_permission: Option<String>,
    /// A name for people (consent page); the client id if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Random value made when the client is created: grants remember it, so
    /// that a client deleted and made again does not inherit old grants.
    #[serde(default)]
    pub serial: String,
}

/// What the admin sends (`PUT /admin/clients/{id}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    /// A secret to set; omitted: keep the present one or make one.
    pub secret: Option<String>,
    /// Whether the client is public (no secret).
    #[serde(default)]
    pub public: bool,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// Allowed scopes.
    pub scopes: Option<Vec<String>>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub signing_alg: Option<String>,
    /// Skip the consent page.
    #[serde(default)]
    pub first_party: bool,
    /// Required permission.
    pub required_permission: Option<String>,
    /// Make a new secret even though one exists.
    #[serde(default)]
    pub rotate_secret: bool,
    /// A name for people.
    pub name: Option<String>,
}

fn client_key(id: &str) -> String {
    format!("client:{id}")
}

fn secret_key(id: &str) -> String {
    format!("secret:{id}")
}

fn secret_digest(secret: &str) -> String {
    random::digest_hex("client-secret", secret)
}

/// Checks a client id: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_client_id",
            "client ids are 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-'",
        ))
    }
}

/// A redirect URI must be absolute, without fragment, and HTTPS unless it
/// points to a loopback host (RFC 9700 section 2.1, RFC 8252 section 7.3).
fn check_uri(field: &str, uri: &str) -> Result<()> {
    let bad = |m: &str| Error::invalid("invalid_client", format!("{field}: {m}"));
    if uri.len() > 2048 {
        return Err(bad("URI too long"));
    }
    let url = Url::parse(uri).map_err(|_| bad("not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(bad("URI must not have a fragment"));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad("URI must use https (http only for loopback hosts)")),
    }
}

impl ClientInput {
    /// Validates the input into a client record.
    pub fn into_client(self, client_id: &str) -> Result<(Client, Option<String>, bool)> {
        check_id(client_id)?;
        if self.redirect_uris.is_empty() || self.redirect_uris.len() > 20 {
            return Err(Error::invalid(
                "invalid_client",
                "redirect_uris must list 1 to 20 URIs",
            ));
        }
        for u in &self.redirect_uris {
            check_uri("redirect_uris", u)?;
        }
        for u in &self.post_logout_redirect_uris {
            check_uri("post_logout_redirect_uris", u)?;
        }
        if let Some(u) = &self.backchannel_logout_uri {
            check_uri("backchannel_logout_uri", u)?;
        }
        let scopes: Vec<String> = match self.scopes {
            Some(s) => s,
            None => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        };
        if let Some(unknown) = scopes.iter().find(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
            return Err(Error::invalid(
                "invalid_client",
                format!(
                    "unknown scope `{}`; known: {}",
                    unknown.chars().take(32).collect::<String>(),
                    KNOWN_SCOPES.join(", ")
                ),
            ));
        }
        if !scopes.iter().any(|s| s == "openid") {
            return Err(Error::invalid(
                "invalid_client",
                "scopes must include openid",
            ));
        }
        let signing_alg = match self.signing_alg.as_deref() {
            None => Alg::Rs256,
            Some(a) => Alg::parse(a).ok_or_else(|| {
                Error::invalid(
                    "invalid_client",
                    "signing_alg must be RS256, ES256 or EdDSA",
                )
            })?,
        };
        if let Some(p) = &self.required_permission {
            permissions::check_name(p)?;
        }
        if self.post_logout_redirect_uris.len() > 20 {
            return Err(Error::invalid(
                "invalid_client",
                "post_logout_redirect_uris may list at most 20 URIs",
            ));
        }
        if let Some(n) = &self.name {
            if n.trim().is_empty() || n.chars().count() > 80 || n.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "invalid_client",
                    "name must be 1 to 80 printable characters",
                ));
            }
        }
        if let Some(s) = &self.secret {
            if self.public {
                return Err(Error::invalid(
                    "invalid_client",
                    "a public client has no secret",
                ));
            }
            if s.len() < MIN_SECRET_LEN || s.len() > 256 {
                return Err(Error::invalid(
                    "invalid_client",
                    format!("secret must be {MIN_SECRET_LEN} to 256 characters"),
                ));
            }
        }
        let client = Client {
            client_id: client_id.to_owned(),
            public: self.public,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            backchannel_logout_uri: self.backchannel_logout_uri,
            scopes,
            signing_alg,
            first_party: self.first_party,
            required_permission: self.required_permission,
            name: self.name,
            serial: String::new(),
        };
        Ok((client, self.secret, self.rotate_secret))
    }
}

/// Reads a client.
pub fn find(kv: &dyn Kv, client_id: &str) -> Result<Option<Client>> {
    if check_id(client_id).is_err() {
        return Ok(None);
    }
    match kv.get(Store::Clients, &client_key(client_id))? {
        Some(raw) => serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|_| Error::Internal("unreadable client".into())),
        None => Ok(None),
    }
}

/// Lists all clients.
pub fn list(kv: &dyn Kv) -> Result<Vec<Client>> {
    let mut out = Vec::new();
    for key in kv.keys(Store::Clients, "client:")? {
        if let Some(c) = find(kv, key.trim_start_matches("client:"))? {
            out.push(c);
        }
    }
    out.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(out)
}

/// Creates or replaces a client. Returns the secret when one was made or
/// set now (shown once); a confidential client without a secret gets one.
pub fn put(kv: &dyn Kv, input: ClientInput, client_id: &str) -> Result<(Client, Option<String>)> {
    let (mut client, given, rotate) = input.into_client(client_id)?;
    client.serial = match find(kv, client_id)? {
        Some(old) if !old.serial.is_empty() => old.serial,
        _ => random::token(12),
    };
    let has_secret = kv
        .get(Store::ClientSecrets, &secret_key(client_id))?
        .is_some();
    let new_secret = match (client.public, given) {
        (true, _) => None,
        (false, Some(s)) => Some(s),
        (false, None) if rotate || !has_secret => Some(random::token(32)),
        (false, None) => None,
    };
    if client.public {
        kv.delete(Store::ClientSecrets, &secret_key(client_id))?;
    } else if let Some(s) = &new_secret {
        kv.set(
            Store::ClientSecrets,
            &secret_key(client_id),
            secret_digest(s).as_bytes(),
        )?;
    }
    let raw = serde_json::to_vec(&client).map_err(|e| Error::Internal(e.to_string()))?;
    kv.set(Store::Clients, &client_key(client_id), &raw)?;
    Ok((client, new_secret))
}

/// Removes a client and its secret. Returns whether it existed.
pub fn delete(kv: &dyn Kv, client_id: &str) -> Result<bool> {
    let existed = find(kv, client_id)?.is_some();
    kv.delete(Store::ClientSecrets, &secret_key(client_id))?;
    kv.delete(Store::Clients, &client_key(client_id))?;
    Ok(existed)
}

/// Checks a confidential client's secret in constant time.
pub fn secret_matches(kv: &dyn Kv, client_id: &str, secret: &str) -> Result<bool> {
    let Some(stored) = kv.get(Store::ClientSecrets, &secret_key(client_id))? else {
        return Ok(false);
    };
    let given = secret_digest(secret);
    Ok(stored.ct_eq(given.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    fn input() -> ClientInput {
        ClientInput {
            redirect_uris: vec!["https://cloud.example.org/callback".into()],
            ..ClientInput::default()
        }
    }

    #[test]
    fn confidential_client_gets_a_secret_once_that_then_verifies() -> Result<()> {
        let kv = MemoryKv::new();
        let (client, secret) = put(&kv, input(), "cloud")?;
        assert_eq!(client.signing_alg, Alg::Rs256);
        let secret = secret.ok_or_else(|| Error::Internal("no secret".into()))?;
        assert!(secret_matches(&kv, "cloud", &secret)?);
        assert!(!secret_matches(&kv, "cloud", "wrong")?);
        // updating keeps the secret and does not show it again
        let (_, again) = put(&kv, input(), "cloud")?;
        assert!(again.is_none());
        assert!(secret_matches(&kv, "cloud", &secret)?);
        // the store holds a digest, not the secret
        assert!(kv
            .values()
            .iter()
            .all(|v| !String::from_utf8_lossy(v).contains(&secret)));
        Ok(())
    }

    #[test]
    fn bad_registrations_are_refused() {
        let kv = MemoryKv::new();
        let mut i = input();
        i.redirect_uris = vec!["http://evil.example/cb".into()];
        assert!(put(&kv, i, "x").is_err());
        let mut i = input();
        i.redirect_uris = vec!["https://a.example/cb#frag".into()];
        assert!(put(&kv, i, "x").is_err());
        let mut i = input();
        i.signing_alg = Some("HS256".into());
        assert!(put(&kv, i, "x").is_err());
        assert!(put(&kv, input(), "bad id!").is_err());
        let mut i = input();
        i.secret = Some("short".into());
        assert!(put(&kv, i, "x").is_err());
        assert!(kv.values().is_empty());
    }
}
