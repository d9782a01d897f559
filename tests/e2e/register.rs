//! Registration through the real `register` component.

use std::collections::HashMap;

use ausweis_tests::{CasMode, KvBackend};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{self, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_returns_public_key_and_private_key_once() {
    let t = common::start().await;
    let r = t.register("Alice").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["username"], "alice");
    let public = r.body["public_key"].as_str().unwrap();
    assert!(public.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let private = r.body["private_key"].as_str().unwrap();
    assert!(private.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    assert_eq!(r.headers["cache-control"], "no-store");

    // the private key is protected with the member's password and carries
    // the configured user id
    let (key, _) =
        <pgp::composed::SignedSecretKey as pgp::composed::Deserializable>::from_string(private)
            .unwrap();
    assert!(key.primary_key.secret_params().is_encrypted());
    assert!(key
        .primary_key
        .unlock(&PASSWORD.into(), |_, _| Ok(()))
        .unwrap()
        .is_ok());
    let uid = String::from_utf8_lossy(key.details.users[0].id.id()).to_string();
    assert_eq!(uid, "alice@ausweis.localhost");

    // the store has the public key but neither the private key nor the password
    let stored = t.store_text();
    assert!(stored.contains("BEGIN PGP PUBLIC KEY BLOCK"));
    assert!(!stored.contains("PRIVATE KEY"));
    assert!(!stored.contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_public_key_from_gnupg_is_kept_and_no_private_key_is_made() {
    let t = common::start().await;
    let armored = include_str!("../../crates/ausweis/tests/fixtures/public-key.asc");
    let r = t
        .post(
            "/api/register",
            json!({"username": "bob", "password": PASSWORD, "public_key": armored, "email": "Bob@Example.org"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.get("private_key").is_none());
    assert_eq!(
        r.body["fingerprint"].as_str().unwrap().to_uppercase(),
        "F725B3CC83CEC5A203FD9B68BAFFACF358D8E9EC"
    );
    assert!(t.store_text().contains("Bob@example.org"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_username_gets_409_also_in_another_spelling() {
    let t = common::start().await;
    assert_eq!(t.register("carol").await.status, StatusCode::CREATED);
    let again = t.register("CAROL").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "username_taken");
    let dump = t.kv().dump();
    assert_eq!(dump["credentials"].len(), 1, "a loser left a credential");
}

/// Several app instances over one store, as with several Spin instances on
/// one Redis: of concurrent registrations of one name exactly one wins. The
/// store follows Spin's SQLite semantics, whose compare-and-swap does not
/// compare when the key was absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_one_name_on_two_instances_leave_one_account() {
    const N: usize = 8;
    let kv = KvBackend::in_memory().unwrap();
    kv.set_cas_mode(CasMode::SpinSqlite);
    let a = common::start_with(HashMap::new(), Some(kv.clone())).await;
    let b = common::start_with(HashMap::new(), Some(kv.clone())).await;

    let mut tasks = Vec::new();
    for i in 0..N {
        let url = if i % 2 == 0 {
            a.url("/api/register")
        } else {
            b.url("/api/register")
        };
        let http = common::client();
        tasks.push(tokio::spawn(async move {
            let body = json!({"username": "dora", "password": format!("{PASSWORD} {i}")});
            http.post(url).json(&body).send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, N - 1), "{statuses:?}");

    let dump = kv.dump();
    let accounts: Vec<_> = dump["accounts"]
        .keys()
        .filter(|k| k.starts_with("user:"))
        .collect();
    assert_eq!(accounts, vec!["user:dora"]);
    assert_eq!(
        dump["credentials"].len(),
        1,
        "losers left credentials behind"
    );

    // the one stored password is the winner's, not a loser's
    let winner = statuses
        .iter()
        .position(|s| *s == StatusCode::CREATED)
        .unwrap();
    let loser = (winner + 1) % N;
    let r = b.login("dora", &format!("{PASSWORD} {loser}")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = a.login("dora", &format!("{PASSWORD} {winner}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
