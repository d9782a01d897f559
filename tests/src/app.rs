//! A running app: the manifest's components behind an HTTP server on a
//! local address, the way `spin up` serves them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use crate::engine::{host_engine, EPOCH_DEADLINE};
use crate::host::{ComponentEnv, InstanceState, OutboundAttempt};
use crate::kv::{KvAccess, KvBackend};
use crate::manifest::Manifest;
use crate::outbound::AllowedHost;
use crate::output::GuestOutput;
use crate::router::{RouteMatch, Router};
use crate::usage::{ComponentPeaks, PeakUsage};
use crate::variables::{AppVariables, Template};

/// How to start an app.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// The directory holding `spin.toml`, or the path of a manifest file.
    pub root: PathBuf,
    /// Where `serve` keeps its stores; `None` keeps them in memory. Ignored
    /// when `kv` is given.
    pub state_dir: Option<PathBuf>,
    /// Application variable values that win over the environment and the
    /// manifest defaults.
    pub variables: HashMap<String, String>,
    /// A backend to use, for example one shared by several apps.
    pub kv: Option<Arc<KvBackend>>,
}

impl AppOptions {
    /// Options for the manifest in (or at) `root`, everything else default.
    pub fn new(root: impl Into<PathBuf>) -> AppOptions {
        AppOptions {
            root: root.into(),
            ..AppOptions::default()
        }
    }

    /// The manifest file these options name.
    pub fn manifest_path(&self) -> PathBuf {
        manifest_path(&self.root)
    }
}

/// `root` if it is a file, else `root/spin.toml`.
pub(crate) fn manifest_path(root: &Path) -> PathBuf {
    if root.is_file() {
        root.to_path_buf()
    } else {
        root.join("spin.toml")
    }
}

/// Where guest stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// Kept in memory; read it with [`RunningApp::guest_output`].
    #[default]
    Capture,
    /// Written to this process's stdout and stderr.
    Inherit,
}

/// An app serving HTTP on a local address until shut down.
pub struct RunningApp {
    addr: SocketAddr,
    kv: Arc<KvBackend>,
    output: GuestOutput,
    outbound_log: Arc<Mutex<Vec<OutboundAttempt>>>,
    peaks: BTreeMap<String, Arc<ComponentPeaks>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

struct App {
    router: Router,
    components: HashMap<String, LoadedComponent>,
    output: GuestOutput,
}

struct LoadedComponent {
    pre: ProxyPre<InstanceState>,
    env: Arc<ComponentEnv>,
}

impl RunningApp {
    /// Loads the manifest, compiles its components (once per process) and
    /// serves them on `listen` (use port 0 for a free port), with guest
    /// output captured.
    pub async fn start(opts: AppOptions, listen: SocketAddr) -> anyhow::Result<RunningApp> {
        RunningApp::start_with_output(opts, listen, OutputMode::Capture).await
    }

    /// Like [`RunningApp::start`], choosing where guest output goes.
    pub async fn start_with_output(
        opts: AppOptions,
        listen: SocketAddr,
        mode: OutputMode,
    ) -> anyhow::Result<RunningApp> {
        let manifest = Manifest::load(&opts.manifest_path())?;
        let kv = match (&opts.kv, &opts.state_dir) {
            (Some(kv), _) => kv.clone(),
            (None, Some(dir)) => KvBackend::open_dir(dir)?,
            (None, None) => KvBackend::in_memory()?,
        };
        let output = match mode {
            OutputMode::Capture => GuestOutput::captured(),
            OutputMode::Inherit => GuestOutput::inherited(),
        };
        let outbound_log = Arc::new(Mutex::new(Vec::new()));
        let app_variables = Arc::new(AppVariables::new(
            manifest.variables.clone(),
            opts.variables.clone(),
        ));
        app_variables.check_overrides()?;

        let used: HashSet<&str> = manifest
            .http_triggers
            .iter()
            .map(|t| t.component.as_str())
            .collect();
        let mut components = HashMap::new();
        let mut peaks = BTreeMap::new();
        for id in used {
            let decl = manifest
                .components
                .get(id)
                .ok_or_else(|| anyhow!("unknown component {id:?}"))?;
            let allowed_hosts = decl
                .allowed_outbound_hosts
                .iter()
                .map(|text| {
                    let rendered = Template::parse(text)?.render(&app_variables)?;
                    AllowedHost::parse(&rendered)
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .with_context(|| format!("component {id:?} allowed_outbound_hosts"))?;
            let env = Arc::new(ComponentEnv {
                id: id.to_string(),
                stores: decl.key_value_stores.iter().cloned().collect(),
                allowed_hosts,
                variables: decl.variables.clone(),
                environment: decl
                    .environment
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                app_variables: app_variables.clone(),
                kv: kv.clone(),
                output: output.clone(),
                outbound_log: outbound_log.clone(),
                peaks: Arc::new(ComponentPeaks::default()),
            });
            peaks.insert(id.to_string(), env.peaks.clone());
            let path = manifest.source_path(decl);
            let pre = tokio::task::spawn_blocking(move || host_engine()?.proxy_pre(&path))
                .await
                .context("compiling a component")??;
            components.insert(id.to_string(), LoadedComponent { pre, env });
        }

        let router = Router::new(
            manifest
                .http_triggers
                .iter()
                .filter_map(|t| t.route.as_deref().map(|r| (r, t.component.as_str()))),
        )?;

        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App {
            router,
            components,
            output: output.clone(),
        });
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(serve(listener, app, stopped));
        Ok(RunningApp {
            addr,
            kv,
            output,
            outbound_log,
            peaks,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The key-value backend.
    pub fn kv(&self) -> Arc<KvBackend> {
        self.kv.clone()
    }

    /// Captured stdout and stderr of every guest instance so far, with the
    /// host's own notes (refused outbound requests, component failures).
    pub fn guest_output(&self) -> String {
        self.output.contents()
    }

    /// The key-value access log (of the backend, so shared with any other
    /// app on the same backend).
    pub fn access_log(&self) -> Vec<KvAccess> {
        self.kv.access_log()
    }

    /// Every outgoing HTTP request the components tried to make.
    pub fn outbound_log(&self) -> Vec<OutboundAttempt> {
        self.outbound_log
            .lock()
            .map(|log| log.clone())
            .unwrap_or_default()
    }

    /// Per component: the most linear memory and table elements any one of
    /// its instances reached, and how many instances it ran.
    pub fn peak_usage(&self) -> BTreeMap<String, PeakUsage> {
        self.peaks
            .iter()
            .map(|(id, peaks)| (id.clone(), peaks.snapshot()))
            .collect()
    }

    /// Stops accepting connections, closes open ones and waits for that.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn serve(listener: TcpListener, app: Arc<App>, mut stopped: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let app = app.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let app = app.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&app, peer, req).await) }
                    });
                    // A client that goes away mid-request is not our failure.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
    connections.shutdown().await;
}

const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

fn plain(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
    let body = if body.is_empty() {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    } else {
        Full::new(bytes::Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync()
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

async fn handle(
    app: &App,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<HyperOutgoingBody> {
    // Spin cannot tell which authority was meant without a Host header.
    let Some(host) = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
    else {
        return plain(StatusCode::BAD_REQUEST, "");
    };

    let path = req.uri().path().to_string();
    if let Some(name) = path.strip_prefix(WELL_KNOWN_PREFIX) {
        return match name {
            "health" => plain(StatusCode::OK, "OK"),
            _ => plain(StatusCode::NOT_FOUND, ""),
        };
    }
    let Some(route) = app.router.route(&path) else {
        return plain(StatusCode::NOT_FOUND, "");
    };
    let Some(component) = app.components.get(&route.component) else {
        return plain(StatusCode::NOT_FOUND, "");
    };

    let req = match prepare_request(req, &host, &route, peer) {
        Ok(req) => req,
        Err(_) => return plain(StatusCode::BAD_REQUEST, ""),
    };
    match call(component, req).await {
        Ok(response) => response,
        Err(err) => {
            app.output
                .host_note(&format!("component {:?} failed: {err:#}", component.env.id));
            plain(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
    }
}

/// Gives the request an absolute URI and adds the headers Spin adds. Like
/// Spin, the client's own headers stay, and Spin's are appended after them.
fn prepare_request(
    req: Request<Incoming>,
    host: &http::uri::Authority,
    route: &RouteMatch,
    peer: SocketAddr,
) -> anyhow::Result<Request<wasmtime_wasi_http::p2::body::HyperIncomingBody>> {
    let (mut parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    parts.uri = http::Uri::builder()
        .scheme("http")
        .authority(host.clone())
        .path_and_query(path_and_query.as_str())
        .build()?;

    let full_url = format!("http://{host}{path_and_query}");
    let mut extra: Vec<(String, String)> = vec![
        ("spin-path-info".into(), route.path_info.clone()),
        ("spin-full-url".into(), full_url),
        ("spin-matched-route".into(), route.based_route.clone()),
        ("spin-base-path".into(), "/".into()),
        ("spin-raw-component-route".into(), route.raw_route.clone()),
        ("spin-component-route".into(), route.component_route.clone()),
        ("spin-client-addr".into(), peer.to_string()),
    ];
    for (name, value) in &route.params {
        extra.push((
            format!("spin-path-match-{}", name.to_ascii_lowercase()),
            value.clone(),
        ));
    }
    for (name, value) in extra {
        parts.headers.append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(&value)?,
        );
    }

    let body = body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync();
    Ok(Request::from_parts(parts, body))
}

/// Runs one request in a fresh instance of the component.
async fn call(
    component: &LoadedComponent,
    req: Request<wasmtime_wasi_http::p2::body::HyperIncomingBody>,
) -> anyhow::Result<Response<HyperOutgoingBody>> {
    let engine = host_engine()?;
    let mut store = Store::new(&engine.engine, InstanceState::new(component.env.clone()));
    store.set_epoch_deadline(EPOCH_DEADLINE);
    store.limiter(|state| state.limiter());
    let proxy = component.pre.instantiate_async(&mut store).await?;

    let (response_tx, response_rx) = oneshot::channel();
    let (request, outparam) = {
        let mut http = store.data_mut().http();
        let request = http.new_incoming_request(Scheme::Http, req)?;
        let outparam = http.new_response_outparam(response_tx)?;
        (request, outparam)
    };

    let guest = tokio::spawn(async move {
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, request, outparam)
            .await
    });

    match response_rx.await {
        Ok(Ok(response)) => {
            // The guest may still stream the body; report a late failure.
            let output = component.env.output.clone();
            let id = component.env.id.clone();
            tokio::spawn(async move {
                match guest.await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => output.host_note(&format!(
                        "component {id:?} failed after starting its response: {err:#}"
                    )),
                    Err(err) => {
                        output.host_note(&format!("component {id:?} task ended abnormally: {err}"))
                    }
                }
            });
            Ok(response)
        }
        Ok(Err(code)) => Err(anyhow!("the component answered with error code {code:?}")),
        Err(_) => {
            guest
                .await
                .context("the component task ended abnormally")?
                .map_err(anyhow::Error::from)
                .context("the component failed")?;
            Err(anyhow!("the component returned without setting a response"))
        }
    }
}
