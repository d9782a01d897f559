//! Permissions: what a member may use, each until an expiry, and the member
//! flag (that the person is a member, never which membership).
//!
//! Key family: `permissions` / `perm:{account_id}` → [`Grants`]. Created
//! empty at registration, so that every later change is a compare-and-swap
//! against a present value (atomic on every Spin backend).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kv::{Kv, Store};
use crate::record;
use crate::{Error, Result};

/// Longest permission name.
pub const MAX_NAME_LEN: usize = 64;

/// The stored record of one account.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Grants {
    /// Whether the person is a member.
    #[serde(default)]
    pub member: bool,
    /// Permission name → Unix time (seconds) it expires at.
    #[serde(default)]
    pub permissions: BTreeMap<String, u64>,
    /// Redemptions applied to this record and not yet finished: an opaque
    /// marker (a hash keyed by the redeeming browser's cookie, so the store
    /// alone links it to nothing) → Unix time it may be forgotten. It makes
    /// applying a redemption idempotent; see `crate::redeem`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applied: BTreeMap<String, u64>,
    /// Random marker of the last write (see [`Kv::compare_and_swap`]).
    #[serde(default)]
    pub m: String,
}

impl Grants {
    /// Names of the permissions that have not expired at `now`.
    pub fn active(&self, now: u64) -> Vec<String> {
        self.permissions
            .iter()
            .filter(|(_, exp)| **exp > now)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether `name` is held and unexpired at `now`.
    pub fn holds(&self, name: &str, now: u64) -> bool {
        self.permissions.get(name).is_some_and(|exp| *exp > now)
    }
}

/// Key of an account's grants.
pub fn key(account_id: &str) -> String {
    format!("perm:{account_id}")
}

/// Checks a permission name: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_permission",
            "permission names are 1 to 64 characters of a-z, 0-9, '.', '_', '-', starting with a letter",
        ))
    }
}

impl record::Marked for Grants {
    fn mark(&mut self, marker: String) {
        self.m = marker;
    }
}

/// Reads an account's grants (empty if none are stored).
pub fn get(kv: &dyn Kv, account_id: &str) -> Result<Grants> {
    record::get(kv, Store::Permissions, &key(account_id), "grants")
}

/// Writes the empty record of a new account.
pub fn create(kv: &dyn Kv, account_id: &str) -> Result<()> {
    record::create::<Grants>(kv, Store::Permissions, &key(account_id))
}

/// Changes an account's grants with `change`, retried on concurrent
/// changes; returns the grants as written.
pub fn update(
    kv: &dyn Kv,
    account_id: &str,
    change: impl Fn(&mut Grants) -> Result<()>,
) -> Result<Grants> {
    record::update(kv, Store::Permissions, &key(account_id), "grants", change)
}

/// Extends a permission: its expiry becomes max(now, current expiry) + `seconds`.
pub fn extend(g: &mut Grants, name: &str, seconds: u64, now: u64) {
    let base = g.permissions.get(name).copied().unwrap_or(0).max(now);
    g.permissions
        .insert(name.to_owned(), base.saturating_add(seconds));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    #[test]
    fn extending_adds_to_the_later_of_now_and_the_current_expiry() {
        let mut g = Grants::default();
        extend(&mut g, "cloud", 100, 1000);
        assert_eq!(g.permissions["cloud"], 1100);
        extend(&mut g, "cloud", 100, 1050);
        assert_eq!(g.permissions["cloud"], 1200);
        extend(&mut g, "cloud", 100, 5000);
        assert_eq!(g.permissions["cloud"], 5100);
    }

    #[test]
    fn expired_permissions_are_not_active() {
        let mut g = Grants::default();
        g.permissions.insert("a".into(), 10);
        g.permissions.insert("b".into(), 30);
        assert_eq!(g.active(20), vec!["b".to_string()]);
        assert!(!g.holds("a", 20) && g.holds("b", 20));
    }

    #[test]
    fn update_writes_through_compare_and_swap() -> Result<()> {
        let kv = MemoryKv::new();
        create(&kv, "id1")?;
        update(&kv, "id1", |g| {
            g.member = true;
            extend(g, "member", 10, 100);
            Ok(())
        })?;
        let g = get(&kv, "id1")?;
        assert!(g.member && g.holds("member", 105));
        assert!(check_name("Bad Name").is_err() && check_name("cloud.files").is_ok());
        Ok(())
    }
}
