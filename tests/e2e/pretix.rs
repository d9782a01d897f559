//! A real Pretix for the redemption tests (`tests/pretix/fixture.py`),
//! started once per test run on 127.0.0.1 and ended with it, and a Pretix
//! fault double that stands in front of it to inject timeouts, HTML errors
//! and malformed answers.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// The running Pretix and what the fixture seeded.
pub struct Pretix {
    pub url: String,
    pub organizer: String,
    pub event: String,
    pub checkin_list: u64,
    /// Token that may only read orders and check in, as ausweis asks.
    pub token: String,
    /// Token that may also write orders, for the tests.
    admin_token: String,
    pub items: HashMap<String, u64>,
    pub variations: HashMap<String, u64>,
    _child: Mutex<Child>,
}

/// A ticket of a fresh order, and what of its order must never be stored.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub secret: String,
    pub order_code: String,
    pub order_secret: String,
    pub attendee: String,
    pub email: String,
}

impl Ticket {
    /// Everything from Pretix that no store may hold.
    pub fn private_strings(&self) -> Vec<String> {
        vec![
            self.secret.clone(),
            self.order_code.clone(),
            self.order_secret.clone(),
            self.attendee.clone(),
            self.email.clone(),
        ]
    }
}

/// The state an order is made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    Paid,
    Pending,
    Cancelled,
    Expired,
}

/// A number not used before in this test run.
pub fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("AUSWEIS_PRETIX_PYTHON") {
        return PathBuf::from(p);
    }
    let root = ausweis_tests::repo_root();
    let venv = root.join(".pretix/venv/bin/python");
    if !venv.exists() {
        let status = Command::new("bash")
            .arg(root.join("tests/pretix/install.sh"))
            .status()
            .expect("running tests/pretix/install.sh");
        assert!(status.success(), "tests/pretix/install.sh failed");
    }
    venv
}

/// The one Pretix of this test run.
pub fn pretix() -> &'static Pretix {
    static PRETIX: OnceLock<Pretix> = OnceLock::new();
    PRETIX.get_or_init(start)
}

fn start() -> Pretix {
    let root = ausweis_tests::repo_root();
    let port = free_port();
    let state = std::env::temp_dir().join(format!("ausweis-pretix-{}-{port}", std::process::id()));
    let child = Command::new(python())
        .arg(root.join("tests/pretix/fixture.py"))
        .args(["serve", "--state"])
        .arg(&state)
        .args(["--port", &port.to_string()])
        .args(["--parent", &std::process::id().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting Pretix");

    // bounded: at most 180 s (a first migration takes about 100 s)
    let deadline = Instant::now() + Duration::from_secs(180);
    let fixture = state.join("fixture.json");
    let seeded: Value = loop {
        assert!(Instant::now() < deadline, "Pretix did not start in time");
        if let Ok(text) = std::fs::read_to_string(&fixture) {
            if let Ok(v) = serde_json::from_str(&text) {
                break v;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    loop {
        assert!(Instant::now() < deadline, "Pretix did not answer in time");
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let map = |v: &Value| -> HashMap<String, u64> {
        v.as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    Pretix {
        url: seeded["url"].as_str().expect("url").into(),
        organizer: seeded["organizer"].as_str().expect("organizer").into(),
        event: seeded["event"].as_str().expect("event").into(),
        checkin_list: seeded["checkin_list"].as_u64().expect("list"),
        token: seeded["token"].as_str().expect("token").into(),
        admin_token: seeded["admin_token"].as_str().expect("admin token").into(),
        items: map(&seeded["items"]),
        variations: map(&seeded["variations"]),
        _child: Mutex::new(child),
    }
}

impl Pretix {
    fn api(&self, path: &str) -> String {
        format!("{}/api/v1/organizers/{}/{path}", self.url, self.organizer)
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
    }

    /// Makes an order of one ticket for `item` (and `variation`) in `state`.
    pub async fn order(&self, item: &str, variation: Option<&str>, state: OrderState) -> Ticket {
        let n = unique();
        let attendee = format!("Attendee Canary{n}");
        let email = format!("buyer{n}@example.org");
        let mut position = json!({"item": self.items[item], "attendee_name": attendee});
        if let Some(v) = variation {
            position["variation"] = json!(self.variations[v]);
        }
        let mut body = json!({"email": email, "positions": [position]});
        if state == OrderState::Paid {
            body["status"] = json!("p");
            body["payment_provider"] = json!("manual");
        }
        let http = Self::client();
        let resp = http
            .post(self.api(&format!("events/{}/orders/", self.event)))
            .header("authorization", format!("Token {}", self.admin_token))
            .json(&body)
            .send()
            .await
            .expect("creating an order");
        let status = resp.status();
        let order: Value = resp.json().await.expect("order json");
        assert!(status.is_success(), "order not created: {order}");
        let code = order["code"].as_str().expect("code").to_string();
        let action = match state {
            OrderState::Cancelled => Some("mark_canceled"),
            OrderState::Expired => Some("mark_expired"),
            _ => None,
        };
        if let Some(action) = action {
            let resp = http
                .post(self.api(&format!("events/{}/orders/{code}/{action}/", self.event)))
                .header("authorization", format!("Token {}", self.admin_token))
                .json(&json!({}))
                .send()
                .await
                .expect("changing an order");
            assert!(resp.status().is_success(), "{action}: {}", resp.status());
        }
        Ticket {
            secret: order["positions"][0]["secret"]
                .as_str()
                .expect("secret")
                .into(),
            order_code: code,
            order_secret: order["secret"].as_str().expect("order secret").into(),
            attendee,
            email,
        }
    }

    /// How many successful check-ins Pretix holds for a ticket.
    pub async fn check_ins(&self, ticket: &Ticket) -> usize {
        let resp = Self::client()
            .get(self.api("checkinrpc/search/"))
            .query(&[
                ("list", self.checkin_list.to_string()),
                ("secret", ticket.secret.clone()),
                ("ignore_status", "true".into()),
            ])
            .header("authorization", format!("Token {}", self.admin_token))
            .send()
            .await
            .expect("search");
        let v: Value = resp.json().await.expect("search json");
        v["results"][0]["checkins"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    }

    /// The Spin variables that point ausweis at `url` (this Pretix or a
    /// fault double in front of it), with the item map of the tests.
    pub fn variables(&self, url: &str) -> HashMap<String, String> {
        let origin = url.trim_end_matches('/').to_string();
        let entitlements = json!({
            self.items["membership"].to_string():
                {"member": true, "permissions": [{"name": "member", "days": 365}]},
            self.items["cloud"].to_string(): {"permissions": [{"name": "cloud", "days": 90}]},
            self.items["chat"].to_string(): {"permissions": [{"name": "chat", "days": 30}]},
            format!("{}:{}", self.items["chat"], self.variations["chat_year"]):
                {"permissions": [{"name": "chat", "days": 365}]},
        });
        [
            ("pretix_url", url.to_string()),
            ("pretix_origin", origin),
            ("pretix_token", self.token.clone()),
            ("pretix_organizer", self.organizer.clone()),
            ("pretix_checkin_list", self.checkin_list.to_string()),
            ("pretix_timeout_ms", "2000".into()),
            ("item_entitlements", entitlements.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// What the fault double does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward to the real Pretix and return its answer.
    Pass,
    /// Answer 500 with an HTML page, as Pretix's server errors do.
    Html500,
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Answer nothing for 10 s (longer than ausweis waits).
    Hang,
    /// Forward to the real Pretix, then answer nothing for 10 s: the
    /// request took effect but its reply is lost.
    PassThenHang,
}

/// A Pretix fault double: an HTTP server on 127.0.0.1 that plays faults
/// from a plan, one per request, and forwards to the real Pretix once the
/// plan is used up. Named as what it is: only for injected faults.
pub struct PretixFaultDouble {
    pub url: String,
    plan: Arc<Mutex<VecDeque<Fault>>>,
    /// Requests seen: method and path (never a header or body).
    pub seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PretixFaultDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PretixFaultDouble {
    pub async fn start(plan: &[Fault]) -> PretixFaultDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let plan = Arc::new(Mutex::new(plan.iter().copied().collect::<VecDeque<_>>()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let upstream = pretix().url.clone();
        let (p, s) = (plan.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (p, s, upstream) = (p.clone(), s.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        answer(req, p.clone(), s.clone(), upstream.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        PretixFaultDouble {
            url: format!("http://{addr}"),
            plan,
            seen,
            task,
        }
    }

    /// Replaces the plan for the next requests.
    pub fn plan(&self, faults: &[Fault]) {
        *self.plan.lock().unwrap() = faults.iter().copied().collect();
    }
}

async fn answer(
    req: hyper::Request<Incoming>,
    plan: Arc<Mutex<VecDeque<Fault>>>,
    seen: Arc<Mutex<Vec<String>>>,
    upstream: String,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let fault = plan.lock().unwrap().pop_front().unwrap_or(Fault::Pass);
    seen.lock()
        .unwrap()
        .push(format!("{} {}", req.method(), req.uri().path()));
    let reply = |status: u16, body: &str| {
        let mut r = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        r
    };
    let hang = || tokio::time::sleep(Duration::from_secs(10));
    Ok(match fault {
        Fault::Html500 => reply(
            500,
            "<!DOCTYPE html><html><body><h1>Server Error (500)</h1></body></html>",
        ),
        Fault::Malformed => reply(200, "{\"results\": [ this is not json"),
        Fault::Hang => {
            hang().await;
            reply(504, "")
        }
        Fault::Pass | Fault::PassThenHang => {
            let (status, body) = forward(req, &upstream).await;
            if fault == Fault::PassThenHang {
                hang().await;
            }
            reply(status, &body)
        }
    })
}

async fn forward(req: hyper::Request<Incoming>, upstream: &str) -> (u16, String) {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut out = reqwest::Client::new().request(method, format!("{upstream}{path}"));
    for name in ["authorization", "content-type", "accept"] {
        if let Some(v) = headers.get(name) {
            out = out.header(name, v.clone());
        }
    }
    match out.body(body).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }
        Err(_) => (502, String::new()),
    }
}
