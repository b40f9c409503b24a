//! Scale of data: lineage queries and audit searches over real HTTP on a
//! registry of 1M versions (1,000 models of 1,000 sealed versions, in fine-tune
//! chains of six, so a base version has descendants to depth 5 and a dataset
//! leads to its bases and all their descendants) and 10M audit events. Each
//! query is first measured on the registry before the fill (a few rows: the
//! baseline printed beside it), then after. The fill is SQL (`generate_series`,
//! a recursive CTE on SQLite), the queries go through Signet.
//!
//! cargo bench --bench scale
//! SIGNET_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/signet_bench_scale cargo bench --bench scale
//! SIGNET_BENCH_SCALE_VERSIONS=100000 SIGNET_BENCH_SCALE_EVENTS=1000000 (smaller runs)

#[path = "common.rs"]
mod common;

use common::{Picks, env_u64};

use std::time::{Duration, Instant};

use serde_json::json;

/// Versions per model; a fine-tune chain's length (a base and 5 fine-tunes).
const PER_MODEL: u64 = 1000;
const CHAIN: u64 = 6;
const SAMPLES: usize = 200;

/// The fill, for `versions` versions and `events` events, on PostgreSQL.
/// Version `g` (from 0) is number `g % 1000 + 1` of model `m{g / 1000}`; in its
/// chain at `g % 1000 % 6`; a base's dataset is shared by about 3 bases.
fn postgres_fill(versions: u64, events: u64) -> String {
    let models = versions.div_ceil(PER_MODEL);
    let datasets = (versions / 20).max(1);
    let commits = (versions / 10).max(1);
    format!(
        "INSERT INTO models (id, namespace, name, description, created_at, created_by, next_version) \
         SELECT ('aaaaaaaa' || lpad(to_hex(m), 24, '0'))::uuid, 'scale', 'm' || m, '', now(), 'bench', {PER_MODEL} + 1 \
         FROM generate_series(0, {models} - 1) m;
         CREATE TEMP TABLE g AS SELECT g, g / {PER_MODEL} AS m, g % {PER_MODEL} AS i, \
           ('bbbbbbbb' || lpad(to_hex(g), 24, '0'))::uuid AS id, \
           CASE WHEN g % {PER_MODEL} % {CHAIN} = 0 THEN lpad(to_hex((g / {CHAIN}) % {datasets}), 64, '0') \
                ELSE 'f' || lpad(to_hex(g), 63, '0') END AS dataset, \
           lpad(to_hex((g / {CHAIN}) % {commits}), 40, '0') AS cm \
         FROM generate_series(0, {versions} - 1) g;
         INSERT INTO versions (id, model_id, version, state, lineage, metadata, created_at, created_by, \
           sealed_at, root_digest, code_commit) \
         SELECT id, ('aaaaaaaa' || lpad(to_hex(m), 24, '0'))::uuid, i + 1, 'sealed', \
           jsonb_build_object('data', jsonb_build_array(jsonb_build_object('sha256', dataset)), \
             'code', jsonb_build_object('commit', cm)) \
           || CASE WHEN i % {CHAIN} = 0 THEN '{{}}'::jsonb ELSE jsonb_build_object('parents', \
             jsonb_build_array(jsonb_build_object('model', 'scale/m' || m, 'version', i))) END, \
           '{{}}', now(), 'bench', now(), lpad(to_hex(g), 64, '0'), cm FROM g;
         INSERT INTO version_datasets (version_id, sha256) SELECT id, dataset FROM g;
         INSERT INTO version_parents (version_id, parent_id) \
         SELECT id, ('bbbbbbbb' || lpad(to_hex(g - 1), 24, '0'))::uuid FROM g WHERE i % {CHAIN} <> 0;
         INSERT INTO audit_events SELECT 100000000 + e, \
           to_char(now() - (e || ' seconds')::interval, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'r' || e, \
           'p' || (e % 1000), NULL, \
           CASE e % 4 WHEN 0 THEN 'GET /v1/models/{{ns}}/{{model}}/versions/{{v}}/files/{{path}}' \
             WHEN 1 THEN 'PUT /v1/models/{{ns}}/{{model}}/aliases/{{alias}}' \
             ELSE 'GET /v1/models/{{ns}}/{{model}}/versions/{{v}}' END, \
           'ns' || (e % 50), 'ns' || (e % 50) || '/m' || (e % 97), '/v1/x', \
           CASE WHEN e % 20 = 0 THEN 'denied' ELSE 'allowed' END, 200, '127.0.0.1', '{{}}', '', '' \
         FROM generate_series(1, {events}) e;
         ANALYZE;"
    )
}

/// The same fill on SQLite.
fn sqlite_fill(versions: u64, events: u64) -> String {
    let models = versions.div_ceil(PER_MODEL);
    let datasets = (versions / 20).max(1);
    let commits = (versions / 10).max(1);
    format!(
        "WITH RECURSIVE s(m) AS (SELECT 0 UNION ALL SELECT m + 1 FROM s WHERE m < {models} - 1) \
         INSERT INTO models (id, namespace, name, description, created_at, created_by, next_version) \
         SELECT unhex('aaaaaaaa' || printf('%024x', m)), 'scale', 'm' || m, '', \
           (SELECT created_at FROM models LIMIT 1), 'bench', {PER_MODEL} + 1 FROM s;
         CREATE TEMP TABLE g AS WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < {versions} - 1) \
         SELECT g, g / {PER_MODEL} AS m, g % {PER_MODEL} AS i, unhex('bbbbbbbb' || printf('%024x', g)) AS id, \
           CASE WHEN g % {PER_MODEL} % {CHAIN} = 0 THEN printf('%064x', (g / {CHAIN}) % {datasets}) \
                ELSE 'f' || printf('%063x', g) END AS dataset, \
           printf('%040x', (g / {CHAIN}) % {commits}) AS cm FROM s;
         INSERT INTO versions (id, model_id, version, state, lineage, metadata, created_at, created_by, \
           sealed_at, root_digest, code_commit) \
         SELECT id, unhex('aaaaaaaa' || printf('%024x', m)), i + 1, 'sealed', \
           CASE WHEN i % {CHAIN} = 0 \
             THEN json_object('data', json_array(json_object('sha256', dataset)), 'code', json_object('commit', cm)) \
             ELSE json_object('data', json_array(json_object('sha256', dataset)), 'code', json_object('commit', cm), \
               'parents', json_array(json_object('model', 'scale/m' || m, 'version', i))) END, \
           '{{}}', (SELECT created_at FROM models LIMIT 1), 'bench', \
           (SELECT created_at FROM models LIMIT 1), printf('%064x', g), cm FROM g;
         INSERT INTO version_datasets (version_id, sha256) SELECT id, dataset FROM g;
         INSERT INTO version_parents (version_id, parent_id) \
         SELECT id, unhex('bbbbbbbb' || printf('%024x', g - 1)) FROM g WHERE i % {CHAIN} <> 0;
         WITH RECURSIVE s(e) AS (SELECT 1 UNION ALL SELECT e + 1 FROM s WHERE e < {events}) \
         INSERT INTO audit_events SELECT 100000000 + e, \
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || e || ' seconds'), 'r' || e, 'p' || (e % 1000), NULL, \
           CASE e % 4 WHEN 0 THEN 'GET /v1/models/{{ns}}/{{model}}/versions/{{v}}/files/{{path}}' \
             WHEN 1 THEN 'PUT /v1/models/{{ns}}/{{model}}/aliases/{{alias}}' \
             ELSE 'GET /v1/models/{{ns}}/{{model}}/versions/{{v}}' END, \
           'ns' || (e % 50), 'ns' || (e % 50) || '/m' || (e % 97), '/v1/x', \
           CASE WHEN e % 20 = 0 THEN 'denied' ELSE 'allowed' END, 200, '127.0.0.1', '{{}}', '', '' FROM s;
         ANALYZE;"
    )
}

/// A query's name, and the path of its next sample.
type Query = (&'static str, Box<dyn Fn(&mut Picks) -> String>);

/// The queries, on a registry of `versions`.
fn queries(versions: u64) -> Vec<Query> {
    let datasets = (versions / 20).max(1);
    let commits = (versions / 10).max(1);
    let models = versions.div_ceil(PER_MODEL);
    let bases = PER_MODEL.div_ceil(CHAIN);
    vec![
        (
            "lineage: versions trained on a dataset, with descendants (depth 5)",
            Box::new(move |p| format!("/v1/lineage/datasets/{:064x}", p.next(datasets))),
        ),
        (
            "lineage: versions built from a commit",
            Box::new(move |p| format!("/v1/lineage/commits/{:040x}", p.next(commits))),
        ),
        (
            "lineage: a base version's descendants (depth 5)",
            Box::new(move |p| {
                let (m, b) = (p.next(models), p.next(bases - 1));
                format!("/v1/models/scale/m{m}/versions/{}/lineage", b * CHAIN + 1)
            }),
        ),
        (
            "lineage: a fine-tune's ancestors (depth 5)",
            Box::new(move |p| {
                let (m, b) = (p.next(models), p.next(bases - 1));
                format!(
                    "/v1/models/scale/m{m}/versions/{}/lineage",
                    b * CHAIN + CHAIN
                )
            }),
        ),
        (
            "audit: newest 50",
            Box::new(|_| "/v1/audit?limit=50".into()),
        ),
        (
            "audit: one namespace",
            Box::new(|p| format!("/v1/audit?namespace=ns{}&limit=50", p.next(50))),
        ),
        (
            "audit: one principal",
            Box::new(|p| format!("/v1/audit?principal=p{}&limit=50", p.next(1000))),
        ),
        (
            "audit: a model's denials",
            Box::new(|p| {
                let n = p.next(50);
                format!(
                    "/v1/audit?model=ns{n}/m{}&outcome=denied&limit=50",
                    p.next(97)
                )
            }),
        ),
        (
            "audit: a namespace's promotions",
            Box::new(|p| {
                format!(
                    "/v1/audit?namespace=ns{}&action=PUT%20/v1/models/%7Bns%7D/%7Bmodel%7D/aliases/%7Balias%7D&limit=50",
                    p.next(50)
                )
            }),
        ),
        (
            "audit: one principal in one hour, a day ago",
            Box::new(|p| {
                let until = chrono::Utc::now() - chrono::Duration::hours(24);
                let since = until - chrono::Duration::hours(1);
                format!(
                    "/v1/audit?principal=p{}&since={}&until={}&limit=50",
                    p.next(1000),
                    since.format("%Y-%m-%dT%H:%M:%SZ"),
                    until.format("%Y-%m-%dT%H:%M:%SZ")
                )
            }),
        ),
    ]
}

/// p50 and p99 in ms of `SAMPLES` calls of each query, one at a time.
async fn measure(
    bench: &common::Bench,
    c: &reqwest::Client,
    versions: u64,
) -> Vec<(&'static str, f64, f64)> {
    let mut out = Vec::new();
    for (name, path) in queries(versions) {
        let mut picks = Picks(42);
        let mut lat: Vec<Duration> = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let url = format!("{}{}", bench.base, path(&mut picks));
            let t = Instant::now();
            let r = c.get(&url).bearer_auth(&bench.token).send().await.unwrap();
            let status = r.status();
            r.bytes().await.unwrap();
            lat.push(t.elapsed());
            assert!(status == 200 || status == 404, "{url}: {status}");
        }
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
        out.push((name, pct(0.5), pct(0.99)));
    }
    out
}

#[tokio::main]
async fn main() {
    let versions = env_u64("SIGNET_BENCH_SCALE_VERSIONS", 1_000_000);
    let events = env_u64("SIGNET_BENCH_SCALE_EVENTS", 10_000_000);
    let bench = common::start().await;
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{}/v1/namespaces", bench.base))
        .bearer_auth(&bench.token)
        .json(&json!({"name": "scale"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // One model made through the API: the fill copies its stored time format.
    let r = c
        .post(format!("{}/v1/models", bench.base))
        .bearer_auth(&bench.token)
        .json(&json!({"namespace": "scale", "name": "seed"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let empty = measure(&bench, &c, versions).await;

    let t = Instant::now();
    {
        use sqlx::Connection;
        if bench.backend == "postgres" {
            let mut conn = sqlx::PgConnection::connect(&bench.database_url)
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(postgres_fill(versions, events)))
                .execute(&mut conn)
                .await
                .unwrap();
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&bench.database_url)
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite_fill(versions, events)))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
    println!(
        "backend: {}; filled {versions} versions and {events} audit events in {:.0} s",
        bench.backend,
        t.elapsed().as_secs_f64()
    );
    // A deep one answers what it should: a base's five fine-tunes.
    let r: serde_json::Value = c
        .get(format!(
            "{}/v1/models/scale/m0/versions/1/lineage",
            bench.base
        ))
        .bearer_auth(&bench.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let descendants = r["descendants"].as_array().map_or(0, Vec::len);
    assert_eq!(descendants, 5, "{r}");

    let full = measure(&bench, &c, versions).await;
    println!("{SAMPLES} calls each, one at a time; p50 / p99 in ms, before the fill → after:");
    for ((name, p50, p99), (_, e50, e99)) in full.iter().zip(&empty) {
        println!("  {name:<68} {e50:>6.2} / {e99:>6.2} → {p50:>6.2} / {p99:>6.2}");
    }
}
