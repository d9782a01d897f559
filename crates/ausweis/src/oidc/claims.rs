//! Claims about a member, the same in ID tokens and at the userinfo
//! endpoint (OpenID Connect Core section 5.4).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::account::Account;
use crate::oidc::keys::Alg;
use crate::permissions::Grants;

/// The group a member gets in the `groups` claim.
pub const MEMBER_GROUP: &str = "member";

/// Claims released for the granted scopes:
/// - `profile`: `preferred_username`, and `name` if the member's profile
///   has a text field `name` shared with others (public or protected:
///   the client acts for a logged-in member; see
///   [`crate::profile::Profile::display_name`]);
/// - `email`: `email` and `email_verified` (false: addresses are never
///   verified), only if the member gave one;
/// - `groups`: unexpired permission names and, for members, `member`.
pub fn for_scopes(
    account: &Account,
    grants: &Grants,
    name: Option<&str>,
    scopes: &[String],
    now: u64,
) -> Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut out = Map::new();
    if has("profile") {
        out.insert(
            "preferred_username".into(),
            Value::from(account.username.clone()),
        );
        if let Some(n) = name {
            out.insert("name".into(), Value::from(n));
        }
    }
    if has("email") {
        if let Some(email) = &account.email {
            out.insert("email".into(), Value::from(email.clone()));
            out.insert("email_verified".into(), Value::from(false));
        }
    }
    if has("groups") {
        let mut groups = grants.active(now);
        if grants.member && !groups.iter().any(|g| g == MEMBER_GROUP) {
            groups.push(MEMBER_GROUP.into());
        }
        groups.sort();
        out.insert("groups".into(), Value::from(groups));
    }
    out
}

/// Extra claims of an ID token besides the registered JWT ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Time of the member's authentication.
    pub auth_time: u64,
    /// Left half of the access token's hash (OIDC Core section 3.1.3.6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Session id at the provider (OIDC Front-/Back-Channel Logout).
    pub sid: String,
    /// Authentication methods (RFC 8176).
    pub amr: Vec<String>,
    /// The client the token was issued to.
    pub azp: String,
    /// Scope claims.
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}

/// Claims of an access token (RFC 9068 shape) besides the registered ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The client it was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Provider session id.
    pub sid: String,
    /// Token family (authorization grant), for revocation.
    pub fid: String,
}

/// `at_hash`: the left half of the hash of the access token, with the hash
/// of the signature algorithm (SHA-256 for RS256 and ES256; SHA-512 for
/// EdDSA with Ed25519).
pub fn at_hash(access_token: &str, alg: Alg) -> String {
    let digest: Vec<u8> = match alg {
        Alg::Rs256 | Alg::Es256 => Sha256::digest(access_token.as_bytes()).to_vec(),
        Alg::EdDsa => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(email: Option<&str>) -> Account {
        Account {
            id: "id".into(),
            username: "alice".into(),
            email: email.map(String::from),
            public_key: String::new(),
            fingerprint: String::new(),
            created: 0,
        }
    }

    #[test]
    fn claims_follow_the_scopes() {
        let mut g = Grants {
            member: true,
            ..Grants::default()
        };
        g.permissions.insert("cloud".into(), 100);
        g.permissions.insert("old".into(), 5);
        let all: Vec<String> = ["openid", "profile", "email", "groups"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = for_scopes(
            &account(Some("a@example.org")),
            &g,
            Some("Alice A."),
            &all,
            10,
        );
        assert_eq!(c["preferred_username"], "alice");
        assert_eq!(c["name"], "Alice A.");
        assert_eq!(c["email"], "a@example.org");
        assert_eq!(c["groups"], serde_json::json!(["cloud", "member"]));
        let only_openid = for_scopes(
            &account(Some("a@example.org")),
            &g,
            Some("Alice A."),
            &["openid".into()],
            10,
        );
        assert!(only_openid.is_empty());
        let no_email = for_scopes(&account(None), &g, None, &all, 10);
        assert!(no_email.get("email").is_none());
        assert!(no_email.get("name").is_none());
    }

    #[test]
    fn at_hash_matches_the_oidc_core_example() {
        // OpenID Connect Core 1.0, appendix A.3: access token and at_hash.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", Alg::Rs256),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
