//! The cost of metrics and of TLS on the audited read path: `GET` a version at
//! 64 concurrent connections against three `signet serve` processes of the same
//! build, started in one run with the same embedded defaults (SQLite + a local
//! directory): the baseline (metrics off, plain HTTP), metrics on
//! (`SIGNET_METRICS_LISTEN` set, scraped once a round), and TLS on (metrics
//! off). Rounds rotate the order so drift in the machine hits all alike. The
//! load comes from this process, on the same machine: with TLS it pays for
//! its side of the encryption too.
//!
//! cargo bench --bench ops

#[path = "common.rs"]
mod common;

use std::process::Stdio;
use std::time::Instant;

use serde_json::json;

const CONNS: usize = 64;
const PER_ROUND: usize = 6_400;
const ROUNDS: usize = 12;

struct Server {
    label: &'static str,
    base: String,
    metrics: Option<String>,
    client: reqwest::Client,
    _process: tokio::process::Child,
}

fn openssl(args: &str) {
    let ok = std::process::Command::new("openssl")
        .args(args.split_whitespace())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl {args}");
}

const TOKEN: &str = "sgn_bench-ops-0000000000000000000000000000000";

async fn start(
    label: &'static str,
    dir: &std::path::Path,
    metrics: bool,
    tls: Option<(&str, &str, &reqwest::Certificate)>,
) -> Server {
    let port = common::free_port();
    let work = dir.join(label);
    std::fs::create_dir_all(&work).unwrap();
    let db = format!("sqlite://{}", work.join("s.db").display());
    let mut cmd = common::unlimited_serve(port, &db, &work.join("blobs"), TOKEN);
    cmd.env("RUST_LOG", "warn");
    let metrics = metrics.then(|| format!("127.0.0.1:{}", common::free_port()));
    cmd.env("SIGNET_METRICS_LISTEN", metrics.as_deref().unwrap_or("off"));
    let mut client = reqwest::Client::builder().pool_max_idle_per_host(CONNS);
    let scheme = match tls {
        Some((cert, key, ca)) => {
            cmd.env("SIGNET_TLS_CERT", cert).env("SIGNET_TLS_KEY", key);
            client = client.tls_certs_only([ca.clone()]);
            "https"
        }
        None => "http",
    };
    let process = cmd.spawn().unwrap();
    let base = format!("{scheme}://localhost:{port}");
    let client = client.build().unwrap();
    common::until_up(&client, &base, label).await;
    for (path, body) in [
        ("/v1/namespaces", json!({"name": "fraud"})),
        (
            "/v1/models",
            json!({"namespace": "fraud", "name": "scorer"}),
        ),
        ("/v1/models/fraud/scorer/versions", json!({})),
    ] {
        let r = client
            .post(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{label} {path}: {}", r.status());
    }
    Server {
        label,
        base,
        metrics: metrics.map(|m| format!("http://{m}/metrics")),
        client,
        _process: process,
    }
}

/// Requests per second of one round.
async fn round(s: &Server) -> f64 {
    let url = format!("{}/v1/models/fraud/scorer/versions/1", s.base);
    let t = Instant::now();
    let workers: Vec<_> = (0..CONNS)
        .map(|_| {
            let (c, url) = (s.client.clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..PER_ROUND / CONNS {
                    let r = c.get(&url).bearer_auth(TOKEN).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let rate = PER_ROUND as f64 / t.elapsed().as_secs_f64();
    if let Some(m) = &s.metrics {
        // A scrape, as Prometheus would make between rounds.
        let text = reqwest::get(m).await.unwrap().text().await.unwrap();
        assert!(text.contains("signet_http_request_duration_seconds_count"));
    }
    rate
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f).display().to_string();
    // A CA, and a server certificate for localhost it issues.
    openssl(&format!(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
         -keyout {} -out {}",
        d("ca.key"),
        d("ca.pem")
    ));
    std::fs::write(
        d("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&format!(
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
         -keyout {} -out {}",
        d("tls.key"),
        d("tls.csr")
    ));
    openssl(&format!(
        "x509 -req -in {} -CA {} -CAkey {} -set_serial 1 -days 1 -extfile {} -out {}",
        d("tls.csr"),
        d("ca.pem"),
        d("ca.key"),
        d("leaf.ext"),
        d("tls.pem")
    ));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(d("ca.pem")).unwrap()).unwrap();
    let servers = [
        start("baseline", dir.path(), false, None).await,
        start("metrics", dir.path(), true, None).await,
        start(
            "tls",
            dir.path(),
            false,
            Some((&d("tls.pem"), &d("tls.key"), &ca)),
        )
        .await,
    ];
    for s in &servers {
        round(s).await;
    }
    // Each round measures the three back to back; a round's ratios are thus
    // taken under the same load on the machine, and their median across rounds
    // is what is reported (the machine's drift between rounds is large here).
    let mut sums = [0.0; 3];
    let mut ratios = [Vec::new(), Vec::new()];
    for i in 0..ROUNDS {
        let mut line = format!("round {i}:");
        let mut rates = [0.0; 3];
        for k in 0..3 {
            let j = (i + k) % 3;
            rates[j] = round(&servers[j]).await;
            sums[j] += rates[j];
            line += &format!(" {} {:.0}/s", servers[j].label, rates[j]);
        }
        ratios[0].push(rates[1] / rates[0]);
        ratios[1].push(rates[2] / rates[0]);
        println!("{line}");
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
    };
    let mean = |j: usize| sums[j] / ROUNDS as f64;
    println!(
        "audited GET version, {CONNS} connections, SQLite, {ROUNDS} rounds: baseline {:.0}/s, metrics on {:.0}/s, TLS on {:.0}/s (means); \
         median ratio to the baseline of the same round: metrics on {:.3}, TLS on {:.3}",
        mean(0),
        mean(1),
        mean(2),
        median(&mut ratios[0]),
        median(&mut ratios[1]),
    );
}
