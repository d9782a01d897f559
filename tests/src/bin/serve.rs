//! Serves the app from `spin.toml` on the test host, like `spin up`.
//!
//! ```text
//! serve [--listen 127.0.0.1:3000] [--state DIR] [--manifest ./spin.toml] [--no-build]
//! ```
//!
//! Builds the components first (unless `--no-build`), keeps the key-value
//! stores in `DIR/kv.sqlite3` (in memory without `--state`), and runs until
//! interrupted. Guest output goes to this process's stdout and stderr.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use ausweis_tests::{build_components, AppOptions, OutputMode, RunningApp};

struct Args {
    listen: SocketAddr,
    state: Option<PathBuf>,
    manifest: PathBuf,
    build: bool,
}

const USAGE: &str =
    "usage: serve [--listen ADDR:PORT] [--state DIR] [--manifest PATH] [--no-build]";

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        state: None,
        manifest: PathBuf::from("spin.toml"),
        build: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--listen" => args.listen = value()?.parse().context("--listen wants ADDR:PORT")?,
            "--state" => args.state = Some(PathBuf::from(value()?)),
            "--manifest" => args.manifest = PathBuf::from(value()?),
            "--no-build" => args.build = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(args)
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
async fn wait_for_stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    if !args.manifest.is_file() {
        bail!("no manifest at {}", args.manifest.display());
    }
    if args.build {
        eprintln!("Building components...");
        let manifest = args.manifest.clone();
        tokio::task::spawn_blocking(move || build_components(&manifest)).await??;
    }

    let opts = AppOptions {
        root: args.manifest,
        state_dir: args.state,
        ..AppOptions::default()
    };
    let app = RunningApp::start_with_output(opts, args.listen, OutputMode::Inherit).await?;
    println!("Serving {}", app.base_url());

    wait_for_stop_signal().await?;
    eprintln!("Shutting down");
    app.shutdown().await;
    Ok(())
}
