//! Account recovery through the real `account` component: with an OpenPGP
//! key made by GnuPG (a separate implementation) and by rpgp, and by a
//! mailed link through a mail relay double on 127.0.0.1.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{self, PASSWORD};
use crate::member::{self, send, RelayDouble, RELAY_TOKEN};

const NEW_PASSWORD: &str = "recovered passphrase here";

/// GnuPG in a throwaway home directory; its agent is stopped and the
/// directory removed when dropped.
pub(crate) struct Gpg {
    home: PathBuf,
}

impl Gpg {
    pub(crate) fn new(name: &str) -> Gpg {
        let home =
            std::env::temp_dir().join(format!("ausweis-e2e-gpg-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        Gpg { home }
    }

    pub(crate) fn run(&self, args: &[&str], input: Option<&str>) -> String {
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", &self.home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg is installed");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            if let Some(text) = input {
                stdin.write_all(text.as_bytes()).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Makes a key for `uid`: an Ed25519 primary key that signs, or one
    /// that only certifies with an Ed25519 signing subkey. Returns the
    /// armored public key.
    pub(crate) fn make_key(&self, uid: &str, signing_subkey: bool) -> String {
        let usage = if signing_subkey { "cert" } else { "sign" };
        self.run(&["--quick-gen-key", uid, "ed25519", usage, "1d"], None);
        if signing_subkey {
            let listing = self.run(&["--with-colons", "--list-keys", uid], None);
            let fpr = listing
                .lines()
                .find(|l| l.starts_with("fpr:"))
                .and_then(|l| l.split(':').nth(9))
                .unwrap()
                .to_string();
            self.run(&["--quick-add-key", &fpr, "ed25519", "sign", "1d"], None);
        }
        self.run(&["--armor", "--export", uid], None)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .output();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

async fn challenge(t: &common::TestApp, user: &str) -> String {
    let r = t
        .post(
            "/api/account/recovery/pgp/challenge",
            json!({"username": user}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["challenge"].as_str().unwrap().to_string()
}

async fn recover(t: &common::TestApp, body: Value) -> common::Reply {
    t.post("/api/account/recovery/pgp", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_with_a_gnupg_key_clearsigned_or_detached() {
    let mut t = common::start().await;
    t.secrets.push(NEW_PASSWORD.into());
    let gpg = Gpg::new("gina");
    let key = gpg.make_key("Gina <gina@example.org>", false);
    let r = t
        .post(
            "/api/register",
            json!({"username": "gina", "password": PASSWORD, "public_key": key}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.get("private_key").is_none());
    let session = member::logged_in(&t, "gina", PASSWORD).await;

    // gpg --clearsign
    let text = challenge(&t, "gina").await;
    assert!(text.contains("gina"), "{text}");
    let signed = gpg.run(&["--clearsign"], Some(&text));
    let r = recover(
        &t,
        json!({"signed_message": signed, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["username"], "gina");
    let s = send(&t, &session, Method::GET, "/api/session", None).await;
    assert_eq!(
        s.status,
        StatusCode::UNAUTHORIZED,
        "recovery ends all sessions"
    );
    assert_eq!(
        t.login("gina", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(t.login("gina", NEW_PASSWORD).await.status, StatusCode::OK);
    // the challenge works once
    let r = recover(
        &t,
        json!({"signed_message": signed, "new_password": "yet another passphrase"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "recovery_failed");

    // a key with a signing subkey, and a detached signature over the text
    // as a file written with a final line break holds it
    let gpg2 = Gpg::new("hana");
    let key = gpg2.make_key("Hana <hana@example.org>", true);
    let r = t
        .post(
            "/api/register",
            json!({"username": "hana", "password": PASSWORD, "public_key": key}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let text = challenge(&t, "hana").await;
    let signature = gpg2.run(&["--detach-sign", "--armor"], Some(&format!("{text}\n")));
    // gina's key cannot answer hana's challenge
    let foreign = gpg.run(&["--detach-sign", "--armor"], Some(&text));
    let r = recover(
        &t,
        json!({"signature": foreign, "challenge": text, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(r.error_code(), "recovery_failed");
    // half a proof is bad input
    let r = recover(
        &t,
        json!({"signature": signature, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(r.error_code(), "invalid_proof");
    let r = recover(
        &t,
        json!({"signature": signature, "challenge": text, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(t.login("hana", NEW_PASSWORD).await.status, StatusCode::OK);
}

pub(crate) fn rpgp_clearsign(private_armored: &str, password: &str, text: &str) -> String {
    use pgp::composed::{ArmorOptions, CleartextSignedMessage, Deserializable, SignedSecretKey};
    let (key, _) = SignedSecretKey::from_string(private_armored).unwrap();
    let pw: pgp::types::Password = password.into();
    CleartextSignedMessage::sign(rand::rngs::OsRng, text, &key.primary_key, &pw)
        .unwrap()
        .to_armored_string(ArmorOptions::default())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_with_the_rpgp_key_made_at_registration() {
    let mut t = common::start().await;
    t.secrets.push(NEW_PASSWORD.into());
    let r = member::register(&t, "ivan", None).await;
    let private = r.body["private_key"].as_str().unwrap().to_string();
    let other = member::register(&t, "judy", None).await.body["private_key"]
        .as_str()
        .unwrap()
        .to_string();

    // an unknown name gets a challenge of the same form
    let unknown = t
        .post(
            "/api/account/recovery/pgp/challenge",
            json!({"username": "nobody-here"}),
        )
        .await;
    let known = t
        .post(
            "/api/account/recovery/pgp/challenge",
            json!({"username": "ivan"}),
        )
        .await;
    assert_eq!(unknown.status, known.status);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&unknown.body), keys(&known.body));
    let signed = rpgp_clearsign(
        &other,
        PASSWORD,
        unknown.body["challenge"].as_str().unwrap(),
    );
    let r = recover(
        &t,
        json!({"signed_message": signed, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(r.error_code(), "recovery_failed");

    let text = known.body["challenge"].as_str().unwrap();
    // another member's key, a weak password, then an expired challenge
    let by_judy = rpgp_clearsign(&other, PASSWORD, text);
    let r = recover(
        &t,
        json!({"signed_message": by_judy, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let signed = rpgp_clearsign(&private, PASSWORD, text);
    let r = recover(
        &t,
        json!({"signed_message": signed, "new_password": "short"}),
    )
    .await;
    assert_eq!(r.error_code(), "weak_password");
    let r = recover(
        &t,
        json!({"signed_message": signed, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(t.login("ivan", NEW_PASSWORD).await.status, StatusCode::OK);

    let text = challenge(&t, "ivan").await;
    let kv = t.kv();
    for (key, value) in kv.dump()["sessions"].clone() {
        if key.starts_with("challenge:") {
            let mut record: Value = serde_json::from_slice(&value).unwrap();
            record["exp"] = json!(1);
            kv.set("sessions", &key, &serde_json::to_vec(&record).unwrap())
                .unwrap();
        }
    }
    // the private key stays protected with the password it was made with
    let signed = rpgp_clearsign(&private, PASSWORD, &text);
    let r = recover(
        &t,
        json!({"signed_message": signed, "new_password": "third passphrase ok"}),
    )
    .await;
    assert_eq!(r.error_code(), "recovery_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailed_link_sets_a_new_password_once_and_unknown_addresses_look_the_same() {
    let relay = RelayDouble::start(202).await;
    let mut t = common::start_with(relay.variables(), None).await;
    t.secrets.push(NEW_PASSWORD.into());
    t.secrets.push(RELAY_TOKEN.into());
    member::register(&t, "kim", Some("Kim@Example.org")).await;
    member::register(&t, "lou", None).await;
    let session = member::logged_in(&t, "kim", PASSWORD).await;

    let unknown = t
        .post(
            "/api/account/recovery/email",
            json!({"email": "nobody@example.org"}),
        )
        .await;
    assert!(relay.received().is_empty());
    let known = t
        .post(
            "/api/account/recovery/email",
            json!({"email": "kim@example.ORG"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!((unknown.status, &unknown.body), (known.status, &known.body));
    let mails = relay.received();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.head.starts_with("post /send "), "{}", mail.head);
    assert!(mail.head.contains("content-type: application/json"));
    assert!(mail
        .head
        .contains(&format!("authorization: bearer {RELAY_TOKEN}")));
    assert_eq!(mail.body["to"], "Kim@example.org");
    assert!(mail.body["subject"].as_str().unwrap().contains("kim"));
    let text = mail.body["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/account/recover?token="))
        .unwrap();
    let token = link.split("token=").nth(1).unwrap().to_string();
    t.secrets.push(token.clone());

    // opening the link shows a form and uses nothing up
    let path = &link[link.find("/account/recover").unwrap()..];
    for _ in 0..2 {
        let page = t.http.get(t.url(path)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("name=\"new_password\"") && html.contains(&token));
    }
    // the form sets the password, once
    let csrf = common::csrf_of(&t.http, &t, path).await;
    let form = [
        ("csrf", csrf.as_str()),
        ("token", token.as_str()),
        ("new_password", NEW_PASSWORD),
    ];
    let done = t
        .http
        .post(t.url("/account/recover"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let again = t
        .http
        .post(t.url("/account/recover"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    let r = t
        .post(
            "/api/account/recovery/email/confirm",
            json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.error_code(), "recovery_failed");
    let s = send(&t, &session, Method::GET, "/api/session", None).await;
    assert_eq!(
        s.status,
        StatusCode::UNAUTHORIZED,
        "recovery ends all sessions"
    );
    assert_eq!(t.login("kim", NEW_PASSWORD).await.status, StatusCode::OK);
    assert!(!t.store_text().contains("sessions/recover:"));

    // the JSON route does the same
    t.post(
        "/api/account/recovery/email",
        json!({"email": "kim@example.org"}),
    )
    .await;
    let mails = relay.received();
    let text = mails[1].body["text"].as_str().unwrap();
    let token = text
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    t.secrets.push(token.clone());
    let r = t
        .post(
            "/api/account/recovery/email/confirm",
            json!({"token": token, "new_password": "fourth passphrase ok"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["username"], "kim");

    // only the account component talks to the relay, and only to it
    let outbound = t.app().outbound_log();
    assert!(!outbound.is_empty());
    for o in outbound {
        assert_eq!(o.component, "account");
        assert!(o.allowed);
        assert_eq!(o.origin, format!("http://127.0.0.1:{}", relay.port));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_relay_or_none_at_all_gives_away_nothing() {
    let relay = RelayDouble::start(500).await;
    let t = common::start_with(relay.variables(), None).await;
    member::register(&t, "max", Some("max@example.org")).await;
    let known = t
        .post(
            "/api/account/recovery/email",
            json!({"email": "max@example.org"}),
        )
        .await;
    let unknown = t
        .post(
            "/api/account/recovery/email",
            json!({"email": "min@example.org"}),
        )
        .await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!(known.body, unknown.body);
    assert_eq!(relay.received().len(), 1);
    assert!(
        !t.store_text().contains("recover:"),
        "an unsent link must not stay"
    );
    let bad = t
        .post(
            "/api/account/recovery/email",
            json!({"email": "no address"}),
        )
        .await;
    assert_eq!(bad.error_code(), "invalid_email");

    // after five requests for one address the next ones must wait, known
    // or not (the wait doubles from 1 s, so one of these meets it)
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = t
            .post(
                "/api/account/recovery/email",
                json!({"email": "min@example.org"}),
            )
            .await;
        statuses.push(r.status);
    }
    assert!(
        statuses[..3].iter().all(|s| *s == StatusCode::ACCEPTED),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    drop(t);

    let t = common::start_with(HashMap::new(), None).await;
    let r = t
        .post(
            "/api/account/recovery/email",
            json!({"email": "max@example.org"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "mail_recovery_disabled");
}
