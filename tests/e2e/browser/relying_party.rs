//! A relying-party double: a small web site on 127.0.0.1 that signs its
//! visitors in through ausweis as a real OpenID Connect client would, with
//! the `openidconnect` crate. `/` links to the authorization endpoint (code
//! flow with PKCE, state and nonce), `/callback` exchanges the code and
//! verifies the ID token against the provider's JWKS, `/signed-out` is the
//! post-logout redirect URI. What it verified is kept for the test to read.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{json, Value};

use crate::common::{self, TestApp, ADMIN_SECRET};

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How many sign-ins may wait for their callback at once.
const MAX_PENDING: usize = 64;
/// How many connections the double serves before it stops accepting.
const MAX_CONNECTIONS: usize = 1000;

/// A sign-in the double completed: the ID token's signature, issuer,
/// audience, expiry, nonce and `at_hash` all checked.
#[derive(Clone, Debug)]
pub struct SignIn {
    pub username: String,
    pub subject: String,
    pub amr: Vec<String>,
    pub id_token: String,
    pub access_token: String,
}

struct Shared {
    base: String,
    issuer: String,
    client_id: String,
    secret: String,
    http: reqwest::Client,
    meta: Mutex<CoreProviderMetadata>,
    /// state → (nonce, PKCE verifier) of sign-ins under way
    pending: Mutex<HashMap<String, (Nonce, String)>>,
    /// states of logouts under way
    logouts: Mutex<Vec<String>>,
    sign_ins: Mutex<Vec<SignIn>>,
    signed_out: Mutex<Vec<String>>,
    languages: Mutex<Vec<String>>,
}

/// The relying-party double, serving until dropped.
pub struct RelyingParty {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RelyingParty {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("relying party's HTTP client")
}

async fn discover(issuer: &str, http: &reqwest::Client) -> CoreProviderMetadata {
    CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.into()).expect("issuer URL"), http)
        .await
        .expect("discovery")
}

impl RelyingParty {
    /// Starts the double on a free port of 127.0.0.1 and registers it with
    /// the app (from `common::start_provider`) through the admin API as the
    /// confidential client `client_id`, asking for `openid profile`.
    /// `settings` is merged into the registration (for example
    /// `{"first_party": true, "required_permission": "wiki"}`).
    pub async fn start(t: &mut TestApp, client_id: &str, settings: Value) -> RelyingParty {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("relying party's port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let mut body = json!({
            "redirect_uris": [format!("{base}/callback")],
            "post_logout_redirect_uris": [format!("{base}/signed-out")],
        });
        if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), settings) {
            b.extend(extra);
        }
        let r = common::read(
            t.http
                .put(t.url(&format!("/admin/clients/{client_id}")))
                .bearer_auth(ADMIN_SECRET)
                .json(&body)
                .send()
                .await
                .expect("admin request"),
        )
        .await;
        assert!(r.status.is_success(), "registering the client: {}", r.body);
        let secret = r.body["client_secret"]
            .as_str()
            .expect("a confidential client's secret")
            .to_string();
        t.secrets.push(secret.clone());

        let issuer = t.app().base_url();
        let http = http_client();
        let meta = discover(&issuer, &http).await;
        let shared = Arc::new(Shared {
            base,
            issuer,
            client_id: client_id.into(),
            secret,
            http,
            meta: Mutex::new(meta),
            pending: Mutex::new(HashMap::new()),
            logouts: Mutex::new(Vec::new()),
            sign_ins: Mutex::new(Vec::new()),
            signed_out: Mutex::new(Vec::new()),
            languages: Mutex::new(Vec::new()),
        });
        let server = tokio::spawn(serve(listener, shared.clone()));
        RelyingParty { shared, server }
    }

    /// The double's address followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.shared.base)
    }

    /// The sign-ins completed so far.
    pub fn sign_ins(&self) -> Vec<SignIn> {
        self.shared.sign_ins.lock().expect("lock").clone()
    }

    /// The logout states that came back to `/signed-out`, each one the
    /// double had sent.
    pub fn signed_out(&self) -> Vec<String> {
        self.shared.signed_out.lock().expect("lock").clone()
    }

    /// The `Accept-Language` of each request the double got.
    pub fn languages(&self) -> Vec<String> {
        self.shared.languages.lock().expect("lock").clone()
    }

    /// The tokens the double received, for the test's secret scans.
    pub fn tokens(&self) -> Vec<String> {
        self.sign_ins()
            .into_iter()
            .flat_map(|s| [s.id_token, s.access_token])
            .collect()
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    for _ in 0..MAX_CONNECTIONS {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(sock), service)
                .await;
        });
    }
}

fn page(status: u16, title: &str, body: &str) -> hyper::Response<Full<Bytes>> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · relying-party double</title></head><body><main>\
<p><em>Relying-party double of the ausweis tests</em></p><h1>{title}</h1>{body}</main></body></html>"
    );
    hyper::Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("content-security-policy", "default-src 'none'")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(html)))
        .unwrap_or_default()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn handle(
    shared: &Shared,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    if let Some(lang) = req
        .headers()
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
    {
        shared.languages.lock().expect("lock").push(lang.into());
    }
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    match req.uri().path() {
        "/" => start_page(shared),
        "/callback" => match callback(shared, &query).await {
            Ok(body) => body,
            Err(why) => page(400, "Sign-in failed", &format!("<p>{}</p>", escape(&why))),
        },
        "/signed-out" => signed_out(shared, &query),
        // for the harness's own test: an inline script its policy forbids
        "/csp-probe" => page(
            200,
            "Policy probe",
            "<script>document.title = 'ran';</script><p>The script above must not run.</p>",
        ),
        "/favicon.ico" => hyper::Response::builder()
            .status(204)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default(),
        _ => page(404, "Not found", ""),
    }
}

fn client(shared: &Shared) -> Client {
    let meta = shared.meta.lock().expect("lock").clone();
    CoreClient::from_provider_metadata(
        meta,
        ClientId::new(shared.client_id.clone()),
        Some(ClientSecret::new(shared.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(format!("{}/callback", shared.base)).expect("redirect URI"))
}

/// The start page: a fresh authorization request behind the link.
fn start_page(shared: &Shared) -> hyper::Response<Full<Bytes>> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client(shared)
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    {
        let mut pending = shared.pending.lock().expect("lock");
        if pending.len() >= MAX_PENDING {
            pending.clear();
        }
        pending.insert(state.secret().clone(), (nonce, verifier.secret().clone()));
    }
    page(
        200,
        "Welcome",
        &format!(
            "<p>This page stands in for a service of the association.</p>\
<p><a href=\"{}\">Sign in with ausweis</a></p>",
            escape(url.as_str())
        ),
    )
}

/// The redirect URI: checks `iss` and `state`, exchanges the code with the
/// PKCE verifier and verifies the ID token.
async fn callback(
    shared: &Shared,
    query: &HashMap<String, String>,
) -> Result<hyper::Response<Full<Bytes>>, String> {
    if let Some(error) = query.get("error") {
        return Err(format!("the provider answered {error}"));
    }
    if query.get("iss") != Some(&shared.issuer) {
        return Err("iss is missing or names another issuer (RFC 9207)".into());
    }
    let state = query.get("state").ok_or("no state")?;
    let (nonce, verifier) = shared
        .pending
        .lock()
        .expect("lock")
        .remove(state)
        .ok_or("unknown state")?;
    let code = query.get("code").ok_or("no code")?;
    let tokens = client(shared)
        .exchange_code(AuthorizationCode::new(code.clone()))
        .map_err(|e| format!("no token endpoint: {e}"))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&shared.http)
        .await
        .map_err(|e| format!("code exchange failed: {e}"))?;
    let id_token = tokens.id_token().ok_or("no ID token")?.clone();
    // the provider may sign with a key the double has not seen: like any
    // relying party, it reads the provider's keys again once
    let sign_in = match verify(shared, &id_token, &nonce, &tokens) {
        Ok(s) => s,
        Err(_) => {
            let fresh = discover(&shared.issuer, &shared.http).await;
            *shared.meta.lock().expect("lock") = fresh;
            verify(shared, &id_token, &nonce, &tokens)?
        }
    };
    let logout_state = CsrfToken::new_random().secret().clone();
    shared
        .logouts
        .lock()
        .expect("lock")
        .push(logout_state.clone());
    let mut logout =
        url::Url::parse(&format!("{}/oidc/logout", shared.issuer)).map_err(|e| e.to_string())?;
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token.to_string())
        .append_pair(
            "post_logout_redirect_uri",
            &format!("{}/signed-out", shared.base),
        )
        .append_pair("state", &logout_state);
    let username = sign_in.username.clone();
    shared.sign_ins.lock().expect("lock").push(sign_in);
    Ok(page(
        200,
        "Signed in",
        &format!(
            "<p>Signed in as {}</p><p><a href=\"{}\">Sign out</a></p>",
            escape(&username),
            escape(logout.as_str())
        ),
    ))
}

fn verify(
    shared: &Shared,
    id_token: &CoreIdToken,
    nonce: &Nonce,
    tokens: &openidconnect::core::CoreTokenResponse,
) -> Result<SignIn, String> {
    let client = client(shared);
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, nonce)
        .map_err(|e| format!("ID token refused: {e}"))?;
    let expected = claims.access_token_hash().ok_or("no at_hash")?;
    let alg = id_token.signing_alg().map_err(|e| e.to_string())?;
    let key = id_token.signing_key(&verifier).map_err(|e| e.to_string())?;
    let actual =
        AccessTokenHash::from_token(tokens.access_token(), alg, key).map_err(|e| e.to_string())?;
    if *expected != actual {
        return Err("at_hash does not match the access token".into());
    }
    Ok(SignIn {
        username: claims
            .preferred_username()
            .map(|u| u.as_str().to_string())
            .ok_or("no preferred_username")?,
        subject: claims.subject().as_str().to_string(),
        amr: claims
            .auth_method_refs()
            .map(|a| a.iter().map(|m| m.as_str().to_string()).collect())
            .unwrap_or_default(),
        id_token: id_token.to_string(),
        access_token: tokens.access_token().secret().clone(),
    })
}

/// The post-logout redirect URI: the state must be one the double sent.
fn signed_out(shared: &Shared, query: &HashMap<String, String>) -> hyper::Response<Full<Bytes>> {
    let Some(state) = query.get("state") else {
        return page(400, "Sign-out failed", "<p>no state</p>");
    };
    let known = {
        let mut logouts = shared.logouts.lock().expect("lock");
        let before = logouts.len();
        logouts.retain(|s| s != state);
        logouts.len() < before
    };
    if !known {
        return page(400, "Sign-out failed", "<p>unknown state</p>");
    }
    shared.signed_out.lock().expect("lock").push(state.clone());
    page(
        200,
        "Signed out",
        "<p>You are signed out of this service.</p>",
    )
}
