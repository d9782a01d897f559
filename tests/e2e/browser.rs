//! The browser harness: Debian's headless Chromium, driven through its
//! chromedriver by a WebDriver client (fantoccini), against the app of a
//! test. Every page a test visits is saved as a screenshot under
//! `target/screenshots/<test>/<NN>-<name>.png`, and the browser's console is
//! collected so a test can prove that no page broke its Content Security
//! Policy or logged an error.
//!
//! A test starts a [`Browser`], moves with [`Browser::goto`],
//! [`Browser::follow`] and [`Browser::press`] (each saves a screenshot of
//! the page it lands on), fills fields with [`Browser::fill`], reads
//! [`Browser::text`] and [`Browser::url`], and ends with
//! [`Browser::finish`], which checks the console and closes Chromium.
//! Chromium and chromedriver missing is a failure, never a skip.

mod account;
mod harness;
mod member_pages;
mod relying_party;
mod signin;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::common::{TestApp, USER_AGENT};

pub use relying_party::RelyingParty;

/// Debian's `chromium` package.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver` package.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any wait of the harness may take.
const WAIT: Duration = Duration::from_secs(20);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// The longest one browser test may take: a page that hangs fails its test
/// instead of holding up the run.
const TEST_LIMIT: Duration = Duration::from_secs(300);

/// Runs a browser test's steps within [`TEST_LIMIT`].
pub async fn bounded(steps: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(TEST_LIMIT, steps).await.is_err() {
        panic!("the browser test took longer than {TEST_LIMIT:?}");
    }
}

/// The window a session starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// 390 x 844, a common phone.
    Phone,
    /// 1280 x 900.
    Desktop,
}

impl Size {
    fn pixels(self) -> (u32, u32) {
        match self {
            Size::Phone => (390, 844),
            Size::Desktop => (1280, 900),
        }
    }
}

/// One message of the browser's console.
#[derive(Clone, Debug)]
pub struct ConsoleEntry {
    /// `SEVERE`, `WARNING`, `INFO` or `DEBUG`, as chromedriver reports it.
    pub level: String,
    /// `network`, `security`, `javascript`, `console-api`, ...
    pub source: String,
    pub message: String,
    /// The screenshot of the page the message was read at (it came from
    /// that page or one passed through on the way to it).
    pub page: String,
}

impl ConsoleEntry {
    /// A Content-Security-Policy violation, at any level.
    pub fn is_csp_violation(&self) -> bool {
        self.message.contains("Content Security Policy")
    }

    /// A request that got an error status: `message` starts with its URL.
    fn failed_load_of(&self, url: &str) -> bool {
        self.source == "network"
            && self
                .message
                .strip_prefix(url)
                .is_some_and(|rest| rest.starts_with(" - Failed to load resource"))
    }

    /// An error of the page: a CSP violation or any `SEVERE` message, but
    /// neither the error status of a page the test was shown (a refused
    /// login answers 401; the test reads that page) nor the favicon the
    /// browser asks every origin for by itself (ausweis serves none).
    fn is_error(&self, pages: &[String]) -> bool {
        if self.is_csp_violation() {
            return true;
        }
        let favicon = self.source == "network"
            && self
                .message
                .contains("/favicon.ico - Failed to load resource");
        self.level == "SEVERE" && !favicon && !pages.iter().any(|p| self.failed_load_of(p))
    }
}

/// A chromedriver child process, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed (with what it holds) when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A headless Chromium session of one test.
pub struct Browser {
    client: Client,
    session_id: String,
    closed: bool,
    // dropped after the session, in this order: the driver, then the profile
    driver: Driver,
    _profile: TempDir,
    shots: PathBuf,
    shot_count: AtomicU32,
    last_shot: Mutex<String>,
    /// the address of every page a screenshot was taken of
    pages: Mutex<Vec<String>>,
    console: Mutex<Vec<ConsoleEntry>>,
    /// Chromium's main process, as chromedriver reports it
    chromium_pid: Option<i32>,
}

/// Fails the test, saying how to install what is missing.
fn require_chromium() {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: the browser tests need Debian's packages chromium and \
             chromium-driver (apt-get install -y chromium chromium-driver; .ci/run installs them)"
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// Where screenshots go: `target/screenshots/<test>/`, emptied first.
fn shots_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ausweis_tests::repo_root().join("target"));
    let dir = target.join("screenshots").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// An empty directory of its own under the system's temporary directory.
fn fresh_profile(test: &str) -> TempDir {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "ausweis-chromium-{test}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("browser profile directory");
    TempDir(dir)
}

/// Starts chromedriver on a free port of 127.0.0.1 and waits until it
/// accepts connections. Its output goes to a file in `profile`.
fn start_driver(profile: &Path) -> Driver {
    let port = free_port();
    let log = std::fs::File::create(profile.join("chromedriver.log")).expect("driver log");
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("driver log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
    let driver = Driver { child, port };
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return driver;
        }
        std::thread::sleep(POLL);
    }
    let log = std::fs::read_to_string(profile.join("chromedriver.log")).unwrap_or_default();
    panic!("chromedriver did not listen on 127.0.0.1:{port} within {WAIT:?}:\n{log}");
}

/// The capabilities of a session: Debian's Chromium, headless, with a fresh
/// profile, the test's user agent (so the stores and logs are scanned for
/// it), `lang` as its languages, and every console message kept.
fn capabilities(profile: &Path, lang: &str, size: Size) -> Capabilities {
    let (w, h) = size.pixels();
    let primary = lang.split(',').next().unwrap_or("en");
    let args = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-default-apps".into(),
        "--disable-extensions".into(),
        "--no-proxy-server".into(),
        // no name resolves, no address but 127.0.0.1 is reachable by name:
        // the tests speak to 127.0.0.1 alone
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".into(),
        format!("--user-data-dir={}", profile.join("chromium").display()),
        format!("--user-agent={USER_AGENT}"),
        format!("--lang={primary}"),
        format!("--window-size={w},{h}"),
    ];
    let mut caps = Capabilities::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": args, "prefs": {"intl.accept_languages": lang}}),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    caps
}

/// chromedriver's command that hands over (and forgets) the console
/// messages gathered so far.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// An XPath string literal holding `text`.
fn xpath_literal(text: &str) -> String {
    if !text.contains('"') {
        format!("\"{text}\"")
    } else if !text.contains('\'') {
        format!("'{text}'")
    } else {
        let parts: Vec<String> = text.split('"').map(|p| format!("\"{p}\"")).collect();
        format!("concat({})", parts.join(", '\"', "))
    }
}

impl Browser {
    /// A session for the test named `test`: English, phone-sized.
    pub async fn start(test: &str) -> Browser {
        Browser::start_with(test, "en-US,en", Size::Phone).await
    }

    /// A session whose `Accept-Language` is `lang` (a list such as
    /// `"de-DE,de"`), with the window `size`.
    pub async fn start_with(test: &str, lang: &str, size: Size) -> Browser {
        require_chromium();
        let profile = fresh_profile(test);
        let driver = tokio::task::spawn_blocking({
            let profile = profile.0.clone();
            move || start_driver(&profile)
        })
        .await
        .expect("starting chromedriver");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities(&profile.0, lang, size))
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| {
                let log =
                    std::fs::read_to_string(profile.0.join("chromedriver.log")).unwrap_or_default();
                panic!("no Chromium session ({CHROMIUM}): {e}\n{log}")
            });
        let session_id = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let chromium_pid = client
            .capabilities()
            .and_then(|c| c.get("goog:processID"))
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok());
        let b = Browser {
            client,
            session_id,
            closed: false,
            driver,
            _profile: profile,
            shots: shots_dir(test),
            shot_count: AtomicU32::new(0),
            last_shot: Mutex::new("(before the first page)".into()),
            pages: Mutex::new(Vec::new()),
            console: Mutex::new(Vec::new()),
            chromium_pid,
        };
        b.resize(size).await;
        let timeouts = fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(10)),
            Some(WAIT),
            Some(Duration::ZERO),
        );
        b.client.update_timeouts(timeouts).await.expect("timeouts");
        b
    }

    /// Sets the window to `size` (the next screenshots show it).
    pub async fn resize(&self, size: Size) {
        let (w, h) = size.pixels();
        self.client
            .set_window_size(w, h)
            .await
            .expect("window size");
    }

    /// Opens `url` and saves the page as screenshot `shot`.
    pub async fn goto(&self, url: &str, shot: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
        self.settle().await;
        self.shot(shot).await;
    }

    /// Clicks the link whose text is `text`, waits for the page it leads to
    /// and saves it as screenshot `shot`.
    pub async fn follow(&self, text: &str, shot: &str) {
        let xpath = format!("//a[normalize-space(.)={}]", xpath_literal(text));
        self.click_to_new_page(&xpath, &format!("link {text:?}"))
            .await;
        self.shot(shot).await;
    }

    /// Presses the button labelled `text` (a `<button>` or a submit input),
    /// waits for the page it leads to and saves it as screenshot `shot`.
    pub async fn press(&self, text: &str, shot: &str) {
        let lit = xpath_literal(text);
        let xpath = format!(
            "//button[normalize-space(.)={lit}] | //input[(@type='submit' or @type='button') and @value={lit}]"
        );
        self.click_to_new_page(&xpath, &format!("button {text:?}"))
            .await;
        self.shot(shot).await;
    }

    /// Types `value` into the field whose `<label>` reads `label` (or, failing
    /// that, whose id is `label`), replacing what it held.
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clearing a field");
        field.send_keys(value).await.expect("typing into a field");
    }

    /// The value a field (found as by [`Browser::fill`]) holds now.
    pub async fn value(&self, label: &str) -> String {
        self.field(label)
            .await
            .prop("value")
            .await
            .expect("field value")
            .unwrap_or_default()
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .expect("page body")
            .text()
            .await
            .expect("page text")
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        self.client.title().await.expect("page title")
    }

    /// The address of the page.
    pub async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("current URL")
    }

    /// Waits until the address satisfies `pred` and returns it; `what` says
    /// what was awaited in the failure message.
    pub async fn wait_for_url(&self, what: &str, pred: impl Fn(&url::Url) -> bool) -> url::Url {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < WAIT {
            if let Ok(u) = self.client.current_url().await {
                if pred(&u) {
                    return u;
                }
                last = Some(u);
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "waited {WAIT:?} for {what}; the browser is at {}",
            last.map(|u| u.to_string()).unwrap_or_default()
        );
    }

    /// Waits until an element matches the CSS selector and returns it.
    pub async fn wait_for(&self, css: &str) -> Element {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "waited {WAIT:?} for an element {css:?} on {}",
            self.url().await
        );
    }

    /// Waits until the page's text holds `needle`.
    pub async fn wait_for_text(&self, needle: &str) {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if self.text().await.contains(needle) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "waited {WAIT:?} for {needle:?} on {}; the page says:\n{}",
            self.url().await,
            self.text().await
        );
    }

    /// Saves the window as `target/screenshots/<test>/<NN>-<name>.png` and
    /// returns the path. Numbers count up from 01 in the order taken.
    pub async fn shot(&self, name: &str) -> PathBuf {
        let n = self.shot_count.fetch_add(1, Ordering::SeqCst) + 1;
        let file = format!("{n:02}-{name}.png");
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(&file);
        std::fs::write(&path, png).expect("writing a screenshot");
        let url = self.url().await;
        self.pages.lock().expect("lock").push(url.to_string());
        *self.last_shot.lock().expect("lock") = file;
        self.drain_console().await;
        path
    }

    /// Every console message so far, with the screenshot of its page.
    pub async fn console(&self) -> Vec<ConsoleEntry> {
        self.drain_console().await;
        self.console.lock().expect("lock").clone()
    }

    /// Fails if any page so far broke its Content Security Policy or
    /// logged an error to the console (see [`ConsoleEntry`] for the two
    /// failed loads that are not the page's fault).
    pub async fn assert_console_clean(&self) {
        let bad = self.console_errors().await;
        assert!(
            bad.is_empty(),
            "the browser console has errors:\n{}",
            bad.join("\n")
        );
    }

    /// The console entries [`Browser::assert_console_clean`] fails on.
    pub async fn console_errors(&self) -> Vec<String> {
        let console = self.console().await;
        let pages = self.pages.lock().expect("lock").clone();
        console
            .into_iter()
            .filter(|e| e.is_error(&pages))
            .map(|e| format!("  [{}] after {}: {}", e.level, e.page, e.message))
            .collect()
    }

    /// Checks the console ([`Browser::assert_console_clean`]) and closes
    /// Chromium. Every browser test ends with this.
    pub async fn finish(self) {
        self.assert_console_clean().await;
        self.close().await;
    }

    /// Closes Chromium without looking at the console.
    pub async fn close(mut self) {
        self.closed = true;
        let client = self.client.clone();
        client.close().await.expect("closing the browser session");
    }

    /// The value of the cookie `name` the browser holds for the page's
    /// site (`HttpOnly` ones too), to fetch a download with the browser's
    /// session.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        self.client
            .get_named_cookie(name)
            .await
            .ok()
            .map(|c| c.value().to_owned())
    }

    /// Where the screenshots of this session go.
    pub fn shots_dir(&self) -> &Path {
        &self.shots
    }

    async fn drain_console(&self) {
        let Ok(Value::Array(entries)) = self.client.issue_cmd(BrowserLog).await else {
            return;
        };
        let page = self.last_shot.lock().expect("lock").clone();
        let mut console = self.console.lock().expect("lock");
        for e in entries {
            console.push(ConsoleEntry {
                level: e["level"].as_str().unwrap_or("").to_string(),
                source: e["source"].as_str().unwrap_or("").to_string(),
                message: e["message"].as_str().unwrap_or("").to_string(),
                page: page.clone(),
            });
        }
    }

    /// The form control named by a `<label>`'s text, or by its id.
    async fn field(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space(.)={}]", xpath_literal(label));
        if let Ok(l) = self.client.find(Locator::XPath(&xpath)).await {
            if let Ok(Some(id)) = l.attr("for").await {
                if let Ok(e) = self.client.find(Locator::Id(&id)).await {
                    return e;
                }
            }
            if let Ok(e) = l.find(Locator::Css("input, select, textarea")).await {
                return e;
            }
        }
        match self.client.find(Locator::Id(label)).await {
            Ok(e) => e,
            Err(_) => panic!(
                "no field labelled {label:?} (nor with that id) on {}; the page says:\n{}",
                self.url().await,
                self.text().await
            ),
        }
    }

    /// Clicks the element at `xpath` and waits until a new document has
    /// loaded in its place.
    async fn click_to_new_page(&self, xpath: &str, what: &str) {
        let el = match self.client.find(Locator::XPath(xpath)).await {
            Ok(e) => e,
            Err(_) => panic!(
                "no {what} on {}; the page says:\n{}",
                self.url().await,
                self.text().await
            ),
        };
        // a mark on the old document: gone once another one is shown
        self.client
            .execute("window.__harnessOldPage = true;", vec![])
            .await
            .expect("marking the page");
        el.click()
            .await
            .unwrap_or_else(|e| panic!("clicking {what}: {e}"));
        let start = Instant::now();
        while start.elapsed() < WAIT {
            let fresh = self
                .client
                .execute(
                    "return !window.__harnessOldPage && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(fresh, Ok(Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "clicking {what} led to no new page within {WAIT:?}; at {}",
            self.url().await
        );
    }

    /// Waits until the page has loaded.
    async fn settle(&self) {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            let ready = self
                .client
                .execute("return document.readyState === 'complete';", vec![])
                .await;
            if matches!(ready, Ok(Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("the page did not finish loading within {WAIT:?}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // a test that failed did not call finish: end the session so that
        // chromedriver quits Chromium, before the driver itself is killed
        // (then the fields drop: the driver is killed, the profile removed)
        if !self.closed {
            delete_session(self.driver.port, &self.session_id);
        }
        let _ = self.driver.child.kill();
        let _ = self.driver.child.wait();
        if let Some(pid) = self.chromium_pid {
            end_orphan(pid, &self._profile.0);
        }
    }
}

/// Kills the Chromium this session started if it is still running (its
/// command line names the session's own profile, so a reused process id is
/// left alone); its helper processes end with it.
fn end_orphan(pid: i32, profile: &Path) {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return;
    };
    let mine = String::from_utf8_lossy(&cmdline).contains(&profile.display().to_string());
    if let (true, Some(pid)) = (mine, rustix::process::Pid::from_raw(pid)) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// `DELETE /session/{id}` to chromedriver, without an async runtime (the
/// test's may be gone when a failed test unwinds).
fn delete_session(port: u16, session_id: &str) {
    let Ok(mut sock) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = sock.set_write_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if sock.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = sock.take(1 << 20).read_to_end(&mut answer);
    }
}

/// The relying party and the browser live on 127.0.0.1, so the address
/// is part of the relying party's URLs (its redirect URIs, in the client
/// record and in authorization codes). Anywhere else, in any store or in
/// the guest output, it would be the client address the product must not
/// keep. Browser tests drop the address from the test's secrets for this
/// narrower check.
pub fn assert_loopback_only_in_relying_party_urls(t: &TestApp, rp: &RelyingParty) {
    let base = rp.url("");
    let outside = |text: &str| text.replace(&base, "").contains("127.0.0.1");
    for (store, entries) in t.kv().dump() {
        for (key, value) in entries {
            assert!(
                !outside(&key) && !outside(&String::from_utf8_lossy(&value)),
                "{store}/{key} holds the client address"
            );
        }
    }
    assert!(
        !outside(&t.app().guest_output()),
        "the guest output holds the client address"
    );
}
