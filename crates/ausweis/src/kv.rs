//! The key-value stores, as the domain sees them.
//!
//! The layout of keys is documented in `kv-schema/` at the repository root.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// The named stores. They separate what must not mix: a component is granted
/// only the stores it needs (see `spin.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Store {
    /// Account records and the username index.
    Accounts,
    /// Password hashes: readable only by the components that check passwords.
    Credentials,
    /// Short-lived records: sessions, login throttling.
    Sessions,
    /// Each account's permissions with their expiry, and the member flag.
    Permissions,
    /// Short-lived links between a browser and a checked ticket.
    Redemptions,
    /// OpenID Connect state: codes, refresh token families, consent, public keys.
    Oidc,
    /// Registered OpenID Connect clients (without their secrets).
    Clients,
    /// Hashes of client secrets: only the token endpoint and the admin API.
    ClientSecrets,
    /// Private signing keys: only the token endpoint.
    Signing,
}

impl Store {
    /// The store label used in `spin.toml` and the runtime config.
    pub fn label(self) -> &'static str {
        match self {
            Store::Accounts => "accounts",
            Store::Credentials => "credentials",
            Store::Sessions => "sessions",
            Store::Permissions => "permissions",
            Store::Redemptions => "redemptions",
            Store::Oidc => "oidc",
            Store::Clients => "clients",
            Store::ClientSecrets => "client_secrets",
            Store::Signing => "signing",
        }
    }
}

/// A failure of the key-value store. Carries no key or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} on store {store}")]
pub struct StoreError {
    /// The store label.
    pub store: &'static str,
    /// What failed, for logs: `open`, `get`, `set`, `delete`, `cas`.
    pub kind: &'static str,
}

/// Access to the key-value stores.
pub trait Kv {
    /// Reads a value; `None` when the key is absent.
    fn get(&self, store: Store, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a value, replacing any present one.
    fn set(&self, store: Store, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Deletes a key; deleting an absent key is not an error.
    fn delete(&self, store: Store, key: &str) -> Result<(), StoreError>;
    /// The keys of a store that start with `prefix`.
    fn keys(&self, store: Store, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Adds `delta` to the counter at `key` (absent counts as 0) and returns
    /// the new value, atomically in the store. Counters are 8-byte
    /// little-endian integers, as Spin keeps them.
    ///
    /// This is how a single winner is decided for a key that does not exist
    /// yet: the one caller that sees 1 wins.
    fn increment(&self, store: Store, key: &str, delta: i64) -> Result<i64, StoreError>;
    /// Writes `new` only if the present value equals `expected` (`None`:
    /// only if the key is absent), decided atomically by the store.
    ///
    /// Returns whether `new` was written. `new` must be unique to this call
    /// (carry a random marker) so that an implementation can tell its own
    /// write from another's when the store reports the outcome wrongly.
    ///
    /// Spin's SQLite backend does not compare when the key was absent (it
    /// writes unconditionally and reports success), so `expected: None`
    /// must never decide a race that matters; use [`Kv::increment`] for
    /// that. Comparing with a present value is atomic on every backend.
    fn compare_and_swap(
        &self,
        store: Store,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;
}

/// An in-memory [`Kv`] for unit tests and native benchmarks.
#[derive(Debug, Default)]
pub struct MemoryKv {
    data: RefCell<BTreeMap<(Store, String), Vec<u8>>>,
}

impl MemoryKv {
    /// An empty set of stores.
    pub fn new() -> Self {
        Self::default()
    }

    /// All keys of one store, sorted.
    pub fn all_keys(&self, store: Store) -> Vec<String> {
        self.data
            .borrow()
            .keys()
            .filter(|(s, _)| *s == store)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Every stored value, for scans in tests.
    pub fn values(&self) -> Vec<Vec<u8>> {
        self.data.borrow().values().cloned().collect()
    }
}

impl Kv for MemoryKv {
    fn get(&self, store: Store, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.data.borrow().get(&(store, key.to_owned())).cloned())
    }

    fn set(&self, store: Store, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.data
            .borrow_mut()
            .insert((store, key.to_owned()), value.to_vec());
        Ok(())
    }

    fn delete(&self, store: Store, key: &str) -> Result<(), StoreError> {
        self.data.borrow_mut().remove(&(store, key.to_owned()));
        Ok(())
    }

    fn keys(&self, store: Store, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .all_keys(store)
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect())
    }

    fn increment(&self, store: Store, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut data = self.data.borrow_mut();
        let slot = data
            .entry((store, key.to_owned()))
            .or_insert_with(|| vec![0; 8]);
        let current = <[u8; 8]>::try_from(slot.as_slice()).map_err(|_| StoreError {
            store: store.label(),
            kind: "increment",
        })?;
        let next = i64::from_le_bytes(current).wrapping_add(delta);
        *slot = next.to_le_bytes().to_vec();
        Ok(next)
    }

    fn compare_and_swap(
        &self,
        store: Store,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut data = self.data.borrow_mut();
        let slot = (store, key.to_owned());
        if data.get(&slot).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        data.insert(slot, new.to_vec());
        Ok(true)
    }
}
