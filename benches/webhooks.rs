//! What webhooks cost the requests, and how soon an event reaches its
//! receiver: three `signet serve` processes of the same build in one run,
//! each on its own SQLite database, rounds alternating between them: no
//! webhooks (the baseline), 10 and 50 subscriptions of the namespace (to a
//! local receiver, for sealed versions: every subscription reads the whole
//! access log, matching events or not). Each round: 64 connections reading a
//! version (every request audited) for a few seconds. Reports reads per
//! second, p50 and p99 latency and the CPU of each Signet process per read;
//! then, on the servers with webhooks, the delay from a seal's answer to its
//! event reaching the receiver, for the first and the last subscription.
//!
//! cargo bench --bench webhooks
//! SIGNET_BENCH_WEBHOOKS_SECS=10 SIGNET_BENCH_WEBHOOKS_ROUNDS=4 (longer rounds, more of them)

#[path = "common.rs"]
mod common;

use common::pct;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CONNS: usize = 64;
const TOKEN: &str = "sgn_bench-webhooks-000000000000000000000000000";
const VERSION: &str = "/v1/models/fraud/scorer/versions/1";
const SEALS: usize = 20;

/// When each (subscription, version) event arrived.
type Arrivals = Arc<Mutex<HashMap<(String, i64), Vec<Instant>>>>;

/// A receiver over plain HTTP on loopback that notes when each event
/// arrived, by the server it came from (its path) and the version sealed.
async fn receiver() -> (u16, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().route(
        "/{server}/{n}",
        axum::routing::post(
            move |axum::extract::Path((server, _n)): axum::extract::Path<(String, u32)>,
                  body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                    if let Some(version) = v["data"]["version"].as_i64() {
                        seen.lock()
                            .unwrap()
                            .entry((server, version))
                            .or_default()
                            .push(Instant::now());
                    }
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, arrivals)
}

struct Server {
    label: String,
    hooks: usize,
    base: String,
    client: reqwest::Client,
    process: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(hooks: usize, receiver: u16) -> Self {
        let label = format!("{hooks} webhooks");
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        std::fs::create_dir_all(&blobs).unwrap();
        let db = format!("sqlite://{}", dir.path().join("signet.db").display());
        let port = common::free_port();
        let mut cmd = common::unlimited_serve(port, &db, &blobs, TOKEN);
        cmd.env("RUST_LOG", "error")
            .env("SIGNET_DATA_DIR", dir.path())
            .env("SIGNET_METRICS_LISTEN", "off")
            .env("SIGNET_WEBHOOK_ALLOW", "127.0.0.1");
        let process = cmd.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONNS)
            .build()
            .unwrap();
        common::until_up(&client, &base, &label).await;
        let s = Self {
            label,
            hooks,
            base,
            client,
            process,
            _dir: dir,
        };
        for (path, body) in [
            ("/v1/namespaces", json!({"name": "fraud"})),
            (
                "/v1/models",
                json!({"namespace": "fraud", "name": "scorer"}),
            ),
            ("/v1/models/fraud/scorer/versions", json!({})),
        ] {
            let r = s.post(path, &body).await;
            assert!(
                r.status().is_success(),
                "{} {path}: {}",
                s.label,
                r.status()
            );
        }
        for n in 0..hooks {
            let url = format!("http://127.0.0.1:{receiver}/{hooks}/{n}");
            let body = json!({"url": url, "event_types": ["dev.signet.version.sealed"]});
            let r = s.post("/v1/namespaces/fraud/webhooks", &body).await;
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
        s
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// One round: reads for `secs`; the latencies and the CPU seconds spent.
    async fn round(&self, secs: u64) -> (Vec<Duration>, f64) {
        let pid = self.process.id().unwrap();
        let cpu = common::cpu_secs(pid);
        let url = format!("{}{VERSION}", self.base);
        let all = common::read_load(&self.client, &url, TOKEN, CONNS, secs).await;
        (all, common::cpu_secs(pid) - cpu)
    }

    /// Seals versions one at a time, each once every subscription has its
    /// event: from the seal's answer to the first and the last arrival.
    async fn seal_delays(&self, arrivals: &Arrivals) -> (Vec<Duration>, Vec<Duration>) {
        let (mut first, mut last) = (Vec::new(), Vec::new());
        for _ in 0..SEALS {
            let r = self
                .post("/v1/models/fraud/scorer/versions", &json!({}))
                .await;
            let v = r.json::<Value>().await.unwrap()["version"]
                .as_i64()
                .unwrap();
            let put = self
                .client
                .put(format!(
                    "{}/v1/models/fraud/scorer/versions/{v}/files/m.bin",
                    self.base
                ))
                .bearer_auth(TOKEN)
                .body("weights")
                .send()
                .await
                .unwrap();
            assert_eq!(put.status(), 201);
            let path = format!("/v1/models/fraud/scorer/versions/{v}/seal");
            let r = self.post(&path, &json!({})).await;
            assert_eq!(r.status(), 200);
            let sealed = Instant::now();
            let key = (self.hooks.to_string(), v);
            let all = loop {
                let got = arrivals
                    .lock()
                    .unwrap()
                    .get(&key)
                    .cloned()
                    .unwrap_or_default();
                if got.len() >= self.hooks {
                    break got;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            };
            let at = |t: &Instant| t.saturating_duration_since(sealed);
            first.push(all.iter().map(at).min().unwrap());
            last.push(all.iter().map(at).max().unwrap());
        }
        first.sort();
        last.sort();
        (first, last)
    }
}

#[tokio::main]
async fn main() {
    let secs = common::env_u64("SIGNET_BENCH_WEBHOOKS_SECS", 5);
    let rounds = common::env_u64("SIGNET_BENCH_WEBHOOKS_ROUNDS", 3);
    let (port, arrivals) = receiver().await;
    let servers = [
        Server::start(0, port).await,
        Server::start(10, port).await,
        Server::start(50, port).await,
    ];
    let mut lat: Vec<Vec<Duration>> = vec![Vec::new(); servers.len()];
    let mut cpu = vec![0.0; servers.len()];
    for _ in 0..rounds {
        for (i, s) in servers.iter().enumerate() {
            let (l, c) = s.round(secs).await;
            lat[i].extend(l);
            cpu[i] += c;
        }
    }
    println!("{rounds} rounds of {secs} s, {CONNS} connections, SQLite each\n");
    println!("| server | reads/s | × baseline | p50 ms | p99 ms | CPU µs per read |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let total = (rounds * secs) as f64;
    let base_rate = lat[0].len() as f64 / total;
    for (i, s) in servers.iter().enumerate() {
        let l = &mut lat[i];
        l.sort();
        let rate = l.len() as f64 / total;
        println!(
            "| {} | {rate:.0} | {:.3} | {:.2} | {:.2} | {:.0} |",
            s.label,
            rate / base_rate,
            pct(l, 0.5),
            pct(l, 0.99),
            cpu[i] / l.len() as f64 * 1e6
        );
    }
    println!("\n{SEALS} seals, one at a time, from the seal's answer to the event's arrival\n");
    println!("| server | first subscription p50 ms | p99 ms | last subscription p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- | --- |");
    for s in servers.iter().filter(|s| s.hooks > 0) {
        let (first, last) = s.seal_delays(&arrivals).await;
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            s.label,
            pct(&first, 0.5),
            pct(&first, 0.99),
            pct(&last, 0.5),
            pct(&last, 0.99)
        );
    }
}
