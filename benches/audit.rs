//! The access log's cost and speed:
//! - `GET` a version at 64 concurrent connections (every request audited), and the
//!   audit append alone at the same concurrency, on the same store;
//! - audit queries (filters, newest first) on a table of 1M events.
//!
//! cargo bench --bench audit
//! SIGNET_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/signet_bench_audit cargo bench --bench audit

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

fn summary(name: &str, mut lat: Vec<Duration>, wall: Duration) {
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "{name}: {} in {:.2} s = {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
}

#[tokio::main]
async fn main() {
    let bench = common::start().await;
    let base = bench.base.clone();
    let store = bench.store.clone();
    let db = bench.backend.clone();
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let tok = bench.token.clone();
    use reqwest::Method as M;
    let call = |m: M, p: &str| c.request(m, format!("{base}{p}")).bearer_auth(&tok);
    common::given_model(&bench, &c).await;
    call(M::POST, "/v1/models/fraud/scorer/versions")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    call(M::PUT, "/v1/models/fraud/scorer/versions/1/files/m.bin")
        .body("w")
        .send()
        .await
        .unwrap();
    println!("backend: {db}");

    let (conns, total) = (64usize, 6400usize);
    let t = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let req = call(M::GET, "/v1/models/fraud/scorer/versions/1");
            tokio::spawn(async move {
                let mut lat = Vec::new();
                for _ in 0..total / conns {
                    let s = Instant::now();
                    let r = req.try_clone().unwrap().send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                    lat.push(s.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await.unwrap());
    }
    summary("GET version, 64 connections, audited", lat, t.elapsed());

    let t = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut lat = Vec::new();
                for j in 0..total / conns {
                    let ctx = signet::audit::Context {
                        request_id: format!("bench-{i}-{j}"),
                        action: "GET /v1/models/{ns}/{model}/versions/{v}".into(),
                        resource: "/v1/models/fraud/scorer/versions/1".into(),
                        ..Default::default()
                    };
                    let s = Instant::now();
                    store
                        .append_audit(vec![ctx.event(200, false, chrono::Utc::now())])
                        .await
                        .unwrap();
                    lat.push(s.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await.unwrap());
    }
    summary(
        "audit append alone, one commit each, 64 concurrent",
        lat,
        t.elapsed(),
    );

    // 1M synthetic events (hashes are not chained: this measures queries only).
    let t = Instant::now();
    let fill = if db == "postgres" {
        "INSERT INTO audit_events SELECT 1000000 + g, to_char(now() - (g || ' seconds')::interval, \
         'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'r' || g, 'p' || (g % 500), NULL, \
         CASE g % 4 WHEN 0 THEN 'GET /v1/models/{ns}/{model}/versions/{v}/files/{path}' \
         ELSE 'GET /v1/models/{ns}/{model}/versions/{v}' END, 'ns' || (g % 50), \
         'ns' || (g % 50) || '/m' || (g % 7), '/v1/x', CASE WHEN g % 20 = 0 THEN 'denied' ELSE 'allowed' END, \
         200, '127.0.0.1', '{}', '', '' FROM generate_series(1, 1000000) g"
    } else {
        "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 1000000) \
         INSERT INTO audit_events SELECT 1000000 + g, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || g || ' seconds'), \
         'r' || g, 'p' || (g % 500), NULL, \
         CASE g % 4 WHEN 0 THEN 'GET /v1/models/{ns}/{model}/versions/{v}/files/{path}' \
         ELSE 'GET /v1/models/{ns}/{model}/versions/{v}' END, 'ns' || (g % 50), \
         'ns' || (g % 50) || '/m' || (g % 7), '/v1/x', CASE WHEN g % 20 = 0 THEN 'denied' ELSE 'allowed' END, \
         200, '127.0.0.1', '{}', '', '' FROM s"
    };
    if db == "postgres" {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&bench.database_url)
            .await
            .unwrap();
        sqlx::raw_sql(fill).execute(&mut conn).await.unwrap();
        sqlx::raw_sql("ANALYZE audit_events")
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&bench.database_url)
            .await
            .unwrap();
        sqlx::raw_sql(fill).execute(&mut conn).await.unwrap();
        sqlx::raw_sql("ANALYZE").execute(&mut conn).await.unwrap();
    }
    println!("filled 1M events in {:.1} s", t.elapsed().as_secs_f64());
    for q in [
        "limit=50",
        "namespace=ns7&limit=50",
        "principal=p42&limit=50",
        "model=ns7/m3&outcome=denied&limit=50",
        "namespace=ns7&action=GET%20/v1/models/%7Bns%7D/%7Bmodel%7D/versions/%7Bv%7D/files/%7Bpath%7D&limit=50",
    ] {
        let mut lat = Vec::new();
        let t = Instant::now();
        for _ in 0..100 {
            let s = Instant::now();
            let r = call(M::GET, &format!("/v1/audit?{q}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
            lat.push(s.elapsed());
        }
        summary(&format!("audit query {q}"), lat, t.elapsed());
    }
}
