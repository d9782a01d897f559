//! What a Pretix item grants: the variable `item_entitlements`, a JSON
//! object keyed by item id or `item:variation`, for example
//! `{"1": {"member": true, "permissions": [{"name": "member", "days": 365}]}}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::permissions;
use crate::{Error, Result};

/// Longest duration one item may grant, in days (ten years).
pub const MAX_DAYS: u64 = 3653;
/// Most permissions one item may grant.
pub const MAX_PERMISSIONS: usize = 32;
/// Most entries of the map (a large shop has some dozen items).
pub const MAX_ENTRIES: usize = 1000;

/// One permission an item grants, for a number of days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionGrant {
    /// Permission name, as checked by [`permissions::check_name`].
    pub name: String,
    /// How many days the permission is extended by.
    pub days: u64,
}

/// Everything one item grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entitlement {
    /// Whether the item makes its holder a member.
    #[serde(default)]
    pub member: bool,
    /// The permissions it extends.
    #[serde(default)]
    pub permissions: Vec<PermissionGrant>,
}

/// The whole map, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntitlementMap(BTreeMap<String, Entitlement>);

fn valid_key(key: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    match key.split_once(':') {
        Some((item, variation)) => number(item) && number(variation),
        None => number(key),
    }
}

impl EntitlementMap {
    /// Parses and checks the variable's JSON. Every problem is a
    /// configuration error naming the entry, so the operator can fix it.
    pub fn parse(json: &str) -> Result<Self> {
        let text = if json.trim().is_empty() { "{}" } else { json };
        let map: BTreeMap<String, Entitlement> = serde_json::from_str(text).map_err(|e| {
            Error::Config(format!(
                "item_entitlements is not a valid map (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if map.len() > MAX_ENTRIES {
            return Err(Error::Config(format!(
                "item_entitlements has more than {MAX_ENTRIES} entries"
            )));
        }
        for (key, ent) in &map {
            let bad = |what: &str| Error::Config(format!("item_entitlements[{key:?}]: {what}"));
            if !valid_key(key) {
                return Err(bad("keys are an item id or item:variation, in digits"));
            }
            if !ent.member && ent.permissions.is_empty() {
                return Err(bad("grants nothing"));
            }
            if ent.permissions.len() > MAX_PERMISSIONS {
                return Err(bad("grants too many permissions"));
            }
            for p in &ent.permissions {
                permissions::check_name(&p.name).map_err(|_| bad("invalid permission name"))?;
                if p.days == 0 || p.days > MAX_DAYS {
                    return Err(bad("days must be 1 to 3653"));
                }
            }
        }
        Ok(EntitlementMap(map))
    }

    /// What an item (and variation) grants: the `item:variation` entry if
    /// there is one, else the item's entry.
    pub fn lookup(&self, item: u64, variation: Option<u64>) -> Option<&Entitlement> {
        variation
            .and_then(|v| self.0.get(&format!("{item}:{v}")))
            .or_else(|| self.0.get(&item.to_string()))
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"1": {"member": true, "permissions": [{"name": "member", "days": 365}]},
        "2": {"permissions": [{"name": "cloud", "days": 90}]},
        "2:7": {"permissions": [{"name": "cloud", "days": 180}]}}"#;

    #[test]
    fn variation_entry_wins_over_the_item_entry() -> Result<()> {
        let map = EntitlementMap::parse(EXAMPLE)?;
        assert!(map.lookup(1, None).is_some_and(|e| e.member));
        assert_eq!(
            map.lookup(2, Some(7)).map(|e| e.permissions[0].days),
            Some(180)
        );
        assert_eq!(
            map.lookup(2, Some(8)).map(|e| e.permissions[0].days),
            Some(90)
        );
        assert!(map.lookup(3, None).is_none());
        Ok(())
    }

    #[test]
    fn bad_maps_are_configuration_errors() {
        for bad in [
            "[]",
            r#"{"x": {"member": true}}"#,
            r#"{"1": {}}"#,
            r#"{"1": {"permissions": [{"name": "Cloud", "days": 1}]}}"#,
            r#"{"1": {"permissions": [{"name": "cloud", "days": 0}]}}"#,
            r#"{"1": {"member": true, "extra": 1}}"#,
            r#"{"1:": {"member": true}}"#,
        ] {
            assert!(
                matches!(EntitlementMap::parse(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
        assert!(EntitlementMap::parse("").is_ok_and(|m| m.is_empty()));
    }
}
