//! Helpers for the self-service tests: requests with any method and
//! client, TOTP codes made apart from the product's code, a sign-in at the
//! OpenID Connect provider, and a mail relay double.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

use crate::common::{self, Reply, TestApp, ADMIN_SECRET, PASSWORD};

/// Sends a request with `client` (its cookies); `body` goes as JSON.
pub async fn send(
    t: &TestApp,
    client: &reqwest::Client,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let mut req = client.request(method, t.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    common::read(req.send().await.expect("request")).await
}

/// A new client (own cookie jar) logged in as `user` with `password`.
pub async fn logged_in(t: &TestApp, user: &str, password: &str) -> reqwest::Client {
    let c = common::browser();
    let r = send(
        t,
        &c,
        Method::POST,
        "/api/login",
        Some(json!({"username": user, "password": password})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["authenticated"], true, "{}", r.body);
    c
}

/// Registers `user` with the test password and, if given, an address.
pub async fn register(t: &TestApp, user: &str, email: Option<&str>) -> Reply {
    let mut body = json!({"username": user, "password": PASSWORD});
    if let Some(e) = email {
        body["email"] = json!(e);
    }
    let r = t.post("/api/register", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r
}

/// The current TOTP step.
pub fn step_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / 30
}

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u64, 0u32);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base32") as u64;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// The six-digit TOTP code of a base32 secret at a step (RFC 6238 with
/// HMAC-SHA-1), written here apart from the product's implementation.
pub fn totp(secret: &str, step: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&base32_decode(secret)).expect("key");
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 15) as usize;
    let n = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]) % 1_000_000;
    format!("{n:06}")
}

/// Turns two-factor authentication on for the member of `client`; returns
/// the secret, the step whose code confirmed it, and the recovery codes.
pub async fn enable_totp(t: &TestApp, client: &reqwest::Client) -> (String, u64, Vec<String>) {
    let r = send(t, client, Method::POST, "/api/account/two-factor", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let step = step_now();
    let r = send(
        t,
        client,
        Method::POST,
        "/api/account/two-factor/confirm",
        Some(json!({"code": totp(&secret, step)})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let codes = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, step, codes)
}

/// Grants a permission through the admin API (apps from `start_provider`).
pub async fn grant(t: &TestApp, user: &str, permission: &str, expires: &str) {
    let r = common::read(
        t.http
            .put(t.url(&format!("/admin/users/{user}/permissions/{permission}")))
            .bearer_auth(ADMIN_SECRET)
            .json(&json!({"expires": expires, "member": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

pub const REDIRECT: &str = "http://localhost:9/cb";

/// Registers a first-party confidential client; returns its secret.
pub async fn add_client(t: &mut TestApp, id: &str) -> String {
    let r = common::read(
        t.http
            .put(t.url(&format!("/admin/clients/{id}")))
            .bearer_auth(ADMIN_SECRET)
            .json(&json!({"redirect_uris": [REDIRECT], "first_party": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.body);
    let secret = r.body["client_secret"].as_str().unwrap().to_string();
    t.secrets.push(secret.clone());
    secret
}

/// Signs the member of `browser` in to a client with the code flow and
/// PKCE; returns the token response. The tokens join the test's secrets.
pub async fn sign_in(
    t: &mut TestApp,
    browser: &reqwest::Client,
    client: &str,
    secret: &str,
    scope: &str,
) -> Value {
    let verifier = "e2e-code-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let resp = browser
        .get(t.url(&format!("/oidc/authorize?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let tokens = common::read(
        reqwest::Client::new()
            .post(t.url("/oidc/token"))
            .basic_auth(client, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    for k in ["access_token", "refresh_token", "id_token"] {
        t.secrets
            .push(tokens.body[k].as_str().unwrap_or_default().to_string());
    }
    tokens.body
}

/// The claims of a JWT, unverified (the OIDC tests verify signatures).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// One request the relay double received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request line and headers, lowercased.
    pub head: String,
    /// The JSON body.
    pub body: Value,
}

/// A test double of the mail relay: accepts HTTP POSTs on 127.0.0.1,
/// keeps each request, and answers with a fixed status. No mail leaves it.
pub struct RelayDouble {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RelayDouble {
    pub async fn start(status: u16) -> RelayDouble {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let keep = received.clone();
        let task = tokio::spawn(async move {
            // bounded: a test sends a handful of mails
            for _ in 0..50 {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let read =
                    tokio::time::timeout(Duration::from_secs(10), common::read_request(&mut sock))
                        .await;
                if let Ok(Some((head, body))) = read {
                    keep.lock().unwrap().push(Received {
                        head,
                        body: serde_json::from_str(&body).unwrap_or(Value::Null),
                    });
                }
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            }
        });
        RelayDouble {
            port,
            received,
            task,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The variables that point the account component at this double.
    pub fn variables(&self) -> std::collections::HashMap<String, String> {
        std::collections::HashMap::from([
            (
                "mail_relay_url".to_string(),
                format!("http://127.0.0.1:{}/send", self.port),
            ),
            (
                "mail_relay_origin".to_string(),
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("mail_relay_token".to_string(), RELAY_TOKEN.to_string()),
        ])
    }
}

impl Drop for RelayDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The relay's bearer token in tests.
pub const RELAY_TOKEN: &str = "relay-token-e2e-0123456789";
