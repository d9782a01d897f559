//! Measures what ausweis costs against the natural limits, in one run:
//!
//!     cargo run --release -p ausweis-tests --bin bench -- --out FILE.json [--seconds N]
//!     cargo run --release -p ausweis-tests --bin bench -- --load --out FILE.json
//!         [--registrations 1000] [--logins 10000] [--refreshes 10000]
//!         [--clients 16] [--alg EdDSA] [--phase-limit-s 1800]
//!
//! Runs the app in the test host on 127.0.0.1 and compares each endpoint
//! with the same work done natively (an Argon2id hash, a signature and the
//! store writes of a refresh). Prints a table and writes the figures as JSON.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use ausweis::kv::MemoryKv;
use ausweis::oidc::authorize::{self, AuthRequest, Outcome};
use ausweis::oidc::client::{self, ClientInput};
use ausweis::oidc::grant;
use ausweis::oidc::settings::Settings;
use ausweis::password::{self, HashParams};
use ausweis::register::{self, NewAccount};
use ausweis::secret::Secret;
use ausweis::session::Session;
use ausweis_tests::load::{self, LoadPlan};
use ausweis_tests::manifest::Manifest;
use ausweis_tests::{AppOptions, KvBackend, RunningApp};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";
const ADMIN: &str = "bench-admin-secret-0123456789";
const REDIRECT: &str = "http://localhost:9/callback";
const ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// CPU seconds used by this process so far (user + system), from
/// /proc/self/stat in clock ticks of 1/100 s.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // fields[0] is the state (field 3 of the line): utime is field 14, stime 15
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn median_ms(mut f: impl FnMut() -> Result<()>, n: usize) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..n {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(percentile(&times, 0.5))
}

struct Bench {
    base: String,
    http: reqwest::Client,
}

impl Bench {
    async fn post_json(&self, path: &str, body: Value) -> Result<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn admin_put(&self, path: &str, body: Value) -> Result<Value> {
        let r = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("admin {path}: {}", r.status());
        }
        Ok(r.json().await?)
    }

    /// Logs `user` in and calls profile, account (export, password change
    /// and back) and redeem once each.
    async fn member_round(&self, user: &str) -> Result<()> {
        let member = reqwest::Client::builder().cookie_store(true).build()?;
        let url = |p: &str| format!("{}{p}", self.base);
        let expect = |what: &str, got: reqwest::StatusCode, want: &[u16]| -> Result<()> {
            if !want.contains(&got.as_u16()) {
                bail!("{what}: {got}");
            }
            Ok(())
        };
        let r = member
            .post(url("/api/login"))
            .json(&json!({"username": user, "password": PASSWORD}))
            .send()
            .await?;
        expect("login", r.status(), &[200])?;
        let r = member.get(url("/api/profile")).send().await?;
        expect("profile", r.status(), &[200])?;
        let r = member
            .put(url("/api/profile/fields/name"))
            .json(&json!({"value": "Bench", "visibility": "public"}))
            .send()
            .await?;
        expect("profile field", r.status(), &[200, 201])?;
        let r = member.get(url("/api/account/export")).send().await?;
        expect("export", r.status(), &[200])?;
        let other = "another horse battery staple";
        for (from, to) in [(PASSWORD, other), (other, PASSWORD)] {
            let r = member
                .post(url("/api/account/password"))
                .json(&json!({"current_password": from, "new_password": to}))
                .send()
                .await?;
            expect("password change", r.status(), &[200])?;
        }
        let r = member
            .post(url("/api/redeem/apply"))
            .json(&json!({}))
            .send()
            .await?;
        expect("redeem apply", r.status(), &[404])?;
        Ok(())
    }

    async fn token(&self, client: &str, secret: &str, form: &[(&str, &str)]) -> Result<Value> {
        let r = self
            .http
            .post(format!("{}/oidc/token", self.base))
            .basic_auth(client, Some(secret))
            .form(form)
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if !status.is_success() {
            bail!("token: {status} {body}");
        }
        Ok(body)
    }
}

/// Refreshes in a loop for `secs`; returns (count, wall s, cpu s).
async fn refresh_loop(
    b: &Bench,
    client: &str,
    secret: &str,
    mut refresh: String,
    secs: f64,
) -> Result<(u64, f64, f64)> {
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs && n < 1_000_000 {
        let t = b
            .token(
                client,
                secret,
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await?;
        refresh = t["refresh_token"].as_str().unwrap_or_default().to_owned();
        n += 1;
    }
    Ok((n, start.elapsed().as_secs_f64(), cpu_seconds() - cpu0))
}

/// The same refresh natively: domain code over an in-memory store.
fn native_refresh(alg: &str, secs: f64) -> Result<f64> {
    let kv = MemoryKv::new();
    let settings = Settings {
        issuer: "http://127.0.0.1".into(),
        code_seconds: 60,
        access_seconds: 600,
        refresh_seconds: 86_400,
        key_rotate_seconds: 31_536_000,
        key_publish_lead_seconds: 0,
    };
    let now = 1_900_000_000;
    let reg = register::register(
        &kv,
        &register::Settings {
            hash: HashParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            mail_domain: "example.org".into(),
        },
        NewAccount {
            username: "bench".into(),
            password: Secret::new(PASSWORD.into()),
            email: None,
            public_key: None,
        },
        now,
    )
    .map_err(|e| anyhow!("{e}"))?;
    let input = ClientInput {
        redirect_uris: vec![REDIRECT.into()],
        signing_alg: Some(alg.into()),
        first_party: true,
        ..ClientInput::default()
    };
    let (c, _) = client::put(&kv, input, "native").map_err(|e| anyhow!("{e}"))?;
    let session = Session {
        account_id: reg.account.id.clone(),
        username: "bench".into(),
        auth_time: now,
        seen: now,
        amr: vec!["pwd".into()],
        sid: "bench-session-id-00000".into(),
    };
    // the grant is bound to a live session, as in the app
    let life = ausweis::session::Lifetimes {
        idle: 3600,
        max: 86_400,
    };
    ausweis::session::create(&kv, &life, &session).map_err(|e| anyhow!("{e}"))?;
    let pairs: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", "native"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile groups"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let req = AuthRequest::from_pairs(&pairs).map_err(|e| anyhow!(e))?;
    let Outcome::Code { code, .. } =
        authorize::authorize(&kv, &settings, &req, Some(&session), None, now)
            .map_err(|e| anyhow!("{e}"))?
    else {
        bail!("no code");
    };
    let err = |e: grant::GrantError| anyhow!("{e:?}");
    let mut tokens =
        grant::exchange_code(&kv, &settings, &c, &code, Some(REDIRECT), None, now).map_err(err)?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs && n < 10_000_000 {
        tokens =
            grant::refresh(&kv, &settings, &c, &tokens.refresh_token, None, now).map_err(err)?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// The load run: the app on SQLite stores in a fresh directory, the plan,
/// then the invariant checks; prints a table and writes JSON.
async fn load_mode(
    root: &std::path::Path,
    manifest_path: &std::path::Path,
    plan: LoadPlan,
    out: Option<String>,
) -> Result<()> {
    let state = std::env::temp_dir().join(format!("ausweis-load-{}", std::process::id()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut opts = AppOptions::new(manifest_path);
    opts.kv = Some(KvBackend::open_dir(&state)?);
    opts.variables = HashMap::from([
        ("issuer".to_string(), format!("http://127.0.0.1:{port}")),
        ("admin_secret".to_string(), ADMIN.to_string()),
    ]);
    let app = RunningApp::start(opts, format!("127.0.0.1:{port}").parse()?).await?;
    let (cpu0, start) = (cpu_seconds(), Instant::now());
    let report = load::run(&app, &plan).await;
    let cpu = cpu_seconds() - cpu0;
    let wall = start.elapsed().as_secs_f64();
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            app.shutdown().await;
            let _ = std::fs::remove_dir_all(&state);
            return Err(e);
        }
    };
    let mut secrets = vec![load::PASSWORD.to_string(), ADMIN.to_string()];
    secrets.extend(report.secrets.iter().cloned());
    let checks_start = Instant::now();
    let problems = ausweis_tests::invariants::check_app_at_rest(&app, root, &secrets)?;
    let dump = app.kv().dump();
    let accounts = dump
        .get("accounts")
        .map(|a| a.keys().filter(|k| k.starts_with("user:")).count())
        .unwrap_or(0);
    let keys: usize = dump.values().map(BTreeMap::len).sum();
    let checks_s = checks_start.elapsed().as_secs_f64();
    let peaks = app.peak_usage();
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&state);

    println!(
        "{:<16} {:>8} {:>9} {:>8} {:>9}  statuses",
        "phase", "planned", "answered", "wall s", "per s"
    );
    for p in &report.phases {
        println!(
            "{:<16} {:>8} {:>9} {:>8.1} {:>9.1}  {:?}",
            p.name,
            p.planned,
            p.answered,
            p.wall_s,
            p.per_s(),
            p.statuses
        );
    }
    println!("wall {wall:.1} s, cpu {cpu:.1} s, {accounts} accounts, {keys} keys");
    let mut all = report.problems.clone();
    all.extend(problems.iter().cloned());
    for p in all.iter().take(50) {
        println!("PROBLEM {p}");
    }
    println!(
        "invariants: {}",
        if problems.is_empty() {
            "ok"
        } else {
            "VIOLATED"
        }
    );
    let memory: BTreeMap<String, f64> = peaks
        .iter()
        .map(|(id, u)| (id.clone(), u.memory_bytes as f64 / (1024.0 * 1024.0)))
        .collect();
    let json = json!({
        "load": report.to_json(),
        "plan": {"registrations": plan.registrations, "logins": plan.logins,
                 "refreshes": plan.refreshes, "clients": plan.clients,
                 "refresh_alg": plan.refresh_alg, "store": "SQLite file (WAL)"},
        "cpu_s": cpu,
        "wall_s": wall,
        "accounts": accounts,
        "keys": keys,
        "invariant_problems": problems,
        "invariants_s": checks_s,
        "peak_memory_mib": memory,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    if let Some(path) = out {
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
        println!("written to {path}");
    }
    if !all.is_empty() {
        bail!("the load run found {} problems", all.len());
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let out = arg("--out");
    let secs: f64 = arg("--seconds")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(3.0);

    let root = ausweis_tests::repo_root();
    // another manifest (for example one naming other builds of a
    // component) for comparisons; its build commands run too
    let manifest_path = arg("--manifest")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("spin.toml"));
    ausweis_tests::build_components(&manifest_path)?;
    if args.iter().any(|a| a == "--load") {
        let count = |name: &str, default: usize| -> Result<usize> {
            Ok(arg(name).map(|s| s.parse()).transpose()?.unwrap_or(default))
        };
        let plan = LoadPlan {
            registrations: count("--registrations", 1_000)?,
            logins: count("--logins", 10_000)?,
            refreshes: count("--refreshes", 10_000)?,
            clients: count("--clients", 16)?,
            refresh_alg: arg("--alg").unwrap_or_else(|| "EdDSA".into()),
            phase_limit: std::time::Duration::from_secs(count("--phase-limit-s", 1_800)? as u64),
            admin_secret: ADMIN.into(),
        };
        return load_mode(&root, &manifest_path, plan, out).await;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut opts = AppOptions::new(&manifest_path);
    opts.variables = HashMap::from([
        ("issuer".to_string(), base.clone()),
        ("admin_secret".to_string(), ADMIN.to_string()),
        // redemption on, so that redeem answers (its Pretix is a closed
        // local port it never reaches: the bench has no ticket to check),
        // and registration without a ticket
        ("pretix_url".to_string(), "http://127.0.0.1:9".to_string()),
        ("pretix_organizer".to_string(), "bench".to_string()),
        ("pretix_token".to_string(), "bench-no-pretix".to_string()),
        ("pretix_checkin_list".to_string(), "1".to_string()),
        (
            "registration_requires_ticket".to_string(),
            "false".to_string(),
        ),
    ]);
    let app = RunningApp::start(opts, format!("127.0.0.1:{port}").parse()?).await?;
    let b = Bench {
        base,
        http: reqwest::Client::builder().build()?,
    };
    let mut figures: BTreeMap<String, Value> = BTreeMap::new();

    // the natural limit of login: one Argon2id hash at the configured
    // parameters (measured again between the logins below, which is what
    // the ratio uses: the machine's load changes while the bench runs)
    let params = HashParams::OWASP_MINIMUM;
    let pw = Secret::new(PASSWORD.into());
    let hash_once = || {
        password::hash(&pw, &params)
            .map(drop)
            .map_err(|e| anyhow!("{e}"))
    };
    median_ms(hash_once, 3)?;
    let keygen = median_ms(
        || {
            ausweis::openpgp::generate("bench@example.org", &pw)
                .map(drop)
                .map_err(|e| anyhow!("{e}"))
        },
        5,
    )?;
    figures.insert("pgp_keygen_native_ms".into(), json!(keygen));

    // registration (hash + key pair, in wasm), then with a public key the
    // member made (hash and key check only): the difference is what the
    // key pair costs in wasm
    let mut reg = Vec::new();
    for i in 0..6 {
        let name = if i == 0 {
            "bench".to_string()
        } else {
            format!("bench{i}")
        };
        let start = Instant::now();
        let (status, _) = b
            .post_json(
                "/api/register",
                json!({"username": name, "password": PASSWORD}),
            )
            .await?;
        reg.push(start.elapsed().as_secs_f64() * 1000.0);
        if status != 201 {
            bail!("register: {status}");
        }
    }
    reg.sort_by(f64::total_cmp);
    let reg_p50 = percentile(&reg, 0.5);
    figures.insert("register_p50_ms".into(), json!(reg_p50));
    let mut own = Vec::new();
    for i in 0..6 {
        let name = format!("benchkey{i}");
        let pair = ausweis::openpgp::generate(&format!("{name}@example.org"), &pw)
            .map_err(|e| anyhow!("{e}"))?;
        let start = Instant::now();
        let (status, _) = b
            .post_json(
                "/api/register",
                json!({"username": name, "password": PASSWORD, "public_key": pair.public.armored}),
            )
            .await?;
        own.push(start.elapsed().as_secs_f64() * 1000.0);
        if status != 201 {
            bail!("register with a public key: {status}");
        }
    }
    own.sort_by(f64::total_cmp);
    let own_p50 = percentile(&own, 0.5);
    figures.insert("register_own_key_p50_ms".into(), json!(own_p50));
    figures.insert("pgp_keygen_ms".into(), json!(reg_p50 - own_p50));

    // login, each followed by one native hash, so that both see the same
    // load
    let mut logins = Vec::new();
    let mut hashes = Vec::new();
    for _ in 0..40 {
        let start = Instant::now();
        let (status, _) = b
            .post_json(
                "/api/login",
                json!({"username": "bench", "password": PASSWORD}),
            )
            .await?;
        logins.push(start.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            bail!("login: {status}");
        }
        hashes.push(median_ms(hash_once, 1)?);
    }
    logins.sort_by(f64::total_cmp);
    hashes.sort_by(f64::total_cmp);
    let argon = percentile(&hashes, 0.5);
    let p50 = percentile(&logins, 0.5);
    figures.insert("argon2_native_ms".into(), json!(argon));
    figures.insert("login_p50_ms".into(), json!(p50));
    figures.insert("login_p99_ms".into(), json!(percentile(&logins, 0.99)));
    figures.insert("login_ratio".into(), json!(p50 / argon));

    // refresh per algorithm, in the host and natively
    let mut refresh = BTreeMap::new();
    for alg in ALGS {
        let id = format!("bench-{}", alg.to_lowercase());
        let made = b
            .admin_put(
                &format!("/admin/clients/{id}"),
                json!({"redirect_uris": [REDIRECT], "signing_alg": alg, "first_party": true}),
            )
            .await?;
        let secret = made["client_secret"]
            .as_str()
            .ok_or_else(|| anyhow!("no secret"))?
            .to_owned();
        let code = load::authorization_code(&b.base, &id, "bench", PASSWORD).await?;
        let first = b
            .token(
                &id,
                &secret,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                ],
            )
            .await?;
        let r0 = first["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (n, wall, cpu) = refresh_loop(&b, &id, &secret, r0, secs).await?;
        let per_core = n as f64 / cpu.max(0.01);
        let native = native_refresh(alg, secs)?;
        refresh.insert(
            alg,
            json!({"count": n, "per_s_wall": n as f64 / wall, "per_s_per_core": per_core,
                   "native_per_s": native, "ratio_native_over_host": native / per_core}),
        );
    }
    let default_alg = &refresh["RS256"];
    figures.insert(
        "refresh_per_s_per_core".into(),
        default_alg["per_s_per_core"].clone(),
    );
    figures.insert(
        "refresh_native_per_s".into(),
        default_alg["native_per_s"].clone(),
    );
    figures.insert("refresh_by_alg".into(), json!(refresh));

    // JWKS: a fresh instance per request, as Spin does
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs && n < 1_000_000 {
        let r = b.http.get(format!("{}/oidc/jwks", b.base)).send().await?;
        if !r.status().is_success() {
            bail!("jwks: {}", r.status());
        }
        r.bytes().await?;
        n += 1;
    }
    let jwks_cpu = cpu_seconds() - cpu0;
    figures.insert(
        "jwks_per_s_per_core".into(),
        json!(n as f64 / jwks_cpu.max(0.01)),
    );
    figures.insert(
        "jwks_per_s_wall".into(),
        json!(n as f64 / start.elapsed().as_secs_f64()),
    );

    // profile, account and redeem once each, so that every component has
    // a memory peak; redeem answers 404 no_redemption (no Pretix here)
    if let Err(e) = b.member_round("bench5").await {
        eprintln!("{}", app.guest_output());
        return Err(e);
    }

    // an empty request to oidc (POST to the JWKS route: 405 before any
    // store is opened), to tell instantiation from the JWKS handler's work
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs && n < 1_000_000 {
        let r = b.http.post(format!("{}/oidc/jwks", b.base)).send().await?;
        if r.status() != reqwest::StatusCode::METHOD_NOT_ALLOWED {
            bail!("empty oidc request: {}", r.status());
        }
        r.bytes().await?;
        n += 1;
    }
    let empty_cpu = cpu_seconds() - cpu0;
    figures.insert(
        "oidc_empty_per_s_per_core".into(),
        json!(n as f64 / empty_cpu.max(0.01)),
    );

    // the host alone (its health route: no component), for the share of
    // the HTTP client and server in the figures above
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs && n < 1_000_000 {
        let r = b
            .http
            .get(format!("{}/.well-known/spin/health", b.base))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("health: {}", r.status());
        }
        r.bytes().await?;
        n += 1;
    }
    let host_cpu = cpu_seconds() - cpu0;
    figures.insert(
        "host_only_per_s_per_core".into(),
        json!(n as f64 / host_cpu.max(0.01)),
    );

    // the most linear memory one instance of each component reached
    let mut memory = BTreeMap::new();
    let mut instances = BTreeMap::new();
    for (id, usage) in app.peak_usage() {
        memory.insert(
            id.clone(),
            json!(usage.memory_bytes as f64 / (1024.0 * 1024.0)),
        );
        instances.insert(id, json!(usage.instances));
    }
    figures.insert("peak_memory_mib".into(), json!(memory));
    figures.insert("instances".into(), json!(instances));

    // component sizes
    let manifest = Manifest::load(&manifest_path)?;
    let mut sizes = BTreeMap::new();
    for (name, decl) in &manifest.components {
        let path = manifest.source_path(decl);
        let len = std::fs::metadata(&path)
            .with_context(|| format!("{}", path.display()))?
            .len();
        sizes.insert(name.clone(), json!(len));
    }
    figures.insert("wasm_bytes".into(), json!(sizes));
    figures.insert(
        "cores".into(),
        json!(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)),
    );
    app.shutdown().await;

    println!("{:<28} {:>14}", "figure", "value");
    for (k, v) in &figures {
        match v {
            Value::Number(x) => println!("{k:<28} {:>14.2}", x.as_f64().unwrap_or(0.0)),
            other => println!("{k:<28} {other}"),
        }
    }
    if let Some(path) = out {
        std::fs::write(&path, serde_json::to_string_pretty(&figures)?)?;
        println!("written to {path}");
    }
    Ok(())
}
