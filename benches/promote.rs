//! Promotion latency over real HTTP: PUT alias with verification, policy and
//! history, with 1 and 16 concurrent approvers. The metadata store is the one
//! named by SIGNET_BENCH_DATABASE_URL (default: a fresh SQLite file); blobs go to
//! a temporary directory (promotion reads no blob).
//!
//! cargo bench --bench promote
//! SIGNET_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/signet_bench cargo bench --bench promote

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let bench = common::start().await;
    let base = bench.base.clone();
    let db = bench.backend.clone();
    let c = reqwest::Client::new();
    let tok = bench.token.clone();
    let call = |m: reqwest::Method, p: &str| c.request(m, format!("{base}{p}")).bearer_auth(&tok);

    use reqwest::Method as M;
    common::given_model(&bench, &c).await;
    let sk = common::registered_key(&bench, &c).await;
    let lineage = json!({"code": {"commit": "ab".repeat(20)}, "data": [{"sha256": "cd".repeat(32)}], "environment": {"image": "x"}});
    for i in 1..=2 {
        call(M::POST, "/v1/models/fraud/scorer/versions")
            .json(&json!({"lineage": lineage}))
            .send()
            .await
            .unwrap();
        for f in 0..8 {
            call(
                M::PUT,
                &format!("/v1/models/fraud/scorer/versions/{i}/files/shard-{f}.bin"),
            )
            .body(vec![i as u8; 1024])
            .send()
            .await
            .unwrap();
        }
        let sealed: Value = call(
            M::POST,
            &format!("/v1/models/fraud/scorer/versions/{i}/seal"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        common::sign(
            &bench,
            &c,
            &sk,
            &format!("/v1/models/fraud/scorer/versions/{i}"),
            &sealed["statement"],
        )
        .await;
    }

    println!("backend: {db}");
    // Same alias: every approver queues on one alias row (moves are serialized so
    // history keeps them all, in order). Distinct aliases: each approver its own.
    for (concurrency, shared) in [(1usize, true), (16, true), (16, false)] {
        let per_worker = 2000 / concurrency;
        let started = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|w| {
                let alias = if shared {
                    "production".to_owned()
                } else {
                    format!("canary-{w}")
                };
                let req = call(M::PUT, &format!("/v1/models/fraud/scorer/aliases/{alias}"));
                tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(per_worker);
                    for i in 0..per_worker {
                        let r = req
                            .try_clone()
                            .unwrap()
                            .json(&json!({"version": 1 + (w + i) % 2}));
                        let t = Instant::now();
                        let resp = r.send().await.unwrap();
                        assert_eq!(resp.status(), 200);
                        resp.bytes().await.unwrap();
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        let mut all: Vec<Duration> = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        let wall = started.elapsed();
        all.sort();
        let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
        println!(
            "{concurrency:>2} approvers, {}: {} promotions in {:.2} s ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms",
            if shared { "one alias  " } else { "own aliases" },
            all.len(),
            wall.as_secs_f64(),
            all.len() as f64 / wall.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3
        );
    }
}
