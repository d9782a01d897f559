//! Deleting an account (GDPR article 17): every key of the member in every
//! store goes, the member's OpenID Connect grants first, so that tokens
//! stop working even if a later step fails.
//!
//! What is left is the tombstone `retired:{sha256(username)}`, a digest
//! that keeps the name from being given out again (see
//! [`account::retired_key`]).

use serde_json::Value;

use crate::account::{self, Account};
use crate::kv::{Kv, Store};
use crate::oidc::grant;
use crate::permissions;
use crate::profile;
use crate::recovery;
use crate::session;
use crate::throttle;
use crate::twofactor;
use crate::username::Username;
use crate::Result;

/// Key prefixes, per store, of records that name an account in their
/// value (`account_id`, or inside an expiring envelope `v.account_id`).
/// Markers keyed by a session's or a family's public id (`sid:`,
/// `revoked:`) are found through these records.
const OWNED_RECORDS: &[(Store, &str)] = &[
    (Store::Oidc, "code:"),
    (Store::Oidc, "refresh:"),
    (Store::Oidc, "family:"),
    (Store::Oidc, "rp:"),
    (Store::Sessions, "session:"),
    (Store::Sessions, "pending:"),
    (Store::Sessions, "challenge:"),
    (Store::Sessions, "recover:"),
];

/// The record inside a stored value (inside an expiring envelope, if it
/// is one), if it names `account_id` as its account.
fn of_account(raw: &[u8], account_id: &str) -> Option<Value> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    let inner = match v.get("v") {
        Some(inner) if v.get("exp").is_some() => inner.clone(),
        _ => v,
    };
    (inner.get("account_id").and_then(Value::as_str) == Some(account_id)).then_some(inner)
}

/// Every key of the member, per store, in the order they are deleted:
/// records found by scanning, then the records keyed by the account, the
/// password, and last the account record (so that a failed deletion can
/// be retried with the password).
pub fn keys_of(kv: &dyn Kv, account: &Account) -> Result<Vec<(Store, String)>> {
    let mut out = Vec::new();
    // the public session ids and token family ids these records carry,
    // whose markers (`sid:`, `revoked:`) go too
    let mut sids = std::collections::BTreeSet::new();
    let mut fids = std::collections::BTreeSet::new();
    for (store, prefix) in OWNED_RECORDS {
        for k in kv.keys(*store, prefix)? {
            let Some(raw) = kv.get(*store, &k)? else {
                continue;
            };
            let Some(record) = of_account(&raw, &account.id) else {
                continue;
            };
            if let Some(sid) = record.get("sid").and_then(Value::as_str) {
                sids.insert(sid.to_owned());
            }
            if let Some(fid) = record.get("fid").and_then(Value::as_str) {
                fids.insert(fid.to_owned());
            }
            if let Some(fid) = k.strip_prefix("family:") {
                fids.insert(fid.to_owned());
            }
            out.push((*store, k));
        }
    }
    for sid in sids.iter().filter(|s| !s.is_empty()) {
        out.push((Store::Sessions, session::sid_key(sid)));
    }
    for fid in &fids {
        out.push((Store::Oidc, grant::revoked_key(fid)));
    }
    for k in kv.keys(Store::Oidc, &format!("consent:{}:", account.id))? {
        out.push((Store::Oidc, k));
    }
    let mut throttled = vec![
        account.username.clone(),
        recovery::mail_throttle_name(&account.username),
    ];
    if let Some(e) = &account.email {
        throttled.push(recovery::mail_throttle_name(e));
        out.push((Store::Accounts, recovery::email_index_key(e, &account.id)));
    }
    for name in throttled {
        out.push((Store::Sessions, throttle::key(&name)));
    }
    out.push((Store::Credentials, twofactor::key(&account.id)));
    out.push((Store::Permissions, permissions::key(&account.id)));
    out.push((Store::Accounts, profile::key(&account.id)));
    if let Ok(name) = Username::parse(&account.username) {
        out.push((Store::Accounts, account::claim_key(&name)));
    }
    out.push((Store::Credentials, account::credential_key(&account.id)));
    if let Ok(name) = Username::parse(&account.username) {
        out.push((Store::Accounts, account::account_key(&name)));
    }
    Ok(out)
}

/// Deletes the account and everything of it. Returns how many keys were
/// looked at for deletion.
pub fn erase(kv: &dyn Kv, account: &Account, now: u64) -> Result<usize> {
    let name = Username::parse(&account.username)?;
    kv.set(Store::Accounts, &account::retired_key(&name), b"1")?;
    grant::revoke_all(kv, &account.id, None, now)?;
    let keys = keys_of(kv, account)?;
    for (store, k) in &keys {
        kv.delete(*store, k)?;
    }
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiring;
    use crate::kv::MemoryKv;
    use crate::password::HashParams;
    use crate::register::{self, NewAccount};
    use crate::secret::Secret;
    use crate::Error;

    fn register(kv: &MemoryKv, name: &str) -> Result<Account> {
        let settings = register::Settings {
            hash: HashParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            mail_domain: "example.org".into(),
        };
        let done = register::register(
            kv,
            &settings,
            NewAccount {
                username: name.into(),
                password: Secret::new("correct horse battery".into()),
                email: Some(format!("{name}@example.org")),
                public_key: None,
            },
            1000,
        )?;
        Ok(done.account)
    }

    #[test]
    fn erasing_leaves_no_key_or_value_naming_the_member_and_spares_others() -> Result<()> {
        let kv = MemoryKv::new();
        let alice = register(&kv, "alice")?;
        let bob = register(&kv, "bob")?;
        for (who, sid) in [(&alice, "s1"), (&bob, "s2")] {
            let family = serde_json::json!({"client_id": "c", "account_id": who.id,
                "username": who.username, "sid": sid, "revoked": false});
            expiring::put(&kv, Store::Oidc, &format!("family:{sid}"), 9999, &family)?;
            kv.set(Store::Oidc, &format!("consent:{}:c", who.id), b"{}")?;
        }
        throttle::record_failure(&kv, "alice", 1000)?;
        recovery::request_links(&kv, "alice@example.org", 600, 1000)?;

        erase(&kv, &alice, 1001)?;
        for store in [
            Store::Accounts,
            Store::Credentials,
            Store::Sessions,
            Store::Permissions,
            Store::Oidc,
        ] {
            for k in kv.all_keys(store) {
                let v = kv.get(store, &k)?.unwrap_or_default();
                let text = format!("{k} {}", String::from_utf8_lossy(&v));
                assert!(
                    !text.contains(&alice.id) && !text.contains("alice"),
                    "{text}"
                );
                assert_ne!(k, throttle::key("alice"));
            }
        }
        assert!(kv.all_keys(Store::Oidc).contains(&"family:s2".to_string()));
        assert!(kv
            .get(Store::Permissions, &permissions::key(&bob.id))?
            .is_some());
        // the name cannot be registered again
        assert!(matches!(register(&kv, "alice"), Err(Error::UsernameTaken)));
        Ok(())
    }
}
