//! A test host for the ausweis Spin components, built on wasmtime.
//!
//! It runs the very `.wasm` files that ship, as Spin 4 would: routes from
//! `spin.toml`, a fresh instance per request, WASI and wasi:http, Spin
//! variables, and both key-value interfaces over SQLite, with each component
//! limited to the stores and outbound hosts it declares. Tests get extra
//! reach into the key-value backend: a dump, an access log and fault
//! injection.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use ausweis_tests::{AppOptions, RunningApp};
//! let app = RunningApp::start(AppOptions::new("/path/to/repo"), "127.0.0.1:0".parse()?).await?;
//! let url = app.url("/api/register");
//! # let _ = url;
//! app.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod app;
mod build;
mod engine;
mod host;
pub mod invariants;
pub mod kv;
pub mod load;
pub mod manifest;
pub mod outbound;
mod output;
pub mod router;
mod usage;
pub mod variables;

pub use app::{AppOptions, OutputMode, RunningApp};
pub use build::build_components;
pub use host::OutboundAttempt;
pub use kv::{CasMode, FaultFn, KvAccess, KvBackend, Op, OpKind, Outcome};
pub use usage::PeakUsage;

/// The repository root (the directory holding `spin.toml`), for tests.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from(".."))
}

/// The value of the first anti-forgery field of a page (`name="csrf"`,
/// 64 lowercase hex digits), as every test that posts a page's form needs it.
pub fn csrf_field(html: &str) -> Option<String> {
    let value = html
        .split("name=\"csrf\" value=\"")
        .nth(1)?
        .split('"')
        .next()?;
    (value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    .then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_csrf_field_is_read_only_in_its_shape() {
        let token = "0123456789abcdef".repeat(4);
        let page = format!("<form><input type=\"hidden\" name=\"csrf\" value=\"{token}\"></form>");
        assert_eq!(super::csrf_field(&page), Some(token));
        assert_eq!(
            super::csrf_field("<input name=\"csrf\" value=\"ABC\">"),
            None
        );
        assert_eq!(super::csrf_field("<p>no form</p>"), None);
    }
}
