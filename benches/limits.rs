//! The rate limiter's cost on the audited read path: `GET` a version at 64
//! concurrent connections, against two Signets of the same build in one run, one
//! with limits off and one with a per-principal limit set so high it never
//! refuses (every request still goes through the limiter). Rounds alternate so
//! drift in the machine hits both alike.
//!
//! cargo bench --bench limits

#[path = "common.rs"]
mod common;

use std::time::Instant;

use serde_json::json;

const CONNS: usize = 64;
const PER_ROUND: usize = 12_800;
const ROUNDS: usize = 8;

async fn prepare(b: &common::Bench) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNS)
        .build()
        .unwrap();
    common::given_model(b, &c).await;
    c.post(format!("{}/v1/models/fraud/scorer/versions", b.base))
        .bearer_auth(&b.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    c
}

/// Requests per second of one round.
async fn round(b: &common::Bench, c: &reqwest::Client) -> f64 {
    let url = format!("{}/v1/models/fraud/scorer/versions/1", b.base);
    let t = Instant::now();
    let workers: Vec<_> = (0..CONNS)
        .map(|_| {
            let (c, url, tok) = (c.clone(), url.clone(), b.token.clone());
            tokio::spawn(async move {
                for _ in 0..PER_ROUND / CONNS {
                    let r = c.get(&url).bearer_auth(&tok).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    PER_ROUND as f64 / t.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    // The limited one starts first, so no advantage of order goes its way.
    let on = common::start_with("60000000/min:1000000").await;
    let off = common::start_with("off").await;
    let (c_off, c_on) = (prepare(&off).await, prepare(&on).await);
    round(&off, &c_off).await;
    round(&on, &c_on).await;
    let (mut sum_off, mut sum_on) = (0.0, 0.0);
    for i in 0..ROUNDS {
        let (a, b) = if i % 2 == 0 {
            let a = round(&off, &c_off).await;
            (a, round(&on, &c_on).await)
        } else {
            let b = round(&on, &c_on).await;
            (round(&off, &c_off).await, b)
        };
        println!("round {i}: limits off {a:.0}/s, limits on {b:.0}/s");
        sum_off += a;
        sum_on += b;
    }
    println!(
        "audited GET version, {CONNS} connections, {} backend: limits off {:.0}/s, on {:.0}/s, on/off = {:.3}",
        off.backend,
        sum_off / ROUNDS as f64,
        sum_on / ROUNDS as f64,
        sum_on / sum_off
    );
}
