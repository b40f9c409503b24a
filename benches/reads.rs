//! Audited reads on each metadata store: `GET` a signed, sealed version at 64
//! concurrent connections against two `signet serve` processes of the same
//! build started in one run, one on SQLite and one on PostgreSQL (both with a
//! local blob directory), rounds alternating between them. Reports requests
//! per second, p50 and p99 latency, the CPU each request costs the Signet
//! process and the PostgreSQL server (summed over its processes, from
//! /proc), and how many SQL statements one request sends (counted by a third
//! process on PostgreSQL that logs every statement, over 200 requests one
//! at a time; each request then commits its audit event alone, where under
//! load one commit carries many). Then the same load spread over 1, 2 and 3
//! replicas on the PostgreSQL database (`SIGNET_BENCH_REPLICAS`, default 3).
//!
//! Beside them, the machine's floor for PostgreSQL: the cheapest statement
//! (one row by primary key) sent by 64 tasks over 8 connections, as Signet's
//! pool sends them (and, for comparison, with a ping before each as well, and
//! on bare connections with none), with the database CPU each costs; the
//! access-log events each append transaction carried; and from the measured
//! CPU per read, how much of it PostgreSQL could spend for its reads to run
//! at 0.9× of SQLite's on these cores, in those cheapest statements.
//!
//! cargo bench --bench reads
//! SIGNET_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres (the default;
//! options such as `?sslmode=disable` carry over to the bench's databases)

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CONNS: usize = 64;
const PER_ROUND: usize = 12_800;
const ROUNDS: usize = 6;
const COUNTED: usize = 200;
const FLOOR_STATEMENTS: usize = 64_000;
const TOKEN: &str = "sgn_bench-reads-000000000000000000000000000000";
const VERSION: &str = "/v1/models/fraud/scorer/versions/1";

struct Server {
    label: &'static str,
    base: String,
    metrics: String,
    client: reqwest::Client,
    process: tokio::process::Child,
}

async fn start(
    label: &'static str,
    database_url: &str,
    blobs: &std::path::Path,
    log: Option<&std::path::Path>,
) -> Server {
    let port = common::free_port();
    let metrics_port = common::free_port();
    let mut cmd = common::unlimited_serve(port, database_url, blobs, TOKEN);
    cmd.env("SIGNET_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"));
    match log {
        // Every statement sqlx sends, as one log line each.
        Some(path) => {
            let out = std::fs::File::create(path).unwrap();
            cmd.env("RUST_LOG", "warn,sqlx::query=debug")
                .env("NO_COLOR", "1")
                .stdout(out.try_clone().unwrap())
                .stderr(out);
        }
        None => {
            cmd.env("RUST_LOG", "warn");
        }
    }
    let process = cmd.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNS)
        .build()
        .unwrap();
    common::until_up(&client, &base, label).await;
    Server {
        label,
        base,
        metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
        client,
        process,
    }
}

impl Server {
    /// Access-log events per append transaction so far, from the server's metrics.
    async fn events_per_batch(&self) -> f64 {
        let text = self
            .client
            .get(&self.metrics)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
                .unwrap_or(0.0)
        };
        value("signet_audit_append_batch_size_sum") / value("signet_audit_append_batch_size_count")
    }
}

/// A namespace, a model, and version 1 with one file, sealed and signed.
async fn seed(s: &Server) {
    let c = &s.client;
    let call =
        |m: reqwest::Method, p: &str| c.request(m, format!("{}{p}", s.base)).bearer_auth(TOKEN);
    use reqwest::Method as M;
    let lineage = json!({
        "code": {"repo": "https://git.example.com/fraud/scorer",
                 "commit": "0123456789abcdef0123456789abcdef01234567"},
        "data": [{"name": "tx",
                  "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}],
    });
    for (path, body) in [
        ("/v1/namespaces", json!({"name": "fraud"})),
        (
            "/v1/models",
            json!({"namespace": "fraud", "name": "scorer"}),
        ),
        (
            "/v1/models/fraud/scorer/versions",
            json!({ "lineage": lineage }),
        ),
    ] {
        let r = call(M::POST, path).json(&body).send().await.unwrap();
        assert!(
            r.status().is_success(),
            "{} {path}: {}",
            s.label,
            r.status()
        );
    }
    let sk = common::registered_key_at(&s.base, TOKEN, c).await;
    let r = call(M::PUT, &format!("{VERSION}/files/weights.dat"))
        .body(vec![7u8; 4096])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{}: upload {}",
        s.label,
        r.status()
    );
    let sealed: Value = call(M::POST, &format!("{VERSION}/seal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    common::sign_at(&s.base, TOKEN, c, &sk, VERSION, &sealed["statement"]).await;
    let v: Value = call(M::GET, VERSION)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["verified"], true, "{}: {v}", s.label);
}

/// CPU seconds (user + system) the processes whose command name starts with
/// `name` have used, or the one process `pid`.
fn cpu_seconds(name: Option<&str>, pid: Option<u32>) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let file_name = entry.file_name();
        let Some(p) = file_name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid.is_some_and(|want| want != p) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid … utime stime are the 14th and 15th fields.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        if name.is_some_and(|n| !comm.starts_with(n)) {
            continue;
        }
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        total += rest[11].parse::<u64>().unwrap_or(0) + rest[12].parse::<u64>().unwrap_or(0);
    }
    total as f64 / ticks
}

struct Round {
    rate: f64,
    latencies: Vec<Duration>,
    signet_cpu: f64,
    db_cpu: f64,
    /// This process: the load generator.
    client_cpu: f64,
}

fn own_cpu() -> f64 {
    cpu_seconds(None, Some(std::process::id()))
}

/// `n` reads at `CONNS` connections, spread evenly over `servers` (replicas of
/// one registry, or one server).
async fn round(servers: &[&Server], n: usize) -> Round {
    let pids: Vec<u32> = servers.iter().filter_map(|s| s.process.id()).collect();
    let signet_cpu = || {
        pids.iter()
            .map(|p| cpu_seconds(None, Some(*p)))
            .sum::<f64>()
    };
    let (signet0, db0) = (signet_cpu(), cpu_seconds(Some("postgres"), None));
    let client0 = own_cpu();
    let t = Instant::now();
    let workers: Vec<_> = (0..CONNS)
        .map(|w| {
            let s = servers[w % servers.len()];
            let (c, url) = (s.client.clone(), format!("{}{VERSION}", s.base));
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(n / CONNS);
                for _ in 0..n / CONNS {
                    let t = Instant::now();
                    let r = c.get(&url).bearer_auth(TOKEN).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = t.elapsed().as_secs_f64();
    Round {
        rate: n as f64 / elapsed,
        latencies,
        signet_cpu: signet_cpu() - signet0,
        db_cpu: cpu_seconds(Some("postgres"), None) - db0,
        client_cpu: own_cpu() - client0,
    }
}

/// Mean CPU per request over `rs`, in µs: Signet, PostgreSQL, the client.
fn cpu_per_request(rs: &[Round]) -> [f64; 3] {
    let n = (rs.len() * PER_ROUND) as f64;
    let mean = |f: fn(&Round) -> f64| rs.iter().map(f).sum::<f64>() / n * 1e6;
    [
        mean(|r| r.signet_cpu),
        mean(|r| r.db_cpu),
        mean(|r| r.client_cpu),
    ]
}

/// Prints one line of figures over `rs`; answers the mean rate.
fn report(label: &str, rs: &[Round]) -> f64 {
    let rate = rs.iter().map(|r| r.rate).sum::<f64>() / rs.len() as f64;
    let mut lat: Vec<Duration> = rs
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    lat.sort();
    let [signet_cpu, db_cpu, client_cpu] = cpu_per_request(rs);
    println!(
        "  {label:<12} {rate:>6.0} req/s, p50 {:.1} ms, p99 {:.1} ms; CPU per request: Signet {signet_cpu:.0} µs, PostgreSQL {db_cpu:.0} µs, client {client_cpu:.0} µs",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    );
    rate
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// What a logging server on PostgreSQL sent for `COUNTED` reads made one at a
/// time: statements per read, and for each statement (by its summary) how
/// many per read and its mean time as Signet saw it.
struct Counted {
    per_read: f64,
    each: Vec<(String, f64, f64)>,
}

async fn statements_per_read(
    pg_url: &str,
    blobs: &std::path::Path,
    log: &std::path::Path,
) -> Counted {
    let s = start("counted", pg_url, blobs, Some(log)).await;
    seed(&s).await;
    // What the seeding and the start logged is not counted.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = std::fs::read_to_string(log).unwrap().len();
    for _ in 0..COUNTED {
        let r = s
            .client
            .get(format!("{}{VERSION}", s.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Each answer waited for its audit event's commit, so its log lines are
    // written.
    drop(s);
    let text = std::fs::read_to_string(log).unwrap();
    let mut each: std::collections::BTreeMap<String, (usize, f64)> = Default::default();
    let mut total = 0;
    for line in text[before..].lines().filter(|l| l.contains("sqlx::query")) {
        let field = |name: &str| {
            let at = line.find(&format!(" {name}="))? + name.len() + 2;
            let rest = &line[at..];
            Some(if let Some(quoted) = rest.strip_prefix('"') {
                quoted[..quoted.find('"')?].to_owned()
            } else {
                rest.split(' ').next()?.to_owned()
            })
        };
        let (Some(summary), Some(secs)) = (field("summary"), field("elapsed_secs")) else {
            continue;
        };
        let e = each.entry(summary).or_default();
        e.0 += 1;
        e.1 += secs.parse::<f64>().unwrap_or(0.0);
        total += 1;
    }
    let mut each: Vec<(String, f64, f64)> = each
        .into_iter()
        .map(|(k, (n, t))| (k, n as f64 / COUNTED as f64, t / n as f64 * 1e6))
        .collect();
    each.sort_by(|a, b| (b.1 * b.2).total_cmp(&(a.1 * a.2)));
    Counted {
        per_read: total as f64 / COUNTED as f64,
        each,
    }
}

/// How the floor's statements reach PostgreSQL.
#[derive(Clone, Copy)]
enum Sent {
    /// From a pool that pings a connection before handing it out and again when
    /// it comes back (sqlx's default).
    PingBoth,
    /// From a pool that pings only when a connection comes back (Signet's, under
    /// load: it pings before only a connection idle for half a second).
    PingAfter,
    /// Over 8 connections of their own, each shared by its tasks: no ping.
    Bare,
}

/// The cheapest statement PostgreSQL answers (the trust epoch, one row by
/// primary key), `FLOOR_STATEMENTS` of them from `CONNS` tasks over 8
/// connections, sent as `sent` says: statements per second and the database's
/// CPU per statement.
async fn statement_floor(url: &str, sent: Sent) -> (f64, f64) {
    use sqlx::Connection;
    const SQL: &str = "SELECT n FROM trust_epoch WHERE id = 1";
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .test_before_acquire(matches!(sent, Sent::PingBoth))
        .connect(url)
        .await
        .unwrap();
    let mut bare = Vec::new();
    for _ in 0..8 {
        let conn = sqlx::PgConnection::connect(url).await.unwrap();
        bare.push(std::sync::Arc::new(tokio::sync::Mutex::new(conn)));
    }
    let db0 = cpu_seconds(Some("postgres"), None);
    let t = Instant::now();
    let tasks: Vec<_> = (0..CONNS)
        .map(|i| {
            let pool = pool.clone();
            let conn = bare[i % bare.len()].clone();
            tokio::spawn(async move {
                for _ in 0..FLOOR_STATEMENTS / CONNS {
                    let _: i64 = match sent {
                        Sent::Bare => {
                            let mut conn = conn.lock().await;
                            sqlx::query_scalar(SQL).fetch_one(&mut *conn).await
                        }
                        _ => sqlx::query_scalar(SQL).fetch_one(&pool).await,
                    }
                    .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let rate = FLOOR_STATEMENTS as f64 / t.elapsed().as_secs_f64();
    let db = (cpu_seconds(Some("postgres"), None) - db0) / FLOOR_STATEMENTS as f64 * 1e6;
    pool.close().await;
    (rate, db)
}

#[tokio::main]
async fn main() {
    let admin = std::env::var("SIGNET_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let dir = tempfile::tempdir().unwrap();
    let pg = sqlx::PgPool::connect(&admin)
        .await
        .expect("PostgreSQL reachable");
    let dbs = [
        format!("signet_bench_reads_{}", std::process::id()),
        format!("signet_bench_count_{}", std::process::id()),
    ];
    for db in &dbs {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
            .execute(&pg)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&pg)
            .await
            .unwrap();
    }
    // The same server and options (`?sslmode=…`), another database.
    let url_of = |db: &str| {
        let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let base = base.rsplit_once('/').unwrap().0;
        match query {
            "" => format!("{base}/{db}"),
            q => format!("{base}/{db}?{q}"),
        }
    };

    let counted = statements_per_read(
        &url_of(&dbs[1]),
        &dir.path().join("count-blobs"),
        &dir.path().join("count.log"),
    )
    .await;
    let servers = [
        start(
            "SQLite",
            &format!("sqlite://{}", dir.path().join("s.db").display()),
            &dir.path().join("s-blobs"),
            None,
        )
        .await,
        start(
            "PostgreSQL",
            &url_of(&dbs[0]),
            &dir.path().join("p-blobs"),
            None,
        )
        .await,
    ];
    for s in &servers {
        seed(s).await;
        round(&[s], PER_ROUND / 4).await;
    }
    let mut rounds: [Vec<Round>; 2] = [Vec::new(), Vec::new()];
    for i in 0..ROUNDS {
        for k in 0..2 {
            let j = (i + k) % 2;
            let r = round(&[&servers[j]], PER_ROUND).await;
            println!("round {i}: {} {:.0}/s", servers[j].label, r.rate);
            rounds[j].push(r);
        }
    }

    // Replicas: more servers on the PostgreSQL database (each its own pool of
    // connections), the same connections spread over them.
    let replicas = std::env::var("SIGNET_BENCH_REPLICAS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(3)
        .max(1);
    let mut extra = Vec::new();
    for k in 1..replicas {
        let blobs = dir.path().join(format!("p-blobs-{k}"));
        extra.push(start("PostgreSQL", &url_of(&dbs[0]), &blobs, None).await);
    }
    let mut scaled: Vec<Vec<Round>> = (0..replicas).map(|_| Vec::new()).collect();
    for s in &extra {
        round(&[s], PER_ROUND / 4).await;
    }
    for i in 0..ROUNDS / 2 {
        for (k, out) in scaled.iter_mut().enumerate().skip(1) {
            let set: Vec<&Server> = std::iter::once(&servers[1]).chain(&extra[..k]).collect();
            let r = round(&set, PER_ROUND).await;
            println!("round {i}: PostgreSQL × {} {:.0}/s", k + 1, r.rate);
            out.push(r);
        }
    }
    scaled[0] = std::mem::take(&mut rounds[1]);
    let per_batch = servers[1].events_per_batch().await;
    let floor = statement_floor(&url_of(&dbs[0]), Sent::PingAfter).await;
    let floor_ping_both = statement_floor(&url_of(&dbs[0]), Sent::PingBoth).await;
    let floor_bare = statement_floor(&url_of(&dbs[0]), Sent::Bare).await;

    println!(
        "machine: {} cores; audited GET of a signed version, {CONNS} connections, {ROUNDS} rounds of {PER_ROUND} each:",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let rates = [
        report(servers[0].label, &rounds[0]),
        report(servers[1].label, &scaled[0]),
    ];
    println!("  PostgreSQL / SQLite: {:.2}x", rates[1] / rates[0]);
    println!(
        "  SQL statements per read on PostgreSQL, {COUNTED} reads one at a time (each commits its own audit event; under load one commit carries many): {:.1}",
        counted.per_read
    );
    for (summary, n, micros) in &counted.each {
        println!("    {n:>5.2} × {micros:>6.0} µs  {summary}");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let [signet_pg, db_pg, client_pg] = cpu_per_request(&scaled[0]);
    // At 0.9× of SQLite's rate every read may cost the cores this much CPU in
    // all; what Signet and the client spend of it is measured above.
    let budget = cores * 1e6 / (0.9 * rates[0]) - signet_pg - client_pg;
    println!("  access-log events per append transaction under this load: {per_batch:.1}");
    println!(
        "  floor: the cheapest statement, {CONNS} tasks over 8 connections, as Signet's pool sends it (a ping as each connection comes back): {:.0} statements/s, PostgreSQL CPU {:.0} µs per statement",
        floor.0, floor.1
    );
    println!(
        "    with a ping before each statement too (sqlx's default pool): {:.0}/s, {:.0} µs; on bare connections (no ping): {:.0}/s, {:.0} µs",
        floor_ping_both.0, floor_ping_both.1, floor_bare.0, floor_bare.1
    );
    println!(
        "  for 0.9x of SQLite on {cores} cores, with Signet and the client as measured, PostgreSQL could spend {budget:.0} µs per read ({:.1} cheapest statements); it spent {db_pg:.0} µs ({:.1})",
        budget / floor.1,
        db_pg / floor.1
    );
    if replicas > 1 {
        println!(
            "  replicas on one PostgreSQL (the same {CONNS} connections spread over them; one replica is the PostgreSQL line above):"
        );
        for (k, rs) in scaled.iter().enumerate() {
            let rate = report(&format!("{} replica(s)", k + 1), rs);
            println!("               {:.2}x of one replica", rate / rates[1]);
        }
    }
    drop(extra);
    drop(servers);
    for db in &dbs {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .execute(&pg)
        .await;
    }
}
