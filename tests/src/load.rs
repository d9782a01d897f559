//! A bounded load run against a running app: registrations, then logins,
//! then refresh-token rotations, each phase from concurrent clients, with
//! every answer's status counted. Used by the `bench` binary (`--load`) and,
//! scaled down, by the end-to-end suite.
//!
//! Every phase is bounded in count and in time: it stops issuing requests
//! at its deadline and reports how far it got.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use crate::RunningApp;

/// The password of every account the run makes.
pub const PASSWORD: &str = "correct horse battery staple";
/// Redirect URI of the run's OpenID Connect client (never contacted).
pub const REDIRECT: &str = "http://localhost:9/callback";

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Accounts to register (`load0`, `load1`, ...).
    pub registrations: usize,
    /// Logins, spread over the registered accounts.
    pub logins: usize,
    /// Refresh-token rotations, spread over one token chain per client.
    pub refreshes: usize,
    /// Concurrent clients in every phase.
    pub clients: usize,
    /// Signing algorithm of the run's OpenID Connect client.
    pub refresh_alg: String,
    /// Deadline of each phase.
    pub phase_limit: Duration,
    /// The app's admin secret.
    pub admin_secret: String,
}

/// What one phase did.
#[derive(Debug, Clone, Default)]
pub struct PhaseReport {
    /// Its name.
    pub name: String,
    /// Requests planned.
    pub planned: usize,
    /// Requests answered (any status).
    pub answered: u64,
    /// Requests that got no HTTP answer.
    pub transport_errors: u64,
    /// Answers per status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// Whether it ran out of time before issuing every request.
    pub stopped_at_deadline: bool,
}

impl PhaseReport {
    /// Answers per second of wall time.
    pub fn per_s(&self) -> f64 {
        self.answered as f64 / self.wall_s.max(1e-9)
    }

    /// Answers with a 5xx status.
    pub fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| n)
            .sum()
    }

    /// The phase as JSON.
    pub fn to_json(&self) -> Value {
        let statuses: BTreeMap<String, u64> = self
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
        json!({
            "planned": self.planned,
            "answered": self.answered,
            "transport_errors": self.transport_errors,
            "statuses": statuses,
            "wall_s": self.wall_s,
            "per_s": self.per_s(),
            "stopped_at_deadline": self.stopped_at_deadline,
        })
    }
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Setup (client, codes, first tokens), registrations, logins, refreshes.
    pub phases: Vec<PhaseReport>,
    /// Wall time of all phases, seconds.
    pub wall_s: f64,
    /// What went wrong: unexpected statuses, unfinished phases.
    pub problems: Vec<String>,
    /// Secrets the run used (the client secret), for the leak checks.
    pub secrets: Vec<String>,
}

impl LoadReport {
    /// The run as JSON.
    pub fn to_json(&self) -> Value {
        let phases: serde_json::Map<String, Value> = self
            .phases
            .iter()
            .map(|p| (p.name.clone(), p.to_json()))
            .collect();
        json!({
            "phases": phases,
            "wall_s": self.wall_s,
            "server_errors": self.phases.iter().map(PhaseReport::server_errors).sum::<u64>(),
            "problems": self.problems,
        })
    }
}

/// Status counts of one client task.
#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
}

impl Tally {
    fn add(&mut self, result: reqwest::Result<reqwest::StatusCode>) {
        match result {
            Ok(status) => *self.statuses.entry(status.as_u16()).or_default() += 1,
            Err(_) => self.transport_errors += 1,
        }
    }
}

/// Runs `request(i)` for i in 0..n from `clients` concurrent tasks until
/// done or `limit` passed; `request` gets the task's number too.
async fn phase<F, Fut>(
    name: &str,
    n: usize,
    clients: usize,
    limit: Duration,
    request: F,
) -> PhaseReport
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::StatusCode>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let request = Arc::new(request);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..clients.max(1) {
        let (next, request) = (next.clone(), request.clone());
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while start.elapsed() < limit {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                tally.add(request(task, i).await);
            }
            tally
        });
    }
    let mut report = PhaseReport {
        name: name.to_owned(),
        planned: n,
        ..PhaseReport::default()
    };
    while let Some(done) = tasks.join_next().await {
        let Ok(tally) = done else {
            report.transport_errors += 1;
            continue;
        };
        for (status, count) in tally.statuses {
            *report.statuses.entry(status).or_default() += count;
        }
        report.transport_errors += tally.transport_errors;
    }
    report.wall_s = start.elapsed().as_secs_f64();
    report.answered = report.statuses.values().sum();
    report.stopped_at_deadline = report.answered + report.transport_errors < n as u64;
    report
}

/// An authorization code for `username` through the real flow: authorize,
/// the login page, back to authorize.
pub async fn authorization_code(
    base: &str,
    client_id: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let url = format!(
        "{base}/oidc/authorize?response_type=code&client_id={client_id}&redirect_uri={REDIRECT}&scope=openid%20profile%20groups"
    );
    let location = |r: &reqwest::Response| -> anyhow::Result<String> {
        Ok(r.headers()
            .get("location")
            .ok_or_else(|| anyhow!("no redirect ({})", r.status()))?
            .to_str()?
            .to_owned())
    };
    let login = location(&browser.get(&url).send().await?)?;
    let return_to = url::Url::parse(&format!("{base}{login}"))?
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow!("no return_to"))?;
    // the login page gives the form its anti-forgery cookie and field
    let page = browser
        .get(format!("{base}{login}"))
        .send()
        .await?
        .text()
        .await?;
    let csrf =
        crate::csrf_field(&page).ok_or_else(|| anyhow!("no csrf field on the login page"))?;
    let r = browser
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", username),
            ("password", password),
            ("return_to", &return_to),
        ])
        .send()
        .await?;
    let back = location(&r)?;
    let callback = location(&browser.get(format!("{base}{back}")).send().await?)?;
    url::Url::parse(&callback)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow!("no code in the redirect"))
}

/// One call to the token endpoint; the status and, on success, the body.
async fn token_call(
    http: &reqwest::Client,
    base: &str,
    client: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Result<(reqwest::StatusCode, Value)> {
    let r = http
        .post(format!("{base}/oidc/token"))
        .basic_auth(client, Some(secret))
        .form(form)
        .send()
        .await?;
    let status = r.status();
    let body = r.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

fn expect_only(report: &PhaseReport, ok: u16, problems: &mut Vec<String>) {
    for (status, n) in &report.statuses {
        if *status != ok {
            problems.push(format!("{}: {n} answers with status {status}", report.name));
        }
    }
    if report.transport_errors > 0 {
        problems.push(format!(
            "{}: {} requests without an answer",
            report.name, report.transport_errors
        ));
    }
    if report.stopped_at_deadline {
        problems.push(format!(
            "{}: stopped at the deadline after {} of {}",
            report.name, report.answered, report.planned
        ));
    }
}

/// Runs the plan against `app` (which must have `admin_secret` set to the
/// plan's and its `issuer` at its own address).
pub async fn run(app: &RunningApp, plan: &LoadPlan) -> anyhow::Result<LoadReport> {
    let base = app.base_url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.clients.max(1))
        .build()?;
    let mut report = LoadReport::default();
    let start = Instant::now();
    let limit = plan.phase_limit;

    // registrations
    let (h, b) = (http.clone(), base.clone());
    let reg = phase(
        "register",
        plan.registrations,
        plan.clients,
        limit,
        move |_, i| {
            let (h, b) = (h.clone(), b.clone());
            async move {
                let r = h
                    .post(format!("{b}/api/register"))
                    .json(&json!({"username": format!("load{i}"), "password": PASSWORD}))
                    .send()
                    .await?;
                let status = r.status();
                r.bytes().await?;
                Ok(status)
            }
        },
    )
    .await;
    expect_only(&reg, 201, &mut report.problems);
    let accounts = reg.statuses.get(&201).copied().unwrap_or(0) as usize;
    report.phases.push(reg);
    if accounts == 0 {
        bail!("no registration succeeded");
    }

    // logins, each to an account registered above, with its password
    let (h, b) = (http.clone(), base.clone());
    let logins = phase("login", plan.logins, plan.clients, limit, move |_, i| {
        let (h, b) = (h.clone(), b.clone());
        async move {
            let r = h
                .post(format!("{b}/api/login"))
                .json(&json!({"username": format!("load{}", i % accounts), "password": PASSWORD}))
                .send()
                .await?;
            let status = r.status();
            r.bytes().await?;
            Ok(status)
        }
    })
    .await;
    expect_only(&logins, 200, &mut report.problems);
    report.phases.push(logins);

    // setup of the refreshes: a client, and one token chain per client task
    let setup_start = Instant::now();
    let client_id = format!("load-{}", plan.refresh_alg.to_lowercase());
    let made = http
        .put(format!("{base}/admin/clients/{client_id}"))
        .bearer_auth(&plan.admin_secret)
        .json(
            &json!({"redirect_uris": [REDIRECT], "signing_alg": plan.refresh_alg,
                      "first_party": true, "scopes": ["openid", "profile", "groups"]}),
        )
        .send()
        .await?;
    if !made.status().is_success() {
        bail!("making the client: {}", made.status());
    }
    let made: Value = made.json().await?;
    let secret = made["client_secret"]
        .as_str()
        .ok_or_else(|| anyhow!("no client secret"))?
        .to_owned();
    report.secrets.push(secret.clone());
    let mut chains = Vec::new();
    for c in 0..plan.clients.max(1) {
        let user = format!("load{}", c % accounts);
        let code = authorization_code(&base, &client_id, &user, PASSWORD)
            .await
            .with_context(|| format!("authorization code for chain {c}"))?;
        let (status, body) = token_call(
            &http,
            &base,
            &client_id,
            &secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await?;
        let refresh = body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !status.is_success() || refresh.is_empty() {
            bail!("first token of chain {c}: {status}");
        }
        chains.push(tokio::sync::Mutex::new(refresh));
    }
    report.phases.push(PhaseReport {
        name: "refresh_setup".into(),
        planned: chains.len(),
        answered: chains.len() as u64,
        statuses: BTreeMap::from([(200, chains.len() as u64)]),
        wall_s: setup_start.elapsed().as_secs_f64(),
        ..PhaseReport::default()
    });

    // refreshes: each task rotates its own chain, one token at a time
    let chains = Arc::new(chains);
    let (h, b, cid, sec) = (
        http.clone(),
        base.clone(),
        client_id.clone(),
        secret.clone(),
    );
    let refreshes = phase(
        "refresh",
        plan.refreshes,
        plan.clients,
        limit,
        move |task, _| {
            let (h, b, cid, sec, chains) = (
                h.clone(),
                b.clone(),
                cid.clone(),
                sec.clone(),
                chains.clone(),
            );
            async move {
                // one chain per task (there are as many as tasks, at least one)
                let mut token = chains[task % chains.len()].lock().await;
                let (status, body) = token_call(
                    &h,
                    &b,
                    &cid,
                    &sec,
                    &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                )
                .await?;
                if let Some(next) = body["refresh_token"].as_str() {
                    *token = next.to_owned();
                }
                Ok(status)
            }
        },
    )
    .await;
    expect_only(&refreshes, 200, &mut report.problems);
    report.phases.push(refreshes);
    report.wall_s = start.elapsed().as_secs_f64();
    Ok(report)
}
