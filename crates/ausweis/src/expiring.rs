//! Short-lived values. Spin's key-value interface has no time to live, so a
//! short-lived value carries its expiry; an expired value reads as absent and
//! is deleted when touched.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::kv::{Kv, Store};
use crate::{Error, Result};

/// The stored envelope: `{"exp": <unix seconds>, "v": <value>}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expiring<T> {
    /// Unix time (seconds) from which the value is gone.
    pub exp: u64,
    /// The value.
    pub v: T,
}

/// Reads a short-lived value; deletes it and returns `None` once expired.
/// Returns the raw bytes too, for a following compare-and-swap.
pub fn get_live<T: DeserializeOwned>(
    kv: &dyn Kv,
    store: Store,
    key: &str,
    now: u64,
) -> Result<Option<(Expiring<T>, Vec<u8>)>> {
    let Some(raw) = kv.get(store, key)? else {
        return Ok(None);
    };
    let parsed: Expiring<T> = serde_json::from_slice(&raw)
        .map_err(|_| Error::Internal(format!("unreadable value in {}", store.label())))?;
    if parsed.exp <= now {
        kv.delete(store, key)?;
        return Ok(None);
    }
    Ok(Some((parsed, raw)))
}

/// Like [`get_live`] for scans over many records: a record that cannot be
/// read as `T` counts as absent instead of failing the scan, while a store
/// failure still fails it.
pub fn get_readable<T: DeserializeOwned>(
    kv: &dyn Kv,
    store: Store,
    key: &str,
    now: u64,
) -> Result<Option<(Expiring<T>, Vec<u8>)>> {
    match get_live(kv, store, key, now) {
        Err(Error::Internal(_)) => Ok(None),
        other => other,
    }
}

/// Writes a short-lived value that is gone at `exp`.
pub fn put<T: Serialize>(kv: &dyn Kv, store: Store, key: &str, exp: u64, v: &T) -> Result<()> {
    kv.set(store, key, &encode(exp, v)?)?;
    Ok(())
}

/// Encodes the envelope.
pub fn encode<T: Serialize>(exp: u64, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(&Expiring { exp, v }).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    #[test]
    fn expired_value_reads_as_absent_and_is_removed() -> Result<()> {
        let kv = MemoryKv::new();
        put(&kv, Store::Sessions, "k", 100, &"x")?;
        assert!(get_live::<String>(&kv, Store::Sessions, "k", 99)?.is_some());
        assert!(get_live::<String>(&kv, Store::Sessions, "k", 100)?.is_none());
        assert!(kv.all_keys(Store::Sessions).is_empty());
        Ok(())
    }
}
