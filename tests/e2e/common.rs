//! One helper to start an app, one to talk to it, and the checks every test
//! ends with.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use ausweis_tests::{AppOptions, KvBackend, RunningApp};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

/// User agent every test client sends, so scans can look for it.
pub const USER_AGENT: &str = "ausweis-e2e-agent/1.0 (canary)";
/// A password that passes the policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// Builds the components once per test run, as `spin build` would.
fn build_once() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        ausweis_tests::build_components(&ausweis_tests::repo_root())
            .expect("building the components");
    });
}

/// An app under test and an HTTP client with a cookie jar.
pub struct TestApp {
    pub app: Option<RunningApp>,
    pub http: reqwest::Client,
    /// Strings that must appear in no store and no log when the test ends.
    pub secrets: Vec<String>,
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn error_code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(USER_AGENT)
        .build()
        .expect("client")
}

/// A browser stand-in: keeps cookies, does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The anti-forgery field of the form on page `path`, fetched with
/// `client` as a browser would (which also gives it the cookie).
pub async fn csrf_of(client: &reqwest::Client, t: &TestApp, path: &str) -> String {
    let page = client
        .get(t.url(path))
        .send()
        .await
        .expect("form page")
        .text()
        .await
        .expect("form page body");
    ausweis_tests::csrf_field(&page).unwrap_or_else(|| panic!("no csrf field on {path}: {page}"))
}

/// Starts an app on fresh in-memory stores.
pub async fn start() -> TestApp {
    start_with(HashMap::new(), None).await
}

/// Starts an app with variable overrides, optionally on a given backend.
pub async fn start_with(variables: HashMap<String, String>, kv: Option<Arc<KvBackend>>) -> TestApp {
    start_on(variables, kv, 0).await
}

/// The admin secret of apps started by [`start_provider`].
pub const ADMIN_SECRET: &str = "test-admin-secret-0123456789";

/// Starts an app whose `issuer` is its own address (OpenID Connect clients
/// check that discovery names the issuer they asked), with the admin API on.
pub async fn start_provider(variables: HashMap<String, String>) -> TestApp {
    start_provider_on(variables, None).await
}

/// [`start_provider`] on a given backend.
pub async fn start_provider_on(
    mut variables: HashMap<String, String>,
    kv: Option<Arc<KvBackend>>,
) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    variables
        .entry("issuer".into())
        .or_insert(format!("http://127.0.0.1:{port}"));
    variables.insert("admin_secret".into(), ADMIN_SECRET.into());
    let mut t = start_on(variables, kv, port).await;
    t.secrets.push(ADMIN_SECRET.into());
    t
}

async fn start_on(
    variables: HashMap<String, String>,
    kv: Option<Arc<KvBackend>>,
    port: u16,
) -> TestApp {
    tokio::task::spawn_blocking(build_once)
        .await
        .expect("build");
    let mut opts = AppOptions::new(ausweis_tests::repo_root());
    opts.variables = variables;
    opts.kv = kv;
    let app = RunningApp::start(opts, format!("127.0.0.1:{port}").parse().expect("addr"))
        .await
        .expect("starting the app");
    TestApp {
        app: Some(app),
        http: client(),
        secrets: vec![PASSWORD.into(), USER_AGENT.into(), "127.0.0.1".into()],
    }
}

pub async fn read(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)))
    };
    Reply {
        status,
        headers,
        body,
    }
}

impl TestApp {
    pub fn app(&self) -> &RunningApp {
        self.app.as_ref().expect("app running")
    }

    pub fn url(&self, path: &str) -> String {
        self.app().url(path)
    }

    pub fn kv(&self) -> Arc<KvBackend> {
        self.app().kv()
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        read(
            self.http
                .post(self.url(path))
                .json(&body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        read(self.http.get(self.url(path)).send().await.expect("request")).await
    }

    pub async fn register(&self, username: &str) -> Reply {
        self.post(
            "/api/register",
            serde_json::json!({"username": username, "password": PASSWORD}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post(
            "/api/login",
            serde_json::json!({"username": username, "password": password}),
        )
        .await
    }

    /// Every stored key and value as text, for scans.
    pub fn store_text(&self) -> String {
        let mut out = String::new();
        for (store, entries) in self.kv().dump() {
            for (key, value) in entries {
                out.push_str(&format!(
                    "{store}/{key} = {}\n",
                    String::from_utf8_lossy(&value)
                ));
            }
        }
        out
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let Some(app) = self.app.take() else { return };
        if std::thread::panicking() {
            eprintln!("--- guest output ---\n{}", app.guest_output());
            return;
        }
        let problems = check_invariants(&app, &self.secrets);
        if !problems.is_empty() {
            eprintln!("--- guest output ---\n{}", app.guest_output());
            panic!("invariants violated:\n{}", problems.join("\n"));
        }
    }
}

/// The checks every test ends with (see `ausweis_tests::invariants`):
/// - every key in every store matches a family of `kv-schema` in that store;
/// - each component opened only the stores it declares in `spin.toml`, and
///   touched only keys of families that list it as reader or writer;
/// - no secret of the test (passwords, the user agent, the client address)
///   appears in any store or in the guest output.
pub fn check_invariants(app: &RunningApp, secrets: &[String]) -> Vec<String> {
    ausweis_tests::invariants::check_app(app, &ausweis_tests::repo_root(), secrets)
        .expect("kv-schema and spin.toml readable")
}

/// Reads one HTTP/1.1 request from a test double's socket: the head
/// (lowercased) and the body, up to its `Content-Length`. `None` if the
/// connection closes first.
pub async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse().ok())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return Some((head.to_ascii_lowercase(), body.to_string()));
            }
        }
        if n == 0 {
            return None;
        }
    }
}
