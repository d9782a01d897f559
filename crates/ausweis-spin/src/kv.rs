//! The ausweis [`Kv`] over Spin's `wasi:keyvalue` store and atomics.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use ausweis::kv::{Kv, Store, StoreError};
use spin_sdk::wit::wasi::keyvalue::atomics::{self, Cas, CasError};
use spin_sdk::wit::wasi::keyvalue::store::{self, Bucket};

/// Opens each store the first time it is used, so a request touches only
/// the stores it needs.
#[derive(Default)]
pub struct SpinKv {
    open: RefCell<HashMap<Store, Rc<Bucket>>>,
}

fn fail(store: Store, kind: &'static str) -> StoreError {
    StoreError {
        store: store.label(),
        kind,
    }
}

impl SpinKv {
    fn bucket(&self, store: Store) -> Result<Rc<Bucket>, StoreError> {
        if let Some(b) = self.open.borrow().get(&store) {
            return Ok(b.clone());
        }
        let bucket = Rc::new(store::open(store.label()).map_err(|_| fail(store, "open"))?);
        self.open.borrow_mut().insert(store, bucket.clone());
        Ok(bucket)
    }
}

impl Kv for SpinKv {
    fn get(&self, store: Store, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket(store)?.get(key).map_err(|_| fail(store, "get"))
    }

    fn set(&self, store: Store, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket(store)?
            .set(key, value)
            .map_err(|_| fail(store, "set"))
    }

    fn delete(&self, store: Store, key: &str) -> Result<(), StoreError> {
        self.bucket(store)?
            .delete(key)
            .map_err(|_| fail(store, "delete"))
    }

    fn keys(&self, store: Store, prefix: &str) -> Result<Vec<String>, StoreError> {
        let bucket = self.bucket(store)?;
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = bucket
                .list_keys(cursor.as_deref())
                .map_err(|_| fail(store, "list"))?;
            out.extend(page.keys.into_iter().filter(|k| k.starts_with(prefix)));
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    fn increment(&self, store: Store, key: &str, delta: i64) -> Result<i64, StoreError> {
        let bucket = self.bucket(store)?;
        atomics::increment(&bucket, key, delta).map_err(|_| fail(store, "increment"))
    }

    fn compare_and_swap(
        &self,
        store: Store,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let bucket = self.bucket(store)?;
        let cas = Cas::new(&bucket, key).map_err(|_| fail(store, "cas"))?;
        let current = cas.current().map_err(|_| fail(store, "cas"))?;
        if current.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            // Some backends report a failed swap although the value was
            // written; `new` is unique to this call, so a re-read tells.
            Err(CasError::CasFailed(_)) => {
                let now = bucket.get(key).map_err(|_| fail(store, "get"))?;
                Ok(now.as_deref() == Some(new))
            }
            Err(CasError::StoreError(_)) => Err(fail(store, "cas")),
        }
    }
}
