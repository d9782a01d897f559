//! JSON records that several requests may change at once: read, change,
//! and write back by compare-and-swap against what was read, retried when
//! another write came first.

use serde::{de::DeserializeOwned, Serialize};

use crate::kv::{Kv, Store};
use crate::{random, Error, Result};

/// Attempts before a record counts as contended.
const CAS_ATTEMPTS: usize = 16;

/// A record with a random marker renewed on every write, so each value
/// swapped in is unique (see [`Kv::compare_and_swap`]).
pub trait Marked: Serialize + DeserializeOwned + Default {
    /// Replaces the marker.
    fn mark(&mut self, marker: String);
}

/// Reads a record; `what` names it in errors.
pub fn get<T: Marked>(kv: &dyn Kv, store: Store, key: &str, what: &str) -> Result<T> {
    match kv.get(store, key)? {
        Some(raw) => {
            serde_json::from_slice(&raw).map_err(|_| Error::Internal(format!("unreadable {what}")))
        }
        None => Ok(T::default()),
    }
}

/// Writes the empty record.
pub fn create<T: Marked>(kv: &dyn Kv, store: Store, key: &str) -> Result<()> {
    let mut fresh = T::default();
    fresh.mark(random::token(8));
    let raw = serde_json::to_vec(&fresh).map_err(|e| Error::Internal(e.to_string()))?;
    kv.set(store, key, &raw)?;
    Ok(())
}

/// Changes a record with `change` and returns it as written. `change` runs
/// before any write, so its error leaves the record as it was. An absent
/// record is compared with absent, which is atomic on Redis but not on
/// Spin's SQLite backend; records are therefore made at registration.
pub fn update<T: Marked>(
    kv: &dyn Kv,
    store: Store,
    key: &str,
    what: &str,
    change: impl Fn(&mut T) -> Result<()>,
) -> Result<T> {
    for _ in 0..CAS_ATTEMPTS {
        let raw = kv.get(store, key)?;
        let mut value: T = match &raw {
            Some(r) => serde_json::from_slice(r)
                .map_err(|_| Error::Internal(format!("unreadable {what}")))?,
            None => T::default(),
        };
        change(&mut value)?;
        value.mark(random::token(8));
        let encoded = serde_json::to_vec(&value).map_err(|e| Error::Internal(e.to_string()))?;
        if kv.compare_and_swap(store, key, raw.as_deref(), &encoded)? {
            return Ok(value);
        }
    }
    Err(Error::Internal(format!("{what} record contended")))
}
