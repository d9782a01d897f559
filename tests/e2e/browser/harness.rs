//! The harness checks itself: a console check that saw nothing would pass
//! every page.

use std::collections::HashMap;

use serde_json::json;

use super::{bounded, Browser, RelyingParty};
use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_console_check_sees_a_csp_violation() {
    bounded(async {
        let mut t = common::start_provider(HashMap::new()).await;
        t.secrets.retain(|s| s != "127.0.0.1");
        let rp = RelyingParty::start(&mut t, "probe", json!({"first_party": true})).await;
        let b = Browser::start("console_check_sees_a_csp_violation").await;
        b.goto(&rp.url("/csp-probe"), "csp-probe").await;
        assert_ne!(b.title().await, "ran", "the policy stopped the script");
        let console = b.console().await;
        assert!(
            console
                .iter()
                .any(|e| e.is_csp_violation() && e.page == "01-csp-probe.png"),
            "{console:?}"
        );
        let caught = tokio::spawn(async move { b.assert_console_clean().await }).await;
        assert!(caught.is_err(), "the console check must fail on this page");
        super::assert_loopback_only_in_relying_party_urls(&t, &rp);
    })
    .await;
}
