//! The `serve` binary answers on 127.0.0.1 and keeps its stores across a
//! restart.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{self, PASSWORD};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn spawn(state: &std::path::Path, port: u16) -> Server {
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_serve"))
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--no-build",
                "--state",
            ])
            .arg(state)
            .current_dir(ausweis_tests::repo_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_register_login_session_and_keeps_state_across_restart() {
    // make sure the components exist; the server is started with --no-build
    drop(common::start().await);
    let state = std::env::temp_dir().join(format!("ausweis-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = common::client();

    let server = spawn(&state, port).await;
    let r = common::read(
        http.post(format!("{base}/api/register"))
            .json(&json!({"username": "alice", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    drop(server);

    let _server = spawn(&state, port).await;
    let r = common::read(
        http.post(format!("{base}/api/login"))
            .json(&json!({"username": "alice", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = common::read(
        http.get(format!("{base}/api/session"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.body["username"], "alice");
    let _ = std::fs::remove_dir_all(&state);
}
