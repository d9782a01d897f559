//! Where guest stdout and stderr go: into one buffer per app, so a test can
//! show it when it fails, or straight to the terminal for `serve`.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::WasiCtxBuilder;

/// Captured output is cut off beyond this many bytes.
const CAPTURE_LIMIT: usize = 16 << 20;

/// Guest output of one app.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    sink: Option<Capture>,
}

#[derive(Clone, Default)]
struct Capture {
    buffer: Arc<Mutex<CaptureBuffer>>,
}

#[derive(Default)]
struct CaptureBuffer {
    bytes: Vec<u8>,
    truncated: bool,
}

impl GuestOutput {
    /// Output kept in memory.
    pub(crate) fn captured() -> GuestOutput {
        GuestOutput {
            sink: Some(Capture::default()),
        }
    }

    /// Output written to this process's stdout and stderr.
    pub(crate) fn inherited() -> GuestOutput {
        GuestOutput { sink: None }
    }

    /// Points a new instance's stdout and stderr here.
    pub(crate) fn attach(&self, builder: &mut WasiCtxBuilder) {
        match &self.sink {
            Some(capture) => {
                builder.stdout(capture.clone()).stderr(capture.clone());
            }
            None => {
                builder.inherit_stdout().inherit_stderr();
            }
        }
    }

    /// A line from the host itself (never request data).
    pub(crate) fn host_note(&self, line: &str) {
        match &self.sink {
            Some(capture) => capture.append(format!("[test host] {line}\n").as_bytes()),
            None => eprintln!("[test host] {line}"),
        }
    }

    /// Everything captured so far (empty when inherited).
    pub(crate) fn contents(&self) -> String {
        let Some(capture) = &self.sink else {
            return String::new();
        };
        let buffer = capture.lock();
        let mut text = String::from_utf8_lossy(&buffer.bytes).into_owned();
        if buffer.truncated {
            text.push_str("\n[test host] output cut off here\n");
        }
        text
    }
}

impl Capture {
    fn lock(&self) -> std::sync::MutexGuard<'_, CaptureBuffer> {
        self.buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.lock();
        let room = CAPTURE_LIMIT.saturating_sub(buffer.bytes.len());
        if bytes.len() > room {
            buffer.truncated = true;
        }
        let take = bytes.len().min(room);
        buffer.bytes.extend_from_slice(&bytes[..take]);
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        // Output past the limit is dropped, not refused: a chatty guest
        // must not fail because of the test host.
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
