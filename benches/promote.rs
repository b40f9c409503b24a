//! Promotion latency over real HTTP: PUT alias with verification, policy and
//! history, with 1 and 16 concurrent approvers; then one approver promoting to
//! an alias without attestation rules and to one with three (an evaluation's
//! threshold and a scan's findings in Rego, an SBOM present), each version
//! holding 3 or 24 attestations. The metadata store is the one
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

    // Attestation rules: the same promotions, to an alias without rules and
    // to one with three, alternating so both see the same database.
    let policy = json!({"attestations_required": {"gated": [
        {"predicate_type": EVALUATION, "signers": ["ci"],
         "conditions": ["input.predicate.metrics.accuracy >= 0.92"]},
        {"predicate_type": SCAN, "conditions": [
            "count([f | some f in input.predicate.findings; f.severity == \"critical\"]) == 0"]},
        {"predicate_type": "https://cyclonedx.org/bom"},
    ]}});
    let r = call(M::PUT, "/v1/namespaces/fraud/policy")
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (rounds, label) in [(1, "3 attestations"), (7, "24 attestations")] {
        for i in 1..=2 {
            for round in 0..rounds {
                let files: Value = call(M::GET, &format!("/v1/models/fraud/scorer/versions/{i}"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                for (t, predicate) in [
                    (
                        EVALUATION,
                        json!({"metrics": {"accuracy": 0.95}, "round": [rounds, round]}),
                    ),
                    (
                        SCAN,
                        json!({"findings": [{"severity": "low"}], "round": [rounds, round]}),
                    ),
                    (
                        "https://cyclonedx.org/bom",
                        json!({"bomFormat": "CycloneDX", "round": [rounds, round]}),
                    ),
                ] {
                    let r = call(
                        M::POST,
                        &format!("/v1/models/fraud/scorer/versions/{i}/attestations"),
                    )
                    .json(&attestation(&sk, &files, t, predicate))
                    .send()
                    .await
                    .unwrap();
                    assert_eq!(r.status(), 201);
                }
            }
        }
        let (mut plain, mut gated) = (Vec::new(), Vec::new());
        for i in 0..600 {
            let (alias, into) = match i % 2 {
                0 => ("plain", &mut plain),
                _ => ("gated", &mut gated),
            };
            let t = Instant::now();
            let r = call(M::PUT, &format!("/v1/models/fraud/scorer/aliases/{alias}"))
                .json(&json!({"version": 1 + (i / 2) % 2}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{alias}");
            r.bytes().await.unwrap();
            into.push(t.elapsed());
        }
        for (name, mut lat) in [("no rules   ", plain), ("three rules", gated)] {
            lat.sort();
            println!(
                " 1 approver, {name}, {label:>15}: {} promotions, p50 {:.2} ms, p99 {:.2} ms",
                lat.len(),
                common::pct(&lat, 0.50),
                common::pct(&lat, 0.99),
            );
        }
    }
}

const EVALUATION: &str = "https://signet.dev/attestations/evaluation/v1";
const SCAN: &str = "https://signet.dev/attestations/scan/v1";

/// A DSSE envelope of an in-toto statement of `predicate_type` about the
/// files of `version` (its answer), signed with `sk`.
fn attestation(
    sk: &ed25519_dalek::SigningKey,
    version: &Value,
    predicate_type: &str,
    predicate: Value,
) -> Value {
    use base64::Engine;
    use ed25519_dalek::Signer;
    let subject: Vec<Value> = version["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json!({"name": f["path"], "digest": {"sha256": f["sha256"]}}))
        .collect();
    let st = json!({"_type": "https://in-toto.io/Statement/v1", "subject": subject,
        "predicateType": predicate_type, "predicate": predicate});
    let payload = serde_json::to_vec(&st).unwrap();
    let ty = "application/vnd.in-toto+json";
    let sig = sk.sign(&signet::signing::dsse::pae(ty, &payload));
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({"payload": b64.encode(&payload), "payloadType": ty,
        "signatures": [{"sig": b64.encode(sig.to_bytes())}]})
}
