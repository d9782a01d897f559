//! What one component instance sees: WASI, wasi:http with an outbound
//! policy, Spin variables and the two key-value interfaces.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use crate::kv::{CasMode, KvBackend, KvError};
use crate::outbound::{self, AllowedHost};
use crate::output::GuestOutput;
use crate::usage::{ComponentPeaks, InstanceLimiter};
use crate::variables::{self, AppVariables, Template, VariableError};

/// Bindings generated from `tests/wit`.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "ausweis:test-host/spin-platform",
        imports: { default: trappable },
        with: {
            "fermyon:spin/key-value.store": super::StoreHandle,
            "wasi:keyvalue/store.bucket": super::StoreHandle,
            "wasi:keyvalue/atomics.cas": super::CasHandle,
        },
    });
}

use bindings::fermyon::spin::key_value as spin_kv;
use bindings::fermyon::spin::variables as spin_vars;
use bindings::wasi::keyvalue::{atomics, batch, store as wasi_kv};

/// An open store, for either key-value interface: its label.
pub struct StoreHandle {
    label: String,
}

/// A compare-and-swap handle: the key and the value it compares with.
pub struct CasHandle {
    label: String,
    key: String,
    seen: Option<Vec<u8>>,
}

/// One outgoing request a component tried to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundAttempt {
    /// The component id.
    pub component: String,
    /// `scheme://authority` of the request (never its path or query).
    pub origin: String,
    /// Whether `allowed_outbound_hosts` let it through.
    pub allowed: bool,
}

/// Everything instances of one component in one app share.
pub(crate) struct ComponentEnv {
    pub(crate) id: String,
    pub(crate) stores: HashSet<String>,
    pub(crate) allowed_hosts: Vec<AllowedHost>,
    pub(crate) variables: BTreeMap<String, Template>,
    pub(crate) environment: Vec<(String, String)>,
    pub(crate) app_variables: Arc<AppVariables>,
    pub(crate) kv: Arc<KvBackend>,
    pub(crate) output: GuestOutput,
    pub(crate) outbound_log: Arc<Mutex<Vec<OutboundAttempt>>>,
    pub(crate) peaks: Arc<ComponentPeaks>,
}

/// The store data of one instance (one request).
pub struct InstanceState {
    env: Arc<ComponentEnv>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    limiter: InstanceLimiter,
}

impl InstanceState {
    pub(crate) fn new(env: Arc<ComponentEnv>) -> InstanceState {
        let mut builder = WasiCtxBuilder::new();
        builder.envs(&env.environment);
        env.output.attach(&mut builder);
        InstanceState {
            wasi: builder.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks { env: env.clone() },
            limiter: InstanceLimiter::new(env.peaks.clone()),
            env,
        }
    }
}

impl InstanceState {
    /// The limiter that records this instance's memory and tables.
    pub(crate) fn limiter(&mut self) -> &mut dyn wasmtime::ResourceLimiter {
        &mut self.limiter
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Sends outgoing requests that `allowed_outbound_hosts` permits and
/// refuses the rest with `HTTP-request-denied`, as Spin does.
struct OutboundHooks {
    env: Arc<ComponentEnv>,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        drop(fut);
        let uri = request.uri();
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            uri.authority().map(|a| a.as_str()).unwrap_or("")
        );
        let allowed = outbound::is_allowed(&self.env.allowed_hosts, uri);
        if let Ok(mut log) = self.env.outbound_log.lock() {
            log.push(OutboundAttempt {
                component: self.env.id.clone(),
                origin: origin.clone(),
                allowed,
            });
        }
        if !allowed {
            self.env.output.host_note(&format!(
                "component {:?} may not send a request to {origin}: not in allowed_outbound_hosts",
                self.env.id
            ));
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let io: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send> = Box::new(io);
            Ok((response.map(BodyExt::boxed_unsync), io))
        })
    }
}

fn spin_err(e: KvError) -> spin_kv::Error {
    match e {
        KvError::AccessDenied => spin_kv::Error::AccessDenied,
        KvError::Other(m) => spin_kv::Error::Other(m),
    }
}

fn wasi_err(e: KvError) -> wasi_kv::Error {
    match e {
        KvError::AccessDenied => wasi_kv::Error::AccessDenied,
        KvError::Other(m) => wasi_kv::Error::Other(m),
    }
}

impl InstanceState {
    fn open_store(&mut self, label: String) -> Result<StoreHandle, KvError> {
        let allowed = self.env.stores.contains(&label);
        self.env.kv.open(&self.env.id, &label, allowed)?;
        Ok(StoreHandle { label })
    }

    fn label(&self, handle: &Resource<StoreHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(handle)?.label.clone())
    }

    /// Reads the value a compare-and-swap handle will compare with.
    fn read_for_cas(&self, label: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.env.kv.op_cas_read(&self.env.id, label, key)
    }
}

impl spin_kv::Host for InstanceState {}

impl spin_kv::HostStore for InstanceState {
    fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, spin_kv::Error>> {
        match self.open_store(label) {
            Ok(handle) => Ok(Ok(self.table.push(handle)?)),
            Err(e) => Ok(Err(spin_err(e))),
        }
    }

    fn get(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        let label = self.label(&store)?;
        Ok(self
            .env
            .kv
            .op_get(&self.env.id, &label, &key)
            .map_err(spin_err))
    }

    fn set(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let label = self.label(&store)?;
        Ok(self
            .env
            .kv
            .op_set(&self.env.id, &label, &key, &value)
            .map_err(spin_err))
    }

    fn delete(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let label = self.label(&store)?;
        Ok(self
            .env
            .kv
            .op_delete(&self.env.id, &label, &key)
            .map_err(spin_err))
    }

    fn exists(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        let label = self.label(&store)?;
        Ok(self
            .env
            .kv
            .op_exists(&self.env.id, &label, &key)
            .map_err(spin_err))
    }

    fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        let label = self.label(&store)?;
        Ok(self.env.kv.op_list(&self.env.id, &label).map_err(spin_err))
    }

    fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl spin_vars::Host for InstanceState {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin_vars::Error>> {
        let env = &self.env;
        Ok(
            variables::component_get(&env.id, &env.variables, &env.app_variables, &name).map_err(
                |e| match e {
                    VariableError::InvalidName(m) => spin_vars::Error::InvalidName(m),
                    VariableError::Undefined(m) => spin_vars::Error::Undefined(m),
                    VariableError::Provider(m) => spin_vars::Error::Provider(m),
                },
            ),
        )
    }
}

impl wasi_kv::Host for InstanceState {
    fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, wasi_kv::Error>> {
        match self.open_store(identifier) {
            Ok(handle) => Ok(Ok(self.table.push(handle)?)),
            Err(e) => Ok(Err(wasi_err(e))),
        }
    }
}

impl wasi_kv::HostBucket for InstanceState {
    fn get(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .env
            .kv
            .op_get(&self.env.id, &label, &key)
            .map_err(wasi_err))
    }

    fn set(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .env
            .kv
            .op_set(&self.env.id, &label, &key, &value)
            .map_err(wasi_err))
    }

    fn delete(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .env
            .kv
            .op_delete(&self.env.id, &label, &key)
            .map_err(wasi_err))
    }

    fn exists(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .env
            .kv
            .op_exists(&self.env.id, &label, &key)
            .map_err(wasi_err))
    }

    fn list_keys(
        &mut self,
        bucket: Resource<StoreHandle>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        if cursor.is_some() {
            // Spin hands out every key at once and refuses cursors.
            return Ok(Err(wasi_kv::Error::Other(
                "list_keys: cursor not supported".to_string(),
            )));
        }
        Ok(self
            .env
            .kv
            .op_list(&self.env.id, &label)
            .map(|keys| wasi_kv::KeyResponse { keys, cursor: None })
            .map_err(wasi_err))
    }

    fn drop(&mut self, bucket: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for InstanceState {
    fn increment(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .env
            .kv
            .op_increment(&self.env.id, &label, &key, delta)
            .map_err(wasi_err))
    }

    fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let handle = self.table.delete(cas)?;
        let won = self.env.kv.op_cas_swap(
            &self.env.id,
            &handle.label,
            &handle.key,
            handle.seen.as_deref(),
            &value,
        );
        match won {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // Hand back a handle holding the value present now.
                let seen = match self.read_for_cas(&handle.label, &handle.key) {
                    Ok(seen) => seen,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(wasi_err(e)))),
                };
                let fresh = self.table.push(CasHandle {
                    label: handle.label,
                    key: handle.key,
                    seen,
                })?;
                Ok(Err(atomics::CasError::CasFailed(fresh)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(wasi_err(e)))),
        }
    }
}

impl atomics::HostCas for InstanceState {
    fn new(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        let seen = match self.env.kv.cas_mode() {
            CasMode::Strict => match self.read_for_cas(&label, &key) {
                Ok(seen) => seen,
                Err(e) => return Ok(Err(wasi_err(e))),
            },
            // Spin's handle compares with nothing until `current` is called.
            CasMode::SpinSqlite => None,
        };
        Ok(Ok(self.table.push(CasHandle { label, key, seen })?))
    }

    fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let (label, key) = {
            let handle = self.table.get(&cas)?;
            (handle.label.clone(), handle.key.clone())
        };
        let seen = match self.read_for_cas(&label, &key) {
            Ok(seen) => seen,
            Err(e) => return Ok(Err(wasi_err(e))),
        };
        self.table.get_mut(&cas)?.seen = seen.clone();
        Ok(Ok(seen))
    }

    fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for InstanceState {
    fn get_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .env
            .kv
            .op_get_many(&self.env.id, &label, &keys)
            .map_err(wasi_err))
    }

    fn set_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .env
            .kv
            .op_set_many(&self.env.id, &label, &key_values)
            .map_err(wasi_err))
    }

    fn delete_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .env
            .kv
            .op_delete_many(&self.env.id, &label, &keys)
            .map_err(wasi_err))
    }
}
