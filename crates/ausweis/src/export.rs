//! What is stored about a member, as one JSON document (GDPR articles 15
//! and 20). Secrets that would let the holder of the export act as the
//! member (the password hash, the TOTP secret, digests of recovery codes,
//! of session ids and of tokens) are named, not copied.

use serde_json::{json, Value};

use crate::account::Account;
use crate::date;
use crate::erase;
use crate::kv::{Kv, Store};
use crate::oidc::grant::Family;
use crate::permissions::{self, Grants};
use crate::profile;
use crate::session::Session;
use crate::twofactor;
use crate::{expiring, Result};

/// Version of the export format.
pub const FORMAT: u32 = 1;

/// Permissions with their expiry, as the member sees them.
pub fn permissions_listing(grants: &Grants, now: u64) -> Vec<Value> {
    grants
        .permissions
        .iter()
        .map(|(name, exp)| {
            json!({
                "name": name,
                "expires_at": exp,
                "expires": date::rfc3339(*exp),
                "active": *exp > now,
            })
        })
        .collect()
}

/// Profile fields as a list, sorted by name.
pub fn fields_listing(fields: &std::collections::BTreeMap<String, profile::Field>) -> Vec<Value> {
    fields
        .iter()
        .map(|(name, f)| {
            json!({"name": name, "value": f.value, "type": f.kind, "visibility": f.visibility})
        })
        .collect()
}

/// Everything stored about `account`.
pub fn export(kv: &dyn Kv, account: &Account, now: u64) -> Result<Value> {
    let grants = permissions::get(kv, &account.id)?;
    let prof = profile::get(kv, &account.id)?;
    let second = twofactor::get(kv, &account.id)?.map(|(t, _)| t);

    let mut sessions = Vec::new();
    let mut grants_to_clients = Vec::new();
    let mut short_lived = Vec::new();
    for (store, k) in erase::keys_of(kv, account)? {
        let kind = k.split(':').next().unwrap_or_default();
        match (store, kind) {
            (Store::Sessions, "session") => {
                if let Some((s, _)) = expiring::get_readable::<Session>(kv, store, &k, now)? {
                    sessions.push(json!({
                        "logged_in_at": date::rfc3339(s.v.auth_time),
                        "last_used_at": date::rfc3339(s.v.seen),
                        "expires_at": date::rfc3339(s.exp),
                        "methods": s.v.amr,
                    }));
                }
            }
            (Store::Oidc, "family") => {
                if let Some((f, _)) = expiring::get_readable::<Family>(kv, store, &k, now)? {
                    grants_to_clients.push(json!({
                        "client_id": f.v.client_id,
                        "revoked": f.v.revoked,
                        "expires_at": date::rfc3339(f.exp),
                    }));
                }
            }
            (Store::Oidc, "consent") => {}
            (
                Store::Oidc | Store::Sessions,
                "code" | "refresh" | "rp" | "pending" | "challenge" | "recover" | "throttle"
                | "sid" | "revoked",
            ) => {
                let present = kv.get(store, &k)?;
                short_lived.extend(present.map(|_| json!({"store": store.label(), "kind": kind})));
            }
            _ => {}
        }
    }
    let mut consents = Vec::new();
    for k in kv.keys(Store::Oidc, &format!("consent:{}:", account.id))? {
        let client_id = k.rsplit(':').next().unwrap_or_default().to_owned();
        let scopes = kv
            .get(Store::Oidc, &k)?
            .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok())
            .map(|v| v["scopes"].clone())
            .unwrap_or(Value::Null);
        consents.push(json!({"client_id": client_id, "scopes": scopes}));
    }

    Ok(json!({
        "format": FORMAT,
        "exported_at": date::rfc3339(now),
        "account": {
            "id": account.id,
            "username": account.username,
            "email": account.email,
            "created_at": date::rfc3339(account.created),
            "openpgp_public_key": account.public_key,
            "openpgp_fingerprint": account.fingerprint,
        },
        "password": "kept as an Argon2id hash; the hash is not exported",
        "two_factor": match &second {
            Some(t) => json!({
                "enabled": t.enabled,
                "since": date::rfc3339(t.since),
                "recovery_codes_left": t.recovery.len(),
                "secret": "kept to check codes; not exported",
            }),
            None => json!({"enabled": false}),
        },
        "membership": {
            "member": grants.member,
            "permissions": permissions_listing(&grants, now),
        },
        "profile": fields_listing(&prof.fields),
        "sessions": sessions,
        "openid_connect": {
            "consents": consents,
            "grants": grants_to_clients,
        },
        "short_lived_records": short_lived,
    }))
}
