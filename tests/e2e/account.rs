//! Account self-service through the real `account` and `login`
//! components: password change, the second factor at login (API and
//! page), data export and deletion.

use std::collections::HashMap;

use ausweis_tests::{Op, OpKind};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{self, PASSWORD};
use crate::member::{self, send, step_now, totp};

const NEW_PASSWORD: &str = "a completely new passphrase";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_needs_the_current_one_and_ends_other_sessions() {
    let mut t = common::start().await;
    t.secrets.push(NEW_PASSWORD.into());
    member::register(&t, "alice", None).await;
    let here = member::logged_in(&t, "alice", PASSWORD).await;
    let elsewhere = member::logged_in(&t, "alice", PASSWORD).await;
    let change = |current: &'static str, new: &'static str| {
        let (t, here) = (&t, &here);
        async move {
            send(
                t,
                here,
                Method::POST,
                "/api/account/password",
                Some(json!({"current_password": current, "new_password": new})),
            )
            .await
        }
    };

    let r = change("wrong horse battery", NEW_PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "invalid_credentials");
    let r = change(PASSWORD, "short").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "weak_password");
    let r = send(
        &t,
        &common::client(),
        Method::POST,
        "/api/account/password",
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = change(PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["other_sessions_ended"], 1);
    let ok = send(&t, &here, Method::GET, "/api/session", None).await;
    assert_eq!(ok.status, StatusCode::OK, "this session stays");
    let gone = send(&t, &elsewhere, Method::GET, "/api/session", None).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED, "the other one ends");
    assert_eq!(
        t.login("alice", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(t.login("alice", NEW_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_totp_login_needs_the_code_after_the_password() {
    let mut t = common::start().await;
    member::register(&t, "alice", None).await;
    let alice = member::logged_in(&t, "alice", PASSWORD).await;

    // enrolment: an otpauth URI, on only after a right code
    let r = send(&t, &alice, Method::POST, "/api/account/two-factor", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let uri = url::Url::parse(r.body["otpauth_uri"].as_str().unwrap()).unwrap();
    assert_eq!(uri.scheme(), "otpauth");
    assert_eq!(uri.host_str(), Some("totp"));
    assert_eq!(uri.path(), "/ausweis:alice");
    let q: HashMap<String, String> = uri.query_pairs().into_owned().collect();
    assert_eq!(q["secret"], secret);
    assert_eq!((q["digits"].as_str(), q["period"].as_str()), ("6", "30"));
    assert_eq!(q["algorithm"], "SHA1");
    let status = send(&t, &alice, Method::GET, "/api/account/two-factor", None).await;
    assert_eq!(status.body["enabled"], false);
    let wrong = (0..4)
        .map(|i| format!("{i:06}"))
        .find(|c| (0..3).all(|d| *c != totp(&secret, step_now() + d - 1)))
        .unwrap();
    let r = send(
        &t,
        &alice,
        Method::POST,
        "/api/account/two-factor/confirm",
        Some(json!({"code": wrong})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "invalid_code");
    let confirmed = step_now();
    let r = send(
        &t,
        &alice,
        Method::POST,
        "/api/account/two-factor/confirm",
        Some(json!({"code": totp(&secret, confirmed)})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let codes: Vec<String> = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    t.secrets.extend(codes.iter().cloned());
    let status = send(&t, &alice, Method::GET, "/api/account/two-factor", None).await;
    assert_eq!(status.body["enabled"], true);

    // the password alone gives no session
    let browser = common::browser();
    let sessions = |t: &common::TestApp| {
        t.kv().dump()["sessions"]
            .keys()
            .filter(|k| k.starts_with("session:"))
            .count()
    };
    let before = sessions(&t);
    // tokens the test sees, checked against stores and logs at the end
    let mut seen = Vec::new();
    let login = |c: &reqwest::Client| {
        let (t, c) = (&t, c.clone());
        async move {
            send(
                t,
                &c,
                Method::POST,
                "/api/login",
                Some(json!({"username": "alice", "password": PASSWORD})),
            )
            .await
        }
    };
    let r = login(&browser).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["authenticated"], false);
    assert_eq!(r.body["second_factor"], "totp");
    assert!(r.headers.get("set-cookie").is_none());
    let pending = r.body["pending"].as_str().unwrap().to_string();
    seen.push(pending.clone());
    let s = send(&t, &browser, Method::GET, "/api/session", None).await;
    assert_eq!(s.status, StatusCode::UNAUTHORIZED);
    assert_eq!(sessions(&t), before, "no session before the code");
    assert!(t.store_text().contains("sessions/pending:"));

    // the code step; the confirming step's code is used already
    let second = |pending: String, code: String| {
        let (t, browser) = (&t, browser.clone());
        async move {
            send(
                t,
                &browser,
                Method::POST,
                "/api/login/otp",
                Some(json!({"pending": pending, "code": code})),
            )
            .await
        }
    };
    let r = second(pending.clone(), totp(&secret, confirmed)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "replayed code");
    assert_eq!(r.error_code(), "invalid_code");
    let next = totp(&secret, confirmed + 1);
    let r = second(pending.clone(), next.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["authenticated"], true);
    assert_eq!(r.body["amr"], json!(["pwd", "otp"]));
    assert!(r.headers["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("ausweis_session="));
    let s = send(&t, &browser, Method::GET, "/api/session", None).await;
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(s.body["amr"], json!(["pwd", "otp"]));
    // the pending login is used up
    let r = second(pending.clone(), next.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "not_authenticated");

    // a new login cannot reuse the accepted code; a recovery code works once
    let other = common::browser();
    let p = login(&other).await.body["pending"]
        .as_str()
        .unwrap()
        .to_string();
    seen.push(p.clone());
    let r = second(p.clone(), next.clone()).await;
    assert_eq!(r.error_code(), "invalid_code");
    let r = second(p.clone(), codes[0].to_uppercase()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = login(&other).await.body["pending"]
        .as_str()
        .unwrap()
        .to_string();
    seen.push(p.clone());
    assert_eq!(
        second(p, codes[0].clone()).await.error_code(),
        "invalid_code"
    );
    let status = send(&t, &alice, Method::GET, "/api/account/two-factor", None).await;
    assert_eq!(status.body["recovery_codes_left"], 9);

    // the secret is kept only in the credentials store, and never logged
    let dump = t.kv().dump();
    for (store, entries) in &dump {
        for (key, value) in entries {
            let holds = String::from_utf8_lossy(value).contains(&secret);
            assert_eq!(
                holds,
                store == "credentials" && key.starts_with("totp:"),
                "{store}/{key}"
            );
        }
    }
    assert!(!t.app().guest_output().contains(&secret));

    // turning it off needs a code; afterwards the password suffices
    let r = send(
        &t,
        &alice,
        Method::DELETE,
        "/api/account/two-factor",
        Some(json!({"code": "nope"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(
        &t,
        &alice,
        Method::DELETE,
        "/api/account/two-factor",
        Some(json!({"code": codes[1]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = login(&common::browser()).await;
    assert_eq!(r.body["authenticated"], true);
    assert_eq!(r.body["amr"], json!(["pwd"]));
    assert!(!t.store_text().contains("totp:"));
    t.secrets.extend(seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_are_throttled_like_wrong_passwords() {
    let mut t = common::start().await;
    member::register(&t, "alice", None).await;
    let alice = member::logged_in(&t, "alice", PASSWORD).await;
    let (_, _, codes) = member::enable_totp(&t, &alice).await;
    t.secrets.extend(codes.iter().cloned());
    let browser = common::browser();
    let r = send(
        &t,
        &browser,
        Method::POST,
        "/api/login",
        Some(json!({"username": "alice", "password": PASSWORD})),
    )
    .await;
    let pending = r.body["pending"].as_str().unwrap().to_string();
    t.secrets.push(pending.clone());
    for _ in 0..5 {
        let r = send(
            &t,
            &browser,
            Method::POST,
            "/api/login/otp",
            Some(json!({"pending": pending, "code": "not-a-code"})),
        )
        .await;
        assert_eq!(r.error_code(), "invalid_code", "{}", r.body);
    }
    // five wrong codes: the pending login is gone and the name is locked
    let r = send(
        &t,
        &browser,
        Method::POST,
        "/api/login/otp",
        Some(json!({"pending": pending, "code": codes[0]})),
    )
    .await;
    assert_eq!(r.error_code(), "not_authenticated");
    let r = t.login("alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(!t.store_text().contains("pending:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_asks_for_the_code_as_a_second_step() {
    let mut t = common::start().await;
    member::register(&t, "alice", None).await;
    let alice = member::logged_in(&t, "alice", PASSWORD).await;
    let (secret, step, codes) = member::enable_totp(&t, &alice).await;
    t.secrets.extend(codes);

    let browser = common::browser();
    let return_to = "/oidc/authorize?client_id=x";
    let csrf = common::csrf_of(&browser, &t, "/login").await;
    let resp = browser
        .post(t.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
            ("return_to", return_to),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // no session yet: that comes after the code
    assert!(resp.headers().get("set-cookie").is_none());
    let page = resp.text().await.unwrap();
    assert!(page.contains("name=\"code\""), "{page}");
    let pending = regex::Regex::new(r#"name="pending" value="([A-Za-z0-9_-]{43})""#)
        .unwrap()
        .captures(&page)
        .unwrap()[1]
        .to_string();
    t.secrets.push(pending.clone());

    let resp = browser
        .post(t.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("pending", pending.as_str()),
            ("code", "000000x"),
            ("return_to", return_to),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.text().await.unwrap().contains("name=\"pending\""));

    let code = totp(&secret, step + 1);
    let resp = browser
        .post(t.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("pending", pending.as_str()),
            ("code", code.as_str()),
            ("return_to", return_to),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], return_to);
    assert!(resp.headers().get("set-cookie").is_some());
    let s = send(&t, &browser, Method::GET, "/api/session", None).await;
    assert_eq!(s.body["amr"], json!(["pwd", "otp"]));
}

/// Every stored key and value that names the member in any way.
pub(crate) fn traces(t: &common::TestApp, needles: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for (store, entries) in t.kv().dump() {
        for (key, value) in entries {
            let text = format!("{key} {}", String::from_utf8_lossy(&value));
            if needles.iter().any(|n| text.contains(n.as_str())) {
                found.push(format!("{store}/{key}"));
            }
        }
    }
    found
}

/// `digest_hex` of the domain crate: SHA-256 of domain, a zero byte, value.
fn digest(domain: &str, value: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(domain.as_bytes());
    h.update([0u8]);
    h.update(value.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_shows_everything_and_deletion_leaves_no_key_of_the_member() {
    let mut t = common::start_provider(HashMap::new()).await;
    member::register(&t, "alice", Some("alice@example.org")).await;
    let registered = member::register(&t, "bob", Some("bob@example.org")).await;
    let bob_key = registered.body["fingerprint"].as_str().unwrap().to_string();
    member::grant(&t, "alice", "cloud", "2099-12-31").await;
    let secret = member::add_client(&mut t, "cloud").await;
    let alice = member::logged_in(&t, "alice", PASSWORD).await;
    let bob = member::logged_in(&t, "bob", PASSWORD).await;
    let other_session = member::logged_in(&t, "alice", PASSWORD).await;
    send(
        &t,
        &alice,
        Method::PUT,
        "/api/profile/fields/name",
        Some(json!({"value": "Alice Liddell", "visibility": "public"})),
    )
    .await;
    let (_, _, codes) = member::enable_totp(&t, &alice).await;
    t.secrets.extend(codes.iter().cloned());
    let tokens = member::sign_in(&mut t, &alice, "cloud", &secret, "openid profile").await;
    member::sign_in(&mut t, &bob, "cloud", &secret, "openid").await;
    // a failed login leaves a throttle record keyed by the name's digest
    t.login("alice", "wrong horse battery").await;

    // export
    let r = send(&t, &alice, Method::GET, "/api/account/export", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let export = r.body.clone();
    let account_id = export["account"]["id"].as_str().unwrap().to_string();
    assert_eq!(export["account"]["username"], "alice");
    assert_eq!(export["account"]["email"], "alice@example.org");
    assert!(export["account"]["openpgp_public_key"]
        .as_str()
        .unwrap()
        .contains("BEGIN PGP PUBLIC KEY BLOCK"));
    assert_eq!(export["membership"]["member"], true);
    assert_eq!(export["membership"]["permissions"][0]["name"], "cloud");
    assert_eq!(export["profile"][0]["value"], "Alice Liddell");
    assert_eq!(export["two_factor"]["enabled"], true);
    assert_eq!(export["two_factor"]["recovery_codes_left"], 10);
    assert_eq!(export["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(export["openid_connect"]["grants"][0]["client_id"], "cloud");
    let text = export.to_string();
    for secret_part in ["$argon2id$", "recovery\":[", "PRIVATE KEY"] {
        assert!(!text.contains(secret_part), "{secret_part} exported");
    }
    assert!(!text.contains("bob"), "another member's data in the export");
    let fingerprint = export["account"]["openpgp_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();

    // deletion needs the password and, with the second factor on, a code
    let delete = |body: Value| {
        let (t, alice) = (&t, &alice);
        async move { send(t, alice, Method::DELETE, "/api/account", Some(body)).await }
    };
    let r = delete(json!({"password": "wrong horse battery", "code": codes[0]})).await;
    assert_eq!(r.error_code(), "invalid_credentials");
    let r = delete(json!({"password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "code_required");
    let r = delete(json!({"password": PASSWORD, "code": "00000000"})).await;
    assert_eq!(r.error_code(), "invalid_code");
    assert!(
        !traces(&t, std::slice::from_ref(&account_id)).is_empty(),
        "nothing deleted yet"
    );
    let r = delete(json!({"password": PASSWORD, "code": codes[0]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));

    // a scan of every store: nothing names alice, her id, address or key
    let sid = member::claims(tokens["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let fid = member::claims(tokens["access_token"].as_str().unwrap())["fid"]
        .as_str()
        .unwrap()
        .to_string();
    let needles = vec![
        account_id.clone(),
        "alice".to_string(),
        "Alice Liddell".to_string(),
        fingerprint.clone(),
        digest("throttle", "alice"),
        digest("email", "alice@example.org"),
        format!("sid:{sid}"),
        format!("revoked:{fid}"),
    ];
    let left = traces(&t, &needles);
    assert!(left.is_empty(), "left after deletion: {left:?}");
    let dump = t.kv().dump();
    let retired = format!("retired:{}", digest("retired", "alice"));
    assert!(
        dump["accounts"].contains_key(&retired),
        "the tombstone stays"
    );
    // bob is untouched
    assert!(!traces(&t, &[bob_key]).is_empty());
    let r = send(&t, &bob, Method::GET, "/api/profile", None).await;
    assert_eq!(r.status, StatusCode::OK);

    // sessions, tokens and the name are gone
    for c in [&alice, &other_session] {
        let s = send(&t, c, Method::GET, "/api/session", None).await;
        assert_eq!(s.status, StatusCode::UNAUTHORIZED);
    }
    let refreshed = common::read(
        reqwest::Client::new()
            .post(t.url("/oidc/token"))
            .basic_auth("cloud", Some(&secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::BAD_REQUEST);
    assert_eq!(refreshed.body["error"], "invalid_grant");
    let info = reqwest::Client::new()
        .get(t.url("/oidc/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.login("alice", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = t.register("alice").await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "a deleted name is not given out again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_fault_during_deletion_gives_503_and_a_retry_finishes() {
    let t = common::start().await;
    member::register(&t, "dora", Some("dora@example.org")).await;
    let dora = member::logged_in(&t, "dora", PASSWORD).await;
    t.kv().set_fault(Some(Box::new(|op: &Op| {
        op.kind == OpKind::Delete && op.key.as_deref().is_some_and(|k| k.starts_with("perm:"))
    })));
    let r = send(
        &t,
        &dora,
        Method::DELETE,
        "/api/account",
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.error_code(), "store_unavailable");
    t.kv().set_fault(None);
    // the session ended in the first attempt; log in again and retry
    let dora = member::logged_in(&t, "dora", PASSWORD).await;
    let r = send(
        &t,
        &dora,
        Method::DELETE,
        "/api/account",
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(traces(&t, &["dora".to_string()]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_routes_need_a_session_and_well_formed_input() {
    let t = common::start().await;
    member::register(&t, "erin", None).await;
    let anonymous = common::client();
    for (method, path) in [
        (Method::GET, "/api/account/export"),
        (Method::DELETE, "/api/account"),
        (Method::POST, "/api/account/two-factor"),
        (Method::GET, "/api/account/two-factor"),
    ] {
        let r = send(&t, &anonymous, method, path, Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let erin = member::logged_in(&t, "erin", PASSWORD).await;
    let before = t.store_text();
    let r = send(
        &t,
        &erin,
        Method::DELETE,
        "/api/account",
        Some(json!({"pw": "x"})),
    )
    .await;
    assert_eq!(r.error_code(), "unknown_field");
    let r = send(&t, &erin, Method::DELETE, "/api/account", None).await;
    assert_eq!(r.error_code(), "unsupported_content_type");
    let r = send(&t, &erin, Method::GET, "/api/account", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = send(
        &t,
        &erin,
        Method::POST,
        "/api/account/two-factor/confirm",
        Some(json!({"code": "123456"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "not_enrolled");
    let r = common::read(
        erin.delete(t.url("/api/account"))
            .header("origin", "https://evil.example")
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.error_code(), "cross_site_request");
    // only the session's idle time may have moved
    let strip = |s: &str| -> String { s.lines().filter(|l| !l.starts_with("sessions/")).collect() };
    assert_eq!(strip(&t.store_text()), strip(&before));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_can_release_a_name_left_claimed_without_an_account() {
    let t = common::start_provider(HashMap::new()).await;
    // what a crash between claiming the name and writing the record leaves
    t.kv()
        .set("accounts", "claim:erin", &1i64.to_le_bytes())
        .unwrap();
    assert_eq!(t.register("erin").await.status, StatusCode::CONFLICT);
    let release = || async {
        common::read(
            t.http
                .delete(t.url("/admin/users/erin/claim"))
                .bearer_auth(common::ADMIN_SECRET)
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let r = release().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(t.register("erin").await.status, StatusCode::CREATED);
    let r = release().await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "account_exists");
    let r = common::read(
        t.http
            .delete(t.url("/admin/users/erin/claim"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "only with the admin secret"
    );
}
