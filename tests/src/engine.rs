//! The process-wide wasmtime engine, linker and compiled-component cache.
//!
//! Compiling a component takes far longer than starting an app, so each
//! `.wasm` file is compiled and pre-instantiated once per process and kept,
//! keyed by its path, modification time and size; every test can then start
//! its own app cheaply.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use anyhow::{anyhow, Context};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::host::{bindings::SpinPlatform, InstanceState};

/// Spin's baseline for how many instances may be live at once
/// (`SPIN_MAX_INSTANCE_COUNT`, default 1,000, in `spin-core`'s `Config`).
const MAX_INSTANCES: u32 = 1_000;
const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// Spin's "effectively unlimited" execution deadline: spin-core's
/// `StoreBuilder::build` sets `u64::MAX / 2` epoch ticks, and Spin sets no
/// request timeout for WASIp2 components unless configured.
pub(crate) const EPOCH_DEADLINE: u64 = u64::MAX / 2;

/// The pooling allocator as `spin-core` (Spin 3 and 4) configures it by
/// default, each number from its `Config::default`:
/// component instances, memories and stacks 1,000 (`MAX_INSTANCES`), tables
/// 2,000, core instances 4,000, 100,000 table elements, 10 MiB per component
/// and per core instance, 200 core instances, 64 tables and 32 memories per
/// component, 2 tables and 2 memories per module, 4 GiB maximum memory size
/// (so no per-instance cap beyond wasm32's own), and 2 MiB of linear memory
/// and 512 KiB of table kept resident. Stacks keep wasmtime's defaults.
fn spin_pooling_config() -> PoolingAllocationConfig {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(MAX_INSTANCES)
        .total_memories(MAX_INSTANCES)
        .total_tables(2 * MAX_INSTANCES)
        .total_stacks(MAX_INSTANCES)
        .total_core_instances(4 * MAX_INSTANCES)
        .table_elements(100_000)
        .max_component_instance_size(10 * MIB)
        .max_core_instance_size(10 * MIB)
        .max_core_instances_per_component(200)
        .max_tables_per_component(64)
        .max_memories_per_component(32)
        .max_tables_per_module(2)
        .max_memories_per_module(2)
        .max_memory_size(4 * GIB)
        .linear_memory_keep_resident(2 * MIB)
        .table_keep_resident(MIB / 2);
    pooling
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Spin compiles with epoch interruption on; the deadline set on every
    // store makes it never fire, but the generated code is the same.
    config.epoch_interruption(true);
    config
}

/// The shared engine plus a linker with every import the components use.
pub(crate) struct HostEngine {
    pub(crate) engine: Engine,
    linker: Linker<InstanceState>,
    cache: Mutex<HashMap<CacheKey, ProxyPre<InstanceState>>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
}

static ENGINE: OnceLock<Result<HostEngine, String>> = OnceLock::new();

/// The process-wide engine, made on first use.
pub(crate) fn host_engine() -> anyhow::Result<&'static HostEngine> {
    ENGINE
        .get_or_init(|| HostEngine::new().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("cannot set up the wasmtime engine: {e}"))
}

impl HostEngine {
    fn new() -> anyhow::Result<HostEngine> {
        let mut config = base_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(spin_pooling_config()));
        // Spin probes whether the address space allows the pool and falls
        // back to on-demand allocation if not; trying to build the engine is
        // the same probe here.
        let engine = match Engine::new(&config) {
            Ok(engine) => engine,
            Err(_) => Engine::new(&base_config())
                .map_err(anyhow::Error::from)
                .context("creating the engine")?,
        };

        let mut linker: Linker<InstanceState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // WASI is already in the linker; add only wasi:http on top, or the
        // shared interfaces would be defined twice.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        SpinPlatform::add_to_linker::<InstanceState, HasSelf<InstanceState>>(
            &mut linker,
            |state| state,
        )?;

        Ok(HostEngine {
            engine,
            linker,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The pre-instantiated component at `path`, compiled on first use.
    pub(crate) fn proxy_pre(&self, path: &Path) -> anyhow::Result<ProxyPre<InstanceState>> {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("component file {} (is it built?)", path.display()))?;
        let key = CacheKey {
            path: path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
            modified: meta.modified().ok(),
            len: meta.len(),
        };
        if let Some(pre) = self.lock_cache().get(&key) {
            return Ok(pre.clone());
        }

        // Compile without holding the lock; two threads racing here both
        // compile, and one result wins. That wastes time, never correctness.
        let component = Component::from_file(&self.engine, path)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling {}", path.display()))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("linking {}", path.display()))?;
        let pre = ProxyPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "{} does not export wasi:http/incoming-handler",
                    path.display()
                )
            })?;
        self.lock_cache().insert(key, pre.clone());
        Ok(pre)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, ProxyPre<InstanceState>>> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
