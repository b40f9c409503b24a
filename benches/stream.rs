//! What streaming the access log to a SIEM costs the requests: three
//! `signet serve` processes of the same build in one run, each on its own
//! SQLite database, rounds alternating between them: without a stream (the
//! baseline), streaming to a syslog receiver that takes everything, and
//! streaming to a receiver that is down. Each round: 64 connections reading a
//! version (every request audited) for a few seconds. Reports reads per
//! second, p50 and p99 latency and the CPU of each Signet process per read;
//! and for the live stream, how far behind the log's head it was when the
//! load ended and how long it took to deliver the rest.
//!
//! cargo bench --bench stream
//! SIGNET_BENCH_STREAM_SECS=10 SIGNET_BENCH_STREAM_ROUNDS=4 (longer rounds, more of them)

#[path = "common.rs"]
mod common;

use common::pct;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

const CONNS: usize = 64;
const TOKEN: &str = "sgn_bench-stream-00000000000000000000000000000";
const VERSION: &str = "/v1/models/fraud/scorer/versions/1";

/// A syslog receiver over TCP that reads every connection to its end and
/// keeps the highest event sequence number it has seen.
async fn receiver() -> (u16, Arc<AtomicI64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let highest = Arc::new(AtomicI64::new(0));
    let seen = highest.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut all = Vec::new();
                let _ = conn.read_to_end(&mut all).await;
                let text = String::from_utf8_lossy(&all);
                if let Some(i) = text.rfind("\"sequence\":") {
                    let digits: String = text[i + 11..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    if let Ok(n) = digits.parse::<i64>() {
                        seen.fetch_max(n, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    (port, highest)
}

struct Server {
    label: &'static str,
    base: String,
    client: reqwest::Client,
    process: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(label: &'static str, stream: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        std::fs::create_dir_all(&blobs).unwrap();
        let db = format!("sqlite://{}", dir.path().join("signet.db").display());
        let port = common::free_port();
        let mut cmd = common::unlimited_serve(port, &db, &blobs, TOKEN);
        cmd.env("RUST_LOG", "error")
            .env("SIGNET_DATA_DIR", dir.path())
            .env("SIGNET_METRICS_LISTEN", "off");
        if let Some(s) = stream {
            cmd.env("SIGNET_AUDIT_STREAM", s);
        }
        let process = cmd.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONNS)
            .build()
            .unwrap();
        common::until_up(&client, &base, label).await;
        let s = Self {
            label,
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
            assert!(r.status().is_success(), "{label} {path}: {}", r.status());
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
}

#[tokio::main]
async fn main() {
    let secs = common::env_u64("SIGNET_BENCH_STREAM_SECS", 5);
    let rounds = common::env_u64("SIGNET_BENCH_STREAM_ROUNDS", 3);
    let (port, highest) = receiver().await;
    let down = common::free_port();
    let servers = [
        Server::start("no stream", None).await,
        Server::start(
            "stream to a live receiver",
            Some(format!("syslog+tcp://127.0.0.1:{port}")),
        )
        .await,
        Server::start(
            "stream to a receiver that is down",
            Some(format!("syslog+tcp://127.0.0.1:{down}")),
        )
        .await,
    ];
    let mut lat: Vec<Vec<Duration>> = vec![Vec::new(); servers.len()];
    let mut cpu = vec![0.0; servers.len()];
    let mut lags = Vec::new();
    for _ in 0..rounds {
        for (i, s) in servers.iter().enumerate() {
            let (l, c) = s.round(secs).await;
            lat[i].extend(l);
            cpu[i] += c;
            if i == 1 {
                // How far behind the head the stream was when the load
                // ended, and how long the rest took to arrive.
                let ended = Instant::now();
                let head = common::chain_head(&s.client, &s.base, TOKEN).await;
                let behind = head - highest.load(Ordering::Relaxed);
                while highest.load(Ordering::Relaxed) < head {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                lags.push((behind, ended.elapsed()));
            }
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
    for (behind, took) in lags {
        println!(
            "live stream: {behind} events behind the head when the load ended, all delivered {:.0} ms later",
            took.as_secs_f64() * 1e3
        );
    }
}
