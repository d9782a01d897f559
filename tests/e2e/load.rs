//! The load run of `bench --load`, scaled down: concurrent registrations,
//! logins and refreshes on SQLite stores, then every invariant.

use std::collections::HashMap;
use std::time::Duration;

use ausweis_tests::load::{self, LoadPlan};
use ausweis_tests::KvBackend;

use crate::common::{self, ADMIN_SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_logins_and_refreshes_leave_consistent_stores() {
    let dir = std::env::temp_dir().join(format!("ausweis-e2e-load-{}", std::process::id()));
    let kv = KvBackend::open_dir(&dir).expect("SQLite store");
    let t = common::start_provider_on(HashMap::new(), Some(kv)).await;
    let plan = LoadPlan {
        registrations: 50,
        logins: 300,
        refreshes: 300,
        clients: 8,
        refresh_alg: "EdDSA".into(),
        phase_limit: Duration::from_secs(180),
        admin_secret: ADMIN_SECRET.into(),
    };
    let report = load::run(t.app(), &plan).await.expect("load run");
    let server_errors: u64 = report.phases.iter().map(|p| p.server_errors()).sum();
    assert_eq!(server_errors, 0, "{}", report.to_json());
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    let mut secrets = t.secrets.clone();
    secrets.extend(report.secrets.iter().cloned());
    let problems = ausweis_tests::invariants::check_app_at_rest(
        t.app(),
        &ausweis_tests::repo_root(),
        &secrets,
    )
    .expect("checks");
    assert!(problems.is_empty(), "{problems:#?}");
    let dump = t.kv().dump();
    let accounts = dump["accounts"]
        .keys()
        .filter(|k| k.starts_with("user:"))
        .count();
    assert_eq!(accounts, 50);
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}
