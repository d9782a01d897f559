//! End-to-end tests: the `.wasm` components that ship, run by the wasmtime
//! test host, spoken to over HTTP on 127.0.0.1. Each test gets its own app
//! and fresh stores; when a test ends, the stores and the access log are
//! checked against `kv-schema/` and `spin.toml` (see `common`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod account;
mod account_pages;
mod attack_pages;
mod browser;
mod common;
mod flow_pages;
mod invalid_input;
mod load;
mod login;
mod member;
mod oidc;
mod pages;
mod pretix;
mod profile;
mod profile_page;
mod recovery;
mod redeem;
mod redeem_page;
mod register;
mod register_page;
mod serve;
mod store_faults;
