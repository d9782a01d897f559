//! The OpenID Connect provider, driven by a real relying-party library (the
//! `openidconnect` crate) against the real `oidc`, `token`, `login` and
//! `admin` components.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{self, TestApp, ADMIN_SECRET, PASSWORD};
use crate::member;

const REDIRECT: &str = "http://localhost:9/callback";
const AFTER_LOGOUT: &str = "http://localhost:9/bye";

/// Registers a client through the admin API; returns its secret.
async fn add_client(t: &TestApp, id: &str, body: Value) -> Option<String> {
    let r = common::read(
        t.http
            .put(t.url(&format!("/admin/clients/{id}")))
            .bearer_auth(ADMIN_SECRET)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.body);
    r.body["client_secret"].as_str().map(String::from)
}

fn rp_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Rp {
    client: openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    http: reqwest::Client,
}

async fn relying_party(t: &TestApp, id: &str, secret: Option<String>) -> Rp {
    let http = rp_http();
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(t.app().base_url()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(id.into()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    Rp { client, http }
}

/// What came back to the redirect URI.
struct Callback {
    params: HashMap<String, String>,
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

/// Plays the browser: follows the sign-in flow through the login page (and
/// the consent page when `consent` is set) until the redirect to the client.
async fn browse(
    t: &TestApp,
    browser: &reqwest::Client,
    start: &str,
    user: &str,
    consent: bool,
) -> Callback {
    let mut next = start.to_string();
    for _ in 0..10 {
        let url = if next.starts_with('/') {
            t.url(&next)
        } else {
            next.clone()
        };
        if url.starts_with("http://localhost:9/") {
            return Callback {
                params: query_of(&url),
            };
        }
        let resp = browser.get(&url).send().await.unwrap();
        if resp.status().is_redirection() {
            next = location(&resp);
            continue;
        }
        let status = resp.status();
        let page = resp.text().await.unwrap();
        if url.contains("/login?") {
            let return_to = query_of(&url).get("return_to").cloned().unwrap();
            let csrf = common::csrf_of(browser, t, "/login").await;
            let resp = browser
                .post(t.url("/login"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("username", user),
                    ("password", PASSWORD),
                    ("return_to", &return_to),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "login failed");
            next = location(&resp);
            continue;
        }
        if consent && page.contains("name=\"consent\"") {
            let mut form = hidden_fields(&page);
            form.push(("consent".into(), "approve".into()));
            let resp = browser
                .post(t.url("/oidc/authorize"))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_redirection(), "consent not accepted");
            next = location(&resp);
            continue;
        }
        panic!("flow stopped at {url} with {status}: {page}");
    }
    panic!("too many redirects");
}

fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let re = regex::Regex::new(r#"<input type="hidden" name="([^"]*)" value="([^"]*)">"#).unwrap();
    re.captures_iter(page)
        .map(|c| (unescape(&c[1]), unescape(&c[2])))
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn token_post(
    t: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> common::Reply {
    let mut req = rp_http().post(t.url("/oidc/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    common::read(req.send().await.unwrap()).await
}

async fn userinfo(t: &TestApp, access_token: &str) -> common::Reply {
    common::read(
        rp_http()
            .get(t.url("/oidc/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The whole life of a sign-in, for one signing algorithm: discovery,
/// authorize with login, code exchange with PKCE, ID token verified against
/// the JWKS, userinfo, refresh with rotation and reuse detection, logout.
async fn full_flow(alg: &str, jws: CoreJwsSigningAlgorithm) {
    let mut t = common::start_provider(HashMap::new()).await;
    assert_eq!(t.register("alice").await.status, StatusCode::CREATED);
    member::grant(&t, "alice", "cloud", "2099-01-01").await;
    let secret = add_client(
        &t,
        "cloud",
        json!({"redirect_uris": [REDIRECT], "post_logout_redirect_uris": [AFTER_LOGOUT],
               "signing_alg": alg, "first_party": true, "required_permission": "cloud"}),
    )
    .await
    .unwrap();
    t.secrets.push(secret.clone());
    let rp = relying_party(&t, "cloud", Some(secret.clone())).await;

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = rp
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("groups".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = common::browser();
    let cb = browse(&t, &browser, auth_url.as_str(), "alice", false).await;
    assert_eq!(cb.params["state"], *state.secret());
    assert_eq!(cb.params["iss"], t.app().base_url(), "RFC 9207 iss");
    let code = cb.params["code"].clone();

    let tokens = rp
        .client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp.http)
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    // the signing key was made at this first exchange, after the relying
    // party read the JWKS: like a real one, it fetches the JWKS again for
    // the unknown key id
    let rp = relying_party(&t, "cloud", Some(secret.clone())).await;
    let verifier = rp.client.id_token_verifier().set_allowed_algs(vec![jws]);
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    let expected_hash = claims.access_token_hash().unwrap();
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(*expected_hash, actual);
    assert_ne!(
        claims.subject().as_str(),
        "alice",
        "sub must not be the username"
    );
    assert_eq!(claims.preferred_username().unwrap().as_str(), "alice");
    assert!(claims.auth_time().is_some());

    let raw = payload(&id_token.to_string());
    assert_eq!(raw["groups"], json!(["cloud", "member"]));
    assert_eq!(raw["amr"], json!(["pwd"]));
    assert!(raw["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        raw.get("email").is_none(),
        "no e-mail was given, none is claimed"
    );
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.to_string().split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], alg);
    assert!(header["kid"].as_str().is_some());

    // userinfo: the same claims
    let info = userinfo(&t, tokens.access_token().secret()).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    assert_eq!(info.body["sub"], claims.subject().as_str());
    assert_eq!(info.body["preferred_username"], "alice");
    assert_eq!(info.body["groups"], raw["groups"]);
    let lib_info: openidconnect::core::CoreUserInfoClaims = rp
        .client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&rp.http)
        .await
        .unwrap();
    assert_eq!(lib_info.preferred_username().unwrap().as_str(), "alice");

    // refresh rotates; the rotated token cannot be used again
    let first_refresh = tokens.refresh_token().unwrap().clone();
    let refreshed = rp
        .client
        .exchange_refresh_token(&first_refresh)
        .unwrap()
        .request_async(&rp.http)
        .await
        .unwrap();
    let second_refresh = refreshed.refresh_token().unwrap().clone();
    assert_ne!(first_refresh.secret(), second_refresh.secret());
    assert_eq!(
        userinfo(&t, refreshed.access_token().secret()).await.status,
        StatusCode::OK
    );

    // logout with id_token_hint and a registered post-logout URI
    let logout = format!(
        "/oidc/logout?id_token_hint={}&post_logout_redirect_uri={}&state=bye-state",
        id_token, AFTER_LOGOUT
    );
    let resp = browser.get(t.url(&logout)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(location(&resp), format!("{AFTER_LOGOUT}?state=bye-state"));
    let s = common::read(browser.get(t.url("/api/session")).send().await.unwrap()).await;
    assert_eq!(
        s.status,
        StatusCode::UNAUTHORIZED,
        "the session must be over"
    );

    for tok in [
        first_refresh.secret(),
        second_refresh.secret(),
        tokens.access_token().secret(),
    ] {
        t.secrets.push(tok.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_with_rs256() {
    full_flow("RS256", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_with_es256() {
    full_flow("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_with_eddsa() {
    full_flow("EdDSA", CoreJwsSigningAlgorithm::EdDsa).await;
}

/// Sets up alice, a first-party ES256 client `app`, and returns its secret
/// and a code with its PKCE verifier.
async fn code_for(t: &TestApp, extra: Value) -> (String, String, String) {
    if t.kv().get("accounts", "user:alice").unwrap().is_none() {
        assert_eq!(t.register("alice").await.status, StatusCode::CREATED);
    }
    let mut body =
        json!({"redirect_uris": [REDIRECT], "signing_alg": "ES256", "first_party": true});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let secret = add_client(t, "app", body).await.unwrap_or_default();
    let verifier = PkceCodeVerifier::new("v".repeat(50));
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    let url = format!(
        "/oidc/authorize?response_type=code&client_id=app&redirect_uri={REDIRECT}&scope=openid&state=s1&code_challenge={}&code_challenge_method=S256",
        challenge.as_str()
    );
    let cb = browse(t, &common::browser(), &url, "alice", true).await;
    (secret, cb.params["code"].clone(), verifier.secret().clone())
}

/// Exchanges a code from [`code_for`] with the confidential client `app`.
async fn first_exchange(t: &TestApp, secret: &str, code: &str, verifier: &str) -> common::Reply {
    token_post(
        t,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
        Some(("app", secret)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_redirect_uri_gets_an_error_page_never_a_redirect() {
    let t = common::start_provider(HashMap::new()).await;
    add_client(&t, "app", json!({"redirect_uris": [REDIRECT]})).await;
    for uri in [
        "http://localhost:9/other",
        "http://localhost:9/callback/",
        "http://evil.example/callback",
    ] {
        let r = common::browser()
            .get(t.url(&format!(
                "/oidc/authorize?response_type=code&client_id=app&redirect_uri={uri}&scope=openid"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(r.headers().get("location").is_none());
    }
    let r = common::browser()
        .get(t.url(&format!("/oidc/authorize?response_type=code&client_id=nope&redirect_uri={REDIRECT}&scope=openid")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_none_without_a_session_redirects_login_required_with_state_and_iss() {
    let t = common::start_provider(HashMap::new()).await;
    add_client(
        &t,
        "app",
        json!({"redirect_uris": [REDIRECT], "first_party": true}),
    )
    .await;
    let r = common::browser()
        .get(t.url(&format!(
            "/oidc/authorize?response_type=code&client_id=app&redirect_uri={REDIRECT}&scope=openid&state=xyz&prompt=none"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let q = query_of(&location(&r));
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "xyz");
    assert_eq!(q["iss"], t.app().base_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_mismatch_wrong_secret_and_code_replay_are_refused() {
    let mut t = common::start_provider(HashMap::new()).await;
    let (secret, code, verifier) = code_for(&t, json!({})).await;
    t.secrets.push(secret.clone());

    // wrong client secret
    let r = token_post(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
        Some(("app", "wrong-secret-wrong-secret-wrong-secret")),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "invalid_client");
    assert!(r.headers.get("www-authenticate").is_some());

    // PKCE mismatch
    let r = token_post(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &"w".repeat(50)),
        ],
        Some(("app", &secret)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_grant");

    // redirect URI mismatch at the token endpoint
    let r = token_post(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:9/x"),
            ("code_verifier", &verifier),
        ],
        Some(("app", &secret)),
    )
    .await;
    assert_eq!(r.error_code(), "invalid_grant");

    // the right exchange (client_secret_post this time) works once ...
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("client_id", "app"),
        ("client_secret", secret.as_str()),
    ];
    let first = token_post(&t, &form, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.headers["cache-control"], "no-store");
    let access = first.body["access_token"].as_str().unwrap().to_string();
    let refresh = first.body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(&t, &access).await.status, StatusCode::OK);

    // ... a replay fails and revokes what the first exchange issued
    let replay = token_post(&t, &form, None).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.error_code(), "invalid_grant");
    assert_eq!(userinfo(&t, &access).await.status, StatusCode::UNAUTHORIZED);
    let r = token_post(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some(("app", &secret)),
    )
    .await;
    assert_eq!(r.error_code(), "invalid_grant");
    t.secrets.extend([access, refresh]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_code_is_rejected() {
    let vars = HashMap::from([("oidc_code_seconds".to_string(), "1".to_string())]);
    let mut t = common::start_provider(vars).await;
    let (secret, code, verifier) = code_for(&t, json!({})).await;
    t.secrets.push(secret.clone());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = token_post(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
        Some(("app", &secret)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_reuse_revokes_the_whole_family() {
    let mut t = common::start_provider(HashMap::new()).await;
    let (secret, code, verifier) = code_for(&t, json!({})).await;
    t.secrets.push(secret.clone());
    let auth = Some(("app", secret.as_str()));
    let first = first_exchange(&t, &secret, &code, &verifier).await;
    let r1 = first.body["refresh_token"].as_str().unwrap().to_string();
    let second = token_post(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
        auth,
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let r2 = second.body["refresh_token"].as_str().unwrap().to_string();
    let a2 = second.body["access_token"].as_str().unwrap().to_string();

    // an attacker replays r1: refused, and the legitimate r2 dies with it
    let reuse = token_post(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
        auth,
    )
    .await;
    assert_eq!(reuse.error_code(), "invalid_grant");
    let after = token_post(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
        auth,
    )
    .await;
    assert_eq!(after.error_code(), "invalid_grant");
    assert_eq!(userinfo(&t, &a2).await.status, StatusCode::UNAUTHORIZED);
    t.secrets.extend([r1, r2, a2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exchanges_of_one_code_have_exactly_one_winner() {
    let mut t = common::start_provider(HashMap::new()).await;
    let (secret, code, verifier) = code_for(&t, json!({})).await;
    t.secrets.push(secret.clone());
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = t.url("/oidc/token");
        let form = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".into(), code.clone()),
            ("redirect_uri".into(), REDIRECT.into()),
            ("code_verifier".into(), verifier.clone()),
        ];
        let secret = secret.clone();
        tasks.push(tokio::spawn(async move {
            rp_http()
                .post(url)
                .basic_auth("app", Some(secret))
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let status = task.await.unwrap();
        if status == StatusCode::OK {
            ok += 1;
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST);
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_expired_permission_denies_with_a_page_naming_it() {
    let t = common::start_provider(HashMap::new()).await;
    assert_eq!(t.register("bob").await.status, StatusCode::CREATED);
    add_client(
        &t,
        "wiki",
        json!({"redirect_uris": [REDIRECT], "first_party": true, "required_permission": "wiki"}),
    )
    .await;
    let url = format!("/oidc/authorize?response_type=code&client_id=wiki&redirect_uri={REDIRECT}&scope=openid&state=st");
    let browser = common::browser();

    // log in through the flow; the permission is missing
    let resp = browser.get(t.url(&url)).send().await.unwrap();
    let login = location(&resp);
    let return_to = query_of(&t.url(&login))["return_to"].clone();
    let csrf = common::csrf_of(&browser, &t, &login).await;
    let resp = browser
        .post(t.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "bob"),
            ("password", PASSWORD),
            ("return_to", &return_to),
        ])
        .send()
        .await
        .unwrap();
    let back = location(&resp);
    let denied = browser.get(t.url(&back)).send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let page = denied.text().await.unwrap();
    assert!(
        page.contains("<strong>wiki</strong>") && page.contains("redeem"),
        "{page}"
    );
    assert!(page.contains("error=access_denied"));

    // an expired permission is no better
    member::grant(&t, "bob", "wiki", "2001-01-01").await;
    assert_eq!(
        browser.get(t.url(&back)).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let none = browser
        .get(t.url(&format!("{url}&prompt=none")))
        .send()
        .await
        .unwrap();
    assert_eq!(query_of(&location(&none))["error"], "access_denied");

    // a current one lets the member in
    member::grant(&t, "bob", "wiki", "2099-01-01").await;
    let ok = browser.get(t.url(&back)).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::FOUND);
    assert!(query_of(&location(&ok)).contains_key("code"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_clients_ask_for_consent_once_and_a_refusal_is_access_denied() {
    let t = common::start_provider(HashMap::new()).await;
    t.register("carol").await;
    add_client(&t, "forge", json!({"redirect_uris": [REDIRECT]})).await;
    let url = format!("/oidc/authorize?response_type=code&client_id=forge&redirect_uri={REDIRECT}&scope=openid%20profile&state=st");
    let browser = common::browser();
    let cb = browse(&t, &browser, &url, "carol", true).await;
    assert!(cb.params.contains_key("code"));
    // remembered: straight to the code
    let again = browser.get(t.url(&url)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::FOUND);
    assert!(query_of(&location(&again)).contains_key("code"));
    // prompt=consent asks again; denying gives access_denied
    let page = browser
        .get(t.url(&format!("{url}&prompt=consent")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_fields(&page);
    form.push(("consent".into(), "deny".into()));
    let denied = browser
        .post(t.url("/oidc/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(query_of(&location(&denied))["error"], "access_denied");
    // a forged consent post without the session's token is refused
    let forged: Vec<(String, String)> = form.into_iter().filter(|(k, _)| k != "csrf").collect();
    let r = browser
        .post(t.url("/oidc/authorize"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_clients_must_use_pkce_and_authenticate_with_none() {
    let t = common::start_provider(HashMap::new()).await;
    t.register("dave").await;
    add_client(
        &t,
        "spa",
        json!({"redirect_uris": [REDIRECT], "public": true, "first_party": true}),
    )
    .await;
    let browser = common::browser();
    let no_pkce = format!(
        "/oidc/authorize?response_type=code&client_id=spa&redirect_uri={REDIRECT}&scope=openid"
    );
    let r = browser.get(t.url(&no_pkce)).send().await.unwrap();
    assert_eq!(query_of(&location(&r))["error"], "invalid_request");

    let verifier = PkceCodeVerifier::new("p".repeat(64));
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    let url = format!(
        "{no_pkce}&code_challenge={}&code_challenge_method=S256",
        challenge.as_str()
    );
    let cb = browse(&t, &browser, &url, "dave", false).await;
    let r = token_post(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb.params["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
            ("client_id", "spa"),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_keeps_outstanding_tokens_valid() {
    let vars = HashMap::from([
        ("signing_key_rotate_seconds".to_string(), "2".to_string()),
        (
            "signing_key_publish_lead_seconds".to_string(),
            "1".to_string(),
        ),
    ]);
    let mut t = common::start_provider(vars).await;
    let (secret, code, verifier) = code_for(&t, json!({})).await;
    t.secrets.push(secret.clone());
    let auth = Some(("app", secret.as_str()));
    let first = first_exchange(&t, &secret, &code, &verifier).await;
    let old_id_token = first.body["id_token"].as_str().unwrap().to_string();
    let old_access = first.body["access_token"].as_str().unwrap().to_string();
    let kid = |jwt: &str| -> String {
        let h: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_string()
    };
    let old_kid = kid(&old_id_token);

    // due: the next key is published but the old one still signs
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut refresh = first.body["refresh_token"].as_str().unwrap().to_string();
    let r = token_post(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        auth,
    )
    .await;
    assert_eq!(kid(r.body["id_token"].as_str().unwrap()), old_kid);
    refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    let jwks = common::read(rp_http().get(t.url("/oidc/jwks")).send().await.unwrap()).await;
    assert_eq!(
        jwks.body["keys"].as_array().unwrap().len(),
        2,
        "new key published before use"
    );

    // after the lead time the new key signs
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = token_post(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        auth,
    )
    .await;
    let new_id_token = r.body["id_token"].as_str().unwrap().to_string();
    assert_ne!(kid(&new_id_token), old_kid);

    // the old tokens still verify: the old key is still published
    let jwks = common::read(rp_http().get(t.url("/oidc/jwks")).send().await.unwrap()).await;
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&old_kid.as_str()));
    assert_eq!(userinfo(&t, &old_access).await.status, StatusCode::OK);
    let rp = relying_party(&t, "app", Some(secret.clone())).await;
    let parsed: openidconnect::core::CoreIdToken = old_id_token.parse().unwrap();
    let verifier = rp
        .client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    parsed
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .unwrap();
    t.secrets.extend([old_access, refresh]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_needs_the_secret() {
    let t = common::start_provider(HashMap::new()).await;
    let r = common::read(
        t.http
            .put(t.url("/admin/clients/x"))
            .bearer_auth("not-the-secret")
            .json(&json!({"redirect_uris": [REDIRECT]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(t.store_text().is_empty());
    let r = common::read(t.http.get(t.url("/admin/clients")).send().await.unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// A stand-in relying party's back-channel endpoint: accepts one request on
/// 127.0.0.1 and hands over its body.
async fn one_post(listener: tokio::net::TcpListener) -> String {
    use tokio::io::AsyncWriteExt;
    let (mut sock, _) = listener.accept().await.unwrap();
    let (_, body) = common::read_request(&mut sock)
        .await
        .expect("connection closed early");
    sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_sends_a_backchannel_logout_token_to_clients_of_the_session() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let vars = HashMap::from([(
        "backchannel_logout_hosts".to_string(),
        format!("http://127.0.0.1:{port}"),
    )]);
    let mut t = common::start_provider(vars).await;
    // the logout URI names this machine's address; it is the relying party's, not a client's
    t.secrets.retain(|s| s != "127.0.0.1");
    t.register("erin").await;
    let receiver = tokio::spawn(tokio::time::timeout(
        Duration::from_secs(30),
        one_post(listener),
    ));
    let secret = add_client(
        &t,
        "chat",
        json!({"redirect_uris": [REDIRECT], "first_party": true, "signing_alg": "EdDSA",
               "backchannel_logout_uri": format!("http://127.0.0.1:{port}/backchannel")}),
    )
    .await
    .unwrap();
    t.secrets.push(secret.clone());
    let browser = common::browser();
    let url = format!(
        "/oidc/authorize?response_type=code&client_id=chat&redirect_uri={REDIRECT}&scope=openid"
    );
    let cb = browse(&t, &browser, &url, "erin", false).await;
    let tokens = token_post(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb.params["code"]),
            ("redirect_uri", REDIRECT),
        ],
        Some(("chat", &secret)),
    )
    .await;
    let id_token = tokens.body["id_token"].as_str().unwrap().to_string();
    let sid = payload(&id_token)["sid"].as_str().unwrap().to_string();
    let dump = t.kv().dump();
    assert!(
        dump["oidc"]
            .keys()
            .any(|k| k.starts_with(&format!("rp:{sid}:chat"))),
        "the exchange must note the signed-in client: {:?}",
        dump["oidc"].keys().collect::<Vec<_>>()
    );

    let resp = browser
        .get(t.url(&format!("/oidc/logout?id_token_hint={id_token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let body = receiver
        .await
        .unwrap()
        .expect("no back-channel logout within 30 s");
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let token = &form["logout_token"];
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "EdDSA");
    let claims = payload(token);
    assert_eq!(claims["sid"], sid);
    assert_eq!(claims["aud"], "chat");
    assert_eq!(claims["iss"], t.app().base_url());
    assert_eq!(claims["sub"], payload(&id_token)["sub"]);
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
    let jwks = common::read(rp_http().get(t.url("/oidc/jwks")).send().await.unwrap()).await;
    assert!(jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == header["kid"]));
    let outbound = t.app().outbound_log();
    assert!(
        outbound.iter().all(|o| o.component == "token"),
        "only token sends"
    );
}

async fn exchange(
    t: &TestApp,
    secret: &str,
    scope: &str,
    user: &str,
    browser: &reqwest::Client,
) -> Value {
    let verifier = PkceCodeVerifier::new("k".repeat(50));
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    let url = format!(
        "/oidc/authorize?response_type=code&client_id=app&redirect_uri={REDIRECT}&scope={scope}&code_challenge={}&code_challenge_method=S256",
        challenge.as_str()
    );
    let cb = browse(t, browser, &url, user, true).await;
    let r = token_post(
        t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb.params["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
        ],
        Some(("app", secret)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_grants_but_not_offline_ones() {
    let mut t = common::start_provider(HashMap::new()).await;
    t.register("fay").await;
    let secret = add_client(
        &t,
        "app",
        json!({"redirect_uris": [REDIRECT], "first_party": true, "signing_alg": "EdDSA"}),
    )
    .await
    .unwrap();
    t.secrets.push(secret.clone());
    let browser = common::browser();
    let online = exchange(&t, &secret, "openid", "fay", &browser).await;
    let offline = exchange(&t, &secret, "openid%20offline_access", "fay", &browser).await;
    let auth = Some(("app", secret.as_str()));

    let out = common::read(
        browser
            .post(t.url("/api/logout"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, StatusCode::OK);

    let access = online["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&t, access).await.status, StatusCode::UNAUTHORIZED);
    let r = token_post(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", online["refresh_token"].as_str().unwrap()),
        ],
        auth,
    )
    .await;
    assert_eq!(r.error_code(), "invalid_grant");

    let r = token_post(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", offline["refresh_token"].as_str().unwrap()),
        ],
        auth,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "offline_access outlives the session: {}",
        r.body
    );
    for v in [&online, &offline, &r.body] {
        for k in ["access_token", "refresh_token"] {
            t.secrets.push(v[k].as_str().unwrap().to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_client_made_again_does_not_inherit_old_grants() {
    let mut t = common::start_provider(HashMap::new()).await;
    t.register("gil").await;
    let secret = add_client(
        &t,
        "app",
        json!({"redirect_uris": [REDIRECT], "first_party": true, "signing_alg": "ES256"}),
    )
    .await
    .unwrap();
    let tokens = exchange(
        &t,
        &secret,
        "openid%20offline_access",
        "gil",
        &common::browser(),
    )
    .await;
    let r = common::read(
        t.http
            .delete(t.url("/admin/clients/app"))
            .bearer_auth(ADMIN_SECRET)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let again = add_client(&t, "app", json!({"redirect_uris": [REDIRECT], "first_party": true, "signing_alg": "ES256", "secret": secret})).await;
    assert_eq!(again.as_deref(), Some(secret.as_str()));
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&t, access).await.status, StatusCode::UNAUTHORIZED);
    let r = token_post(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
        Some(("app", &secret)),
    )
    .await;
    assert_eq!(r.error_code(), "invalid_grant");
    t.secrets.extend([
        secret,
        access.to_string(),
        tokens["refresh_token"].as_str().unwrap().to_string(),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrower_refresh_does_not_narrow_the_grant() {
    let mut t = common::start_provider(HashMap::new()).await;
    t.register("hal").await;
    let secret = add_client(
        &t,
        "app",
        json!({"redirect_uris": [REDIRECT], "first_party": true, "signing_alg": "EdDSA"}),
    )
    .await
    .unwrap();
    t.secrets.push(secret.clone());
    let tokens = exchange(&t, &secret, "openid%20profile", "hal", &common::browser()).await;
    let auth = Some(("app", secret.as_str()));
    let narrow = token_post(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("scope", "openid"),
        ],
        auth,
    )
    .await;
    assert_eq!(narrow.body["scope"], "openid");
    let wide = token_post(
        &t,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                narrow.body["refresh_token"].as_str().unwrap(),
            ),
            ("scope", "openid profile"),
        ],
        auth,
    )
    .await;
    assert_eq!(wide.status, StatusCode::OK, "{}", wide.body);
    assert_eq!(wide.body["scope"], "openid profile");
    for v in [&tokens, &narrow.body, &wide.body] {
        t.secrets
            .push(v["refresh_token"].as_str().unwrap().to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn somebody_elses_id_token_does_not_log_a_member_out_unasked() {
    let mut t = common::start_provider(HashMap::new()).await;
    t.register("ida").await;
    t.register("jon").await;
    let secret = add_client(
        &t,
        "app",
        json!({"redirect_uris": [REDIRECT], "first_party": true, "signing_alg": "EdDSA"}),
    )
    .await
    .unwrap();
    t.secrets.push(secret.clone());
    let jon = exchange(&t, &secret, "openid", "jon", &common::browser()).await;
    let ida_browser = common::browser();
    exchange(&t, &secret, "openid", "ida", &ida_browser).await;

    let hint = jon["id_token"].as_str().unwrap();
    let r = ida_browser
        .get(t.url(&format!("/oidc/logout?id_token_hint={hint}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.unwrap().contains("Log out?"));
    let s = common::read(ida_browser.get(t.url("/api/session")).send().await.unwrap()).await;
    assert_eq!(s.body["username"], "ida", "still logged in");
}
