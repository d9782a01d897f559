//! The key-value backend behind both key-value interfaces.
//!
//! One SQLite database holds every store, with the store label as a column,
//! like Spin's default backend. It lives in memory for tests or in a file for
//! `serve`. One [`KvBackend`] can be shared by several running apps to play
//! several Spin instances over one store.
//!
//! For tests the backend keeps an access log of every operation (never the
//! values), can dump its whole content, and can be told to fail chosen
//! operations ("fault injection").

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// What an operation does, as seen by the access log and fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// Opening a store (`store.open`, `wasi:keyvalue/store.open`).
    Open,
    /// Reading one key (also each key of `get-many`).
    Get,
    /// Writing one key (also each key of `set-many`).
    Set,
    /// Deleting one key (also each key of `delete-many`).
    Delete,
    /// Testing whether a key exists.
    Exists,
    /// Listing the keys of a store.
    List,
    /// Reading the value a compare-and-swap compares against (`cas.new`
    /// and `cas.current`).
    CasRead,
    /// The swap of a compare-and-swap.
    Cas,
    /// `atomics.increment`.
    Increment,
}

/// One operation, as handed to the fault injector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The component id that asked.
    pub component: String,
    /// The store label.
    pub store: String,
    /// What it does.
    pub kind: OpKind,
    /// The key, for operations on one key.
    pub key: Option<String>,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It did what was asked.
    Ok,
    /// The component may not open that store.
    Denied,
    /// The fault injector failed it; nothing was written.
    Fault,
    /// A swap found another value than the one it compares with.
    CasFailed,
    /// The backend failed (for example a counter that is not 8 bytes).
    Error(String),
}

/// One entry of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvAccess {
    /// The component id.
    pub component: String,
    /// The store label.
    pub store: String,
    /// What it did.
    pub op: OpKind,
    /// The key, for operations on one key.
    pub key: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
}

/// Decides which operations fail with `other("injected fault")`.
pub type FaultFn = Box<dyn Fn(&Op) -> bool + Send + Sync>;

/// What a compare-and-swap compares with when the handle last saw no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CasMode {
    /// The swap succeeds only if the key is still absent (and in general
    /// only if the stored value still equals the one the handle saw).
    #[default]
    Strict,
    /// Like Spin's SQLite backend (checked in the Spin sources): a handle
    /// that saw no value writes unconditionally and reports success, and a
    /// handle created without calling `current` counts as having seen no
    /// value. Use it to prove a component survives that host.
    SpinSqlite,
}

/// A key-value error as the guest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The component does not declare the store.
    AccessDenied,
    /// Any other failure, with its message.
    Other(String),
}

/// A key with its value, if present.
pub(crate) type KeyValue = (String, Option<Vec<u8>>);

const INJECTED: &str = "injected fault";

/// The shared key-value backend.
pub struct KvBackend {
    db: Mutex<Connection>,
    log: Mutex<Vec<KvAccess>>,
    fault: RwLock<Option<FaultFn>>,
    cas_mode: Mutex<CasMode>,
}

impl std::fmt::Debug for KvBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvBackend").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn db_err(e: rusqlite::Error) -> KvError {
    KvError::Other(format!("store failure: {e}"))
}

impl KvBackend {
    /// A fresh backend in memory.
    pub fn in_memory() -> anyhow::Result<Arc<KvBackend>> {
        let conn = Connection::open_in_memory().context("opening in-memory SQLite")?;
        KvBackend::with_connection(conn)
    }

    /// A backend kept in `dir/kv.sqlite3`; the directory is created if
    /// needed, and what is there survives a restart.
    pub fn open_dir(dir: &Path) -> anyhow::Result<Arc<KvBackend>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("kv.sqlite3");
        let conn =
            Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        KvBackend::with_connection(conn)
    }

    fn with_connection(conn: Connection) -> anyhow::Result<Arc<KvBackend>> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (
                 store TEXT NOT NULL,
                 key   TEXT NOT NULL,
                 value BLOB NOT NULL,
                 PRIMARY KEY (store, key)
             )",
        )
        .context("creating the key-value table")?;
        Ok(Arc::new(KvBackend {
            db: Mutex::new(conn),
            log: Mutex::new(Vec::new()),
            fault: RwLock::new(None),
            cas_mode: Mutex::new(CasMode::default()),
        }))
    }

    /// Installs (or with `None` removes) the fault injector. It is called
    /// for every operation before it runs; `true` fails the operation.
    /// It must not call `set_fault` itself.
    pub fn set_fault(&self, fault: Option<FaultFn>) {
        let mut slot = self
            .fault
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = fault;
    }

    /// Chooses the compare-and-swap semantics (see [`CasMode`]).
    pub fn set_cas_mode(&self, mode: CasMode) {
        *lock(&self.cas_mode) = mode;
    }

    /// Every operation so far, oldest first.
    pub fn access_log(&self) -> Vec<KvAccess> {
        lock(&self.log).clone()
    }

    /// Forgets the access log.
    pub fn clear_access_log(&self) {
        lock(&self.log).clear();
    }

    /// The whole content: store label to key to value.
    pub fn dump(&self) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
        let db = lock(&self.db);
        let mut out: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        let rows = db
            .prepare_cached("SELECT store, key, value FROM kv ORDER BY store, key")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()
            });
        // An in-memory table that exists cannot fail to be read; an empty
        // dump is the honest answer if it somehow does.
        for (store, key, value) in rows.unwrap_or_default() {
            out.entry(store).or_default().insert(key, value);
        }
        out
    }

    /// Reads a key directly (not logged, no faults): for test setup.
    pub fn get(&self, store: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(read(&lock(&self.db), store, key)?)
    }

    /// Writes a key directly (not logged, no faults): for test setup.
    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        Ok(write(&lock(&self.db), store, key, value)?)
    }

    /// Deletes a key directly (not logged, no faults): for test setup.
    pub fn delete(&self, store: &str, key: &str) -> anyhow::Result<()> {
        Ok(remove(&lock(&self.db), store, key)?)
    }

    fn record(&self, op: &Op, outcome: Outcome) {
        lock(&self.log).push(KvAccess {
            component: op.component.clone(),
            store: op.store.clone(),
            op: op.kind,
            key: op.key.clone(),
            outcome,
        });
    }

    fn injected(&self, op: &Op) -> bool {
        let slot = self
            .fault
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.as_ref().is_some_and(|f| f(op))
    }

    /// Runs one logged, fault-checked operation.
    fn run<T>(
        &self,
        op: Op,
        body: impl FnOnce(&mut Connection) -> Result<T, KvError>,
    ) -> Result<T, KvError> {
        if self.injected(&op) {
            self.record(&op, Outcome::Fault);
            return Err(KvError::Other(INJECTED.to_string()));
        }
        let result = body(&mut lock(&self.db));
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(KvError::AccessDenied) => Outcome::Denied,
            Err(KvError::Other(m)) => Outcome::Error(m.clone()),
        };
        self.record(&op, outcome);
        result
    }

    /// Checks fault injection for a batch before anything runs, so a batch
    /// with one failed key writes nothing.
    fn check_batch(&self, ops: &[Op]) -> Result<(), KvError> {
        if let Some(failed) = ops.iter().find(|op| self.injected(op)) {
            self.record(failed, Outcome::Fault);
            return Err(KvError::Other(INJECTED.to_string()));
        }
        Ok(())
    }

    pub(crate) fn open(&self, component: &str, store: &str, allowed: bool) -> Result<(), KvError> {
        let op = op(component, store, OpKind::Open, None);
        if !allowed {
            self.record(&op, Outcome::Denied);
            return Err(KvError::AccessDenied);
        }
        self.run(op, |_| Ok(()))
    }

    pub(crate) fn op_get(
        &self,
        component: &str,
        store: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, KvError> {
        self.run(op(component, store, OpKind::Get, Some(key)), |db| {
            read(db, store, key).map_err(db_err)
        })
    }

    pub(crate) fn op_set(
        &self,
        component: &str,
        store: &str,
        key: &str,
        value: &[u8],
    ) -> Result<(), KvError> {
        self.run(op(component, store, OpKind::Set, Some(key)), |db| {
            write(db, store, key, value).map_err(db_err)
        })
    }

    pub(crate) fn op_delete(&self, component: &str, store: &str, key: &str) -> Result<(), KvError> {
        self.run(op(component, store, OpKind::Delete, Some(key)), |db| {
            remove(db, store, key).map_err(db_err)
        })
    }

    pub(crate) fn op_exists(
        &self,
        component: &str,
        store: &str,
        key: &str,
    ) -> Result<bool, KvError> {
        self.run(op(component, store, OpKind::Exists, Some(key)), |db| {
            read(db, store, key).map(|v| v.is_some()).map_err(db_err)
        })
    }

    pub(crate) fn op_list(&self, component: &str, store: &str) -> Result<Vec<String>, KvError> {
        self.run(op(component, store, OpKind::List, None), |db| {
            let mut stmt = db
                .prepare_cached("SELECT key FROM kv WHERE store = ?1 ORDER BY key")
                .map_err(db_err)?;
            let keys = stmt
                .query_map([store], |row| row.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(keys)
        })
    }

    /// `get-many`: like Spin's SQLite backend, only keys that exist come back.
    pub(crate) fn op_get_many(
        &self,
        component: &str,
        store: &str,
        keys: &[String],
    ) -> Result<Vec<KeyValue>, KvError> {
        let ops: Vec<Op> = keys
            .iter()
            .map(|k| op(component, store, OpKind::Get, Some(k)))
            .collect();
        self.check_batch(&ops)?;
        let db = lock(&self.db);
        let mut out = Vec::new();
        for (key, op) in keys.iter().zip(&ops) {
            let value = read(&db, store, key).map_err(db_err)?;
            self.record(op, Outcome::Ok);
            if value.is_some() {
                out.push((key.clone(), value));
            }
        }
        Ok(out)
    }

    pub(crate) fn op_set_many(
        &self,
        component: &str,
        store: &str,
        entries: &[(String, Vec<u8>)],
    ) -> Result<(), KvError> {
        let ops: Vec<Op> = entries
            .iter()
            .map(|(k, _)| op(component, store, OpKind::Set, Some(k)))
            .collect();
        self.check_batch(&ops)?;
        let mut db = lock(&self.db);
        let tx = db.transaction().map_err(db_err)?;
        for (key, value) in entries {
            write(&tx, store, key, value).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        for op in &ops {
            self.record(op, Outcome::Ok);
        }
        Ok(())
    }

    pub(crate) fn op_delete_many(
        &self,
        component: &str,
        store: &str,
        keys: &[String],
    ) -> Result<(), KvError> {
        let ops: Vec<Op> = keys
            .iter()
            .map(|k| op(component, store, OpKind::Delete, Some(k)))
            .collect();
        self.check_batch(&ops)?;
        let mut db = lock(&self.db);
        let tx = db.transaction().map_err(db_err)?;
        for key in keys {
            remove(&tx, store, key).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        for op in &ops {
            self.record(op, Outcome::Ok);
        }
        Ok(())
    }

    /// Adds `delta` to the 8-byte little-endian counter at `key` (absent
    /// counts as 0) and returns the new value, atomically.
    pub(crate) fn op_increment(
        &self,
        component: &str,
        store: &str,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvError> {
        self.run(op(component, store, OpKind::Increment, Some(key)), |db| {
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let current = match read(&tx, store, key).map_err(db_err)? {
                None => 0,
                Some(bytes) => {
                    let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                        KvError::Other("value is not an 8-byte little-endian integer".into())
                    })?;
                    i64::from_le_bytes(arr)
                }
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| KvError::Other("counter overflow".into()))?;
            write(&tx, store, key, &next.to_le_bytes()).map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(next)
        })
    }

    /// Reads the value a compare-and-swap handle compares with.
    pub(crate) fn op_cas_read(
        &self,
        component: &str,
        store: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, KvError> {
        self.run(op(component, store, OpKind::CasRead, Some(key)), |db| {
            read(db, store, key).map_err(db_err)
        })
    }

    /// The compare-and-swap mode in force.
    pub(crate) fn cas_mode(&self) -> CasMode {
        *lock(&self.cas_mode)
    }

    /// Writes `value` if the stored value still equals `expected` (`None`:
    /// still absent). `Ok(false)` means the swap lost; nothing was written.
    pub(crate) fn op_cas_swap(
        &self,
        component: &str,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, KvError> {
        let op = op(component, store, OpKind::Cas, Some(key));
        if self.injected(&op) {
            self.record(&op, Outcome::Fault);
            return Err(KvError::Other(INJECTED.to_string()));
        }
        let mode = self.cas_mode();
        let result = (|| {
            let mut db = lock(&self.db);
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let current = read(&tx, store, key).map_err(db_err)?;
            let wins = match (mode, expected) {
                (CasMode::SpinSqlite, None) => true,
                (_, expected) => current.as_deref() == expected,
            };
            if wins {
                write(&tx, store, key, value).map_err(db_err)?;
                tx.commit().map_err(db_err)?;
            }
            Ok(wins)
        })();
        let outcome = match &result {
            Ok(true) => Outcome::Ok,
            Ok(false) => Outcome::CasFailed,
            Err(KvError::AccessDenied) => Outcome::Denied,
            Err(KvError::Other(m)) => Outcome::Error(m.clone()),
        };
        self.record(&op, outcome);
        result
    }
}

fn op(component: &str, store: &str, kind: OpKind, key: Option<&str>) -> Op {
    Op {
        component: component.to_string(),
        store: store.to_string(),
        kind,
        key: key.map(str::to_string),
    }
}

fn read(db: &Connection, store: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    db.prepare_cached("SELECT value FROM kv WHERE store = ?1 AND key = ?2")?
        .query_row([store, key], |row| row.get(0))
        .optional()
}

fn write(db: &Connection, store: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    db.prepare_cached(
        "INSERT INTO kv (store, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(rusqlite::params![store, key, value])?;
    Ok(())
}

fn remove(db: &Connection, store: &str, key: &str) -> rusqlite::Result<()> {
    db.prepare_cached("DELETE FROM kv WHERE store = ?1 AND key = ?2")?
        .execute([store, key])?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    const C: &str = "comp";
    const S: &str = "accounts";

    #[test]
    fn swap_succeeds_only_while_value_is_unchanged() {
        let kv = KvBackend::in_memory().unwrap();
        kv.set(S, "k", b"v1").unwrap();
        let seen = kv.op_cas_read(C, S, "k").unwrap();
        assert_eq!(seen.as_deref(), Some(&b"v1"[..]));
        kv.set(S, "k", b"v2").unwrap();
        assert!(!kv.op_cas_swap(C, S, "k", seen.as_deref(), b"mine").unwrap());
        assert_eq!(kv.get(S, "k").unwrap().as_deref(), Some(&b"v2"[..]));
        assert!(kv.op_cas_swap(C, S, "k", Some(b"v2"), b"mine").unwrap());
        assert_eq!(kv.get(S, "k").unwrap().as_deref(), Some(&b"mine"[..]));
    }

    #[test]
    fn swap_from_absent_has_exactly_one_winner() {
        let kv = KvBackend::in_memory().unwrap();
        assert!(kv.op_cas_swap(C, S, "user:alice", None, b"a").unwrap());
        assert!(!kv.op_cas_swap(C, S, "user:alice", None, b"b").unwrap());
        assert_eq!(kv.get(S, "user:alice").unwrap().as_deref(), Some(&b"a"[..]));
    }

    #[test]
    fn concurrent_swaps_from_absent_have_one_winner() {
        let kv = KvBackend::in_memory().unwrap();
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8u8)
                .map(|i| {
                    let kv = &kv;
                    scope.spawn(move || kv.op_cas_swap(C, S, "name", None, &[i]).unwrap())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(winners, 1);
    }

    #[test]
    fn spin_sqlite_mode_overwrites_from_absent() {
        let kv = KvBackend::in_memory().unwrap();
        kv.set_cas_mode(CasMode::SpinSqlite);
        assert!(kv.op_cas_swap(C, S, "k", None, b"a").unwrap());
        assert!(kv.op_cas_swap(C, S, "k", None, b"b").unwrap());
        assert_eq!(kv.get(S, "k").unwrap().as_deref(), Some(&b"b"[..]));
        assert!(!kv.op_cas_swap(C, S, "k", Some(b"a"), b"c").unwrap());
    }

    #[test]
    fn increment_uses_little_endian_counters_starting_at_zero() {
        let kv = KvBackend::in_memory().unwrap();
        assert_eq!(kv.op_increment(C, S, "n", 5).unwrap(), 5);
        assert_eq!(kv.op_increment(C, S, "n", -7).unwrap(), -2);
        assert_eq!(
            kv.get(S, "n").unwrap().unwrap(),
            (-2i64).to_le_bytes().to_vec()
        );
        kv.set(S, "text", b"abc").unwrap();
        assert!(kv.op_increment(C, S, "text", 1).is_err());
    }

    #[test]
    fn injected_fault_fails_and_writes_nothing() {
        let kv = KvBackend::in_memory().unwrap();
        kv.set_fault(Some(Box::new(|op: &Op| {
            op.kind == OpKind::Set && op.key.as_deref() == Some("bad")
        })));
        assert_eq!(
            kv.op_set(C, S, "bad", b"x"),
            Err(KvError::Other("injected fault".into()))
        );
        kv.op_set(C, S, "good", b"x").unwrap();
        let many = [
            ("ok".to_string(), b"1".to_vec()),
            ("bad".to_string(), b"2".to_vec()),
        ];
        assert!(kv.op_set_many(C, S, &many).is_err());
        let dump = kv.dump();
        assert_eq!(dump[S].keys().collect::<Vec<_>>(), vec!["good"]);
        kv.set_fault(None);
        kv.op_set(C, S, "bad", b"x").unwrap();
    }

    #[test]
    fn access_log_records_refused_opens_and_outcomes() {
        let kv = KvBackend::in_memory().unwrap();
        assert_eq!(kv.open(C, "secrets", false), Err(KvError::AccessDenied));
        kv.open(C, S, true).unwrap();
        kv.op_get(C, S, "k").unwrap();
        let _ = kv.op_cas_swap(C, S, "k", Some(b"x"), b"y");
        let log = kv.access_log();
        let summary: Vec<_> = log
            .iter()
            .map(|a| (a.store.as_str(), a.op, a.outcome.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("secrets", OpKind::Open, Outcome::Denied),
                (S, OpKind::Open, Outcome::Ok),
                (S, OpKind::Get, Outcome::Ok),
                (S, OpKind::Cas, Outcome::CasFailed),
            ]
        );
    }

    #[test]
    fn files_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("ausweis-kv-{}", std::process::id()));
        {
            let kv = KvBackend::open_dir(&dir).unwrap();
            kv.op_set(C, S, "k", b"v").unwrap();
        }
        let kv = KvBackend::open_dir(&dir).unwrap();
        assert_eq!(kv.get(S, "k").unwrap().as_deref(), Some(&b"v"[..]));
        drop(kv);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
