//! Checks of a whole app's stores and logs, shared by the end-to-end suite
//! and the load run:
//! - every key matches a family of `kv-schema/schema.json` in its store;
//! - each component opened only the stores it declares and touched only
//!   keys of families that name it as reader or writer;
//! - no secret of the caller appears in a store or in the guest output;
//! - usernames are unique (one account record per name, one name per
//!   account id), and no key is orphaned: every key that names an account,
//!   client, family or session belongs to one that exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{anyhow, Context};
use serde_json::Value;

use crate::manifest::Manifest;
use crate::{KvAccess, Outcome, RunningApp};

/// Store label to key to value, as [`crate::KvBackend::dump`] gives it.
pub type Dump = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// One key family of `kv-schema/schema.json`.
#[derive(Debug, Clone)]
pub struct Family {
    /// The family's name.
    pub name: String,
    /// Its store label.
    pub store: String,
    /// Matches exactly its keys.
    pub regex: regex::Regex,
    /// Components that read it.
    pub readers: Vec<String>,
    /// Components that write it.
    pub writers: Vec<String>,
}

/// The families of `root/kv-schema/schema.json`.
pub fn families(root: &Path) -> anyhow::Result<Vec<Family>> {
    let path = root.join("kv-schema/schema.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let schema: Value = serde_json::from_str(&text).context("kv-schema/schema.json")?;
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    schema["families"]
        .as_array()
        .ok_or_else(|| anyhow!("kv-schema/schema.json has no families"))?
        .iter()
        .map(|f| {
            Ok(Family {
                name: f["name"].as_str().unwrap_or_default().into(),
                store: f["store"].as_str().unwrap_or_default().into(),
                regex: regex::Regex::new(f["regex"].as_str().unwrap_or("^$"))
                    .with_context(|| format!("regex of family {}", f["name"]))?,
                readers: names(&f["readers"]),
                writers: names(&f["writers"]),
            })
        })
        .collect()
}

/// Keys that match no family of their store.
pub fn unknown_keys(dump: &Dump, families: &[Family]) -> Vec<String> {
    let mut problems = Vec::new();
    for (store, entries) in dump {
        for key in entries.keys() {
            if !families
                .iter()
                .any(|f| &f.store == store && f.regex.is_match(key))
            {
                problems.push(format!("key {store}/{key} matches no kv-schema family"));
            }
        }
    }
    problems
}

/// Store uses outside `spin.toml` and key uses outside the families that
/// name the component.
pub fn access_problems(log: &[KvAccess], manifest: &Manifest, families: &[Family]) -> Vec<String> {
    let mut problems = BTreeSet::new();
    for access in log {
        let declared = manifest
            .components
            .get(&access.component)
            .map(|c| c.key_value_stores.contains(&access.store))
            .unwrap_or(false);
        if !declared || access.outcome == Outcome::Denied {
            problems.insert(format!(
                "component {} used store {} it does not declare",
                access.component, access.store
            ));
        }
        if let Some(key) = &access.key {
            let allowed = families.iter().any(|f| {
                f.store == access.store
                    && f.regex.is_match(key)
                    && (f.readers.contains(&access.component)
                        || f.writers.contains(&access.component))
            });
            if !allowed {
                problems.insert(format!(
                    "component {} touched {}/{key} outside its kv-schema families",
                    access.component, access.store
                ));
            }
        }
    }
    problems.into_iter().collect()
}

/// Secrets (and private keys) found in stores or in the guest output.
pub fn leaks(dump: &Dump, output: &str, secrets: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for (store, entries) in dump {
        for (key, value) in entries {
            let text = String::from_utf8_lossy(value);
            for s in secrets {
                if key.contains(s.as_str()) || text.contains(s.as_str()) {
                    problems.push(format!("{store}/{key} holds a secret of the test"));
                }
            }
            if text.contains("PRIVATE KEY") {
                problems.push(format!("{store}/{key} holds a private key"));
            }
        }
    }
    for s in secrets {
        if output.contains(s.as_str()) {
            problems.push("guest output holds a secret of the test".into());
        }
    }
    if output.contains("PRIVATE KEY") {
        problems.push("guest output holds a private key".into());
    }
    problems
}

/// The part of a key after `prefix`, if it has that prefix.
fn after<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    key.strip_prefix(prefix)
}

/// Every string under `field` anywhere in a JSON value.
fn field_values<'a>(v: &'a Value, field: &str, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == field {
                    if let Some(s) = x.as_str() {
                        out.push(s);
                    }
                }
                field_values(x, field, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| field_values(x, field, out)),
        _ => {}
    }
}

/// Unique usernames: each account record sits under its own name, each
/// account id has one record, and each record has its name claimed.
pub fn username_problems(dump: &Dump) -> Vec<String> {
    let mut problems = Vec::new();
    let empty = BTreeMap::new();
    let accounts = dump.get("accounts").unwrap_or(&empty);
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in accounts {
        let Some(name) = after(key, "user:") else {
            continue;
        };
        let record: Value = serde_json::from_slice(value).unwrap_or(Value::Null);
        if record["username"].as_str() != Some(name) {
            problems.push(format!("accounts/{key} holds another username"));
        }
        let Some(id) = record["id"].as_str() else {
            problems.push(format!("accounts/{key} has no account id"));
            continue;
        };
        if let Some(other) = ids.insert(id.to_owned(), name.to_owned()) {
            problems.push(format!("account id of {name} is also that of {other}"));
        }
        if !accounts.contains_key(&format!("claim:{name}")) {
            problems.push(format!("account {name} has no name claim"));
        }
    }
    problems
}

/// Keys that belong to nothing that exists: per-account keys of unknown
/// accounts, claims without an account, secrets without a client, and
/// records naming an unknown account, client or token family. An account
/// without its password or profile is reported too. The sealed
/// `redemptions` store is not read.
pub fn orphans(dump: &Dump) -> Vec<String> {
    let mut problems = Vec::new();
    let empty = BTreeMap::new();
    let store = |label: &str| dump.get(label).unwrap_or(&empty);
    let accounts = store("accounts");
    let ids: BTreeSet<String> = accounts
        .iter()
        .filter(|(k, _)| k.starts_with("user:"))
        .filter_map(|(_, v)| {
            serde_json::from_slice::<Value>(v)
                .ok()
                .and_then(|r| r["id"].as_str().map(String::from))
        })
        .collect();
    let clients: BTreeSet<&str> = store("clients")
        .keys()
        .filter_map(|k| after(k, "client:"))
        .collect();
    let oidc = store("oidc");
    let family_known = |fid: &str| {
        oidc.contains_key(&format!("family:{fid}")) || oidc.contains_key(&format!("revoked:{fid}"))
    };

    // keys named after an account, a client or a username
    let owner_of_key = |store: &str, key: &str| -> Option<(String, Option<String>)> {
        let (prefix, rest) = key.split_once(':')?;
        match (store, prefix) {
            ("accounts", "profile")
            | ("credentials", "password")
            | ("credentials", "totp")
            | ("permissions", "perm") => Some((rest.to_owned(), None)),
            ("accounts", "email") => rest.rsplit_once(':').map(|(_, id)| (id.to_owned(), None)),
            ("oidc", "consent") => rest
                .split_once(':')
                .map(|(id, client)| (id.to_owned(), Some(client.to_owned()))),
            _ => None,
        }
    };
    for (label, entries) in dump {
        if label == "redemptions" {
            continue;
        }
        for (key, value) in entries {
            if let Some((id, client)) = owner_of_key(label, key) {
                if !ids.contains(&id) {
                    problems.push(format!("{label}/{key} belongs to no account"));
                }
                if client.is_some_and(|c| !clients.contains(c.as_str())) {
                    problems.push(format!("{label}/{key} belongs to no client"));
                }
            }
            if let Some(name) = after(key, "claim:").filter(|_| label == "accounts") {
                if !accounts.contains_key(&format!("user:{name}")) {
                    problems.push(format!("accounts/{key} is claimed without an account"));
                }
            }
            if let Some(client) = after(key, "secret:").filter(|_| label == "client_secrets") {
                if !clients.contains(client) {
                    problems.push(format!("client_secrets/{key} belongs to no client"));
                }
            }
            // records that name their owner inside the value
            let Ok(json) = serde_json::from_slice::<Value>(value) else {
                continue;
            };
            let mut found = Vec::new();
            field_values(&json, "account_id", &mut found);
            if found.iter().any(|id| !ids.contains(*id)) {
                problems.push(format!(
                    "{label}/{key} names an account that does not exist"
                ));
            }
            found.clear();
            field_values(&json, "client_id", &mut found);
            if found.iter().any(|c| !clients.contains(*c)) {
                problems.push(format!("{label}/{key} names a client that does not exist"));
            }
            found.clear();
            field_values(&json, "fid", &mut found);
            if found.iter().any(|f| !family_known(f)) {
                problems.push(format!(
                    "{label}/{key} names a token family that does not exist"
                ));
            }
        }
    }

    // the other direction: an account has its password and profile
    let credentials = store("credentials");
    for id in &ids {
        if !credentials.contains_key(&format!("password:{id}")) {
            problems.push(format!("account {id} has no password"));
        }
        if !accounts.contains_key(&format!("profile:{id}")) {
            problems.push(format!("account {id} has no profile record"));
        }
    }
    problems
}

/// The checks every end-to-end test ends with: known keys, declared stores
/// and families, no leaked secret.
pub fn check_app(app: &RunningApp, root: &Path, secrets: &[String]) -> anyhow::Result<Vec<String>> {
    let families = families(root)?;
    let manifest = Manifest::load(&root.join("spin.toml"))?;
    let dump = app.kv().dump();
    let mut problems = unknown_keys(&dump, &families);
    problems.extend(access_problems(&app.access_log(), &manifest, &families));
    problems.extend(leaks(&dump, &app.guest_output(), secrets));
    Ok(problems)
}

/// [`check_app`] and, on top, unique usernames and no orphaned keys: for
/// runs that end with no request in flight.
pub fn check_app_at_rest(
    app: &RunningApp,
    root: &Path,
    secrets: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut problems = check_app(app, root, secrets)?;
    let dump = app.kv().dump();
    problems.extend(username_problems(&dump));
    problems.extend(orphans(&dump));
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "AAAAAAAAAAAAAAAAAAAAAA";
    const OTHER: &str = "BBBBBBBBBBBBBBBBBBBBBB";

    fn dump(entries: &[(&str, &str, &str)]) -> Dump {
        let mut d = Dump::new();
        for (store, key, value) in entries {
            d.entry(store.to_string())
                .or_default()
                .insert(key.to_string(), value.as_bytes().to_vec());
        }
        d
    }

    fn account(name: &str, id: &str) -> String {
        format!(r#"{{"id":"{id}","username":"{name}"}}"#)
    }

    #[test]
    fn a_complete_account_has_no_orphans_and_a_unique_name() {
        let user = account("alice", ID);
        let d = dump(&[
            ("accounts", "claim:alice", "\u{1}"),
            ("accounts", "user:alice", &user),
            ("accounts", &format!("profile:{ID}"), "{}"),
            ("credentials", &format!("password:{ID}"), "{}"),
            (
                "sessions",
                "session:00",
                &format!(r#"{{"exp":1,"v":{{"account_id":"{ID}"}}}}"#),
            ),
        ]);
        assert_eq!(orphans(&d), Vec::<String>::new());
        assert_eq!(username_problems(&d), Vec::<String>::new());
    }

    #[test]
    fn keys_of_missing_accounts_clients_and_families_are_orphans() {
        let d = dump(&[
            ("accounts", "claim:bob", "\u{1}"),
            ("credentials", &format!("password:{OTHER}"), "{}"),
            ("oidc", &format!("consent:{OTHER}:rp"), "{}"),
            ("client_secrets", "secret:rp", "00"),
            ("oidc", "refresh:00", r#"{"exp":1,"v":{"fid":"F"}}"#),
        ]);
        let found = orphans(&d);
        for needle in [
            "claimed without an account",
            &format!("password:{OTHER} belongs to no account"),
            "belongs to no client",
            "client_secrets/secret:rp belongs to no client",
            "names a token family that does not exist",
        ] {
            assert!(
                found.iter().any(|p| p.contains(needle)),
                "{needle} not in {found:?}"
            );
        }
    }

    #[test]
    fn one_account_id_under_two_names_is_reported() {
        let (a, b) = (account("alice", ID), account("bob", ID));
        let d = dump(&[
            ("accounts", "claim:alice", "\u{1}"),
            ("accounts", "claim:bob", "\u{1}"),
            ("accounts", "user:alice", &a),
            ("accounts", "user:bob", &b),
        ]);
        assert_eq!(username_problems(&d).len(), 1);
    }
}
