//! The transparency log at scale, over real HTTP, on 10M events:
//! - proofs, tiles, entry bundles and checkpoints, each first on the small log
//!   before the fill (the baseline printed beside it), then at 10M events;
//! - what growing the tree costs per event (wall time, CPU of Signet and of
//!   PostgreSQL, statements), beside what appending the same events to the
//!   chain costs (today's cost per appended event);
//! - how far the newest checkpoint lags the log under the read benchmark's
//!   load (64 connections reading a version, every request audited).
//!
//! The events are filled with SQL in one transaction after the chain's head;
//! the registry's own publisher then grows the tree over all of them, as it
//! would over a log that grew while it was down.
//!
//! cargo bench --bench tlog
//! SIGNET_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/signet_bench_tlog cargo bench --bench tlog
//! SIGNET_BENCH_TLOG_EVENTS=1000000 SIGNET_BENCH_TLOG_LOAD_SECS=20 (smaller, longer)

#[path = "common.rs"]
mod common;

use common::{Picks, env_u64, pct};

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method as M;
use serde_json::json;
use signet::tlog::tile::Tile;

const SAMPLES: usize = 300;
/// Unmeasured requests of each kind before its samples.
const WARM: usize = 30;

/// CPU seconds so far of this process (Signet and the load) and of every
/// PostgreSQL process.
fn cpu() -> (f64, f64) {
    let ticks = |stat: &str| -> Option<(String, f64)> {
        let (head, rest) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let f: Vec<&str> = rest.split_whitespace().collect();
        Some((
            comm,
            (f[11].parse::<f64>().ok()? + f[12].parse::<f64>().ok()?) / 100.0,
        ))
    };
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&s))
        .map_or(0.0, |t| t.1);
    let mut postgres = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat"))
            && let Some((comm, t)) = ticks(&stat)
            && comm == "postgres"
        {
            postgres += t;
        }
    }
    (own, postgres)
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn req(&self, m: M, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// The newest checkpoint's size.
    async fn published(&self) -> u64 {
        let note = self
            .req(M::GET, "/v1/audit/log/checkpoint")
            .send()
            .await
            .unwrap();
        let note = note.text().await.unwrap();
        note.lines().nth(1).unwrap().parse().unwrap()
    }

    /// The chain's newest event now.
    async fn head(&self) -> u64 {
        common::chain_head(&self.http, &self.base, &self.token).await as u64
    }

    /// Waits until the newest checkpoint holds `size` events.
    async fn until_published(&self, size: u64) {
        while self.published().await < size {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The requests measured on a log of `size` events with an older checkpoint
/// of `old`: a name, and the path of the next sample (none where the log has
/// no such thing yet: a level-2 tile below 65,536 events).
type Probe = (&'static str, Box<dyn Fn(&mut Picks) -> Option<String>>);

fn probes(size: u64, old: u64) -> Vec<Probe> {
    let tile = |level: Option<u8>, index: u64, width: u64| {
        format!(
            "/v1/audit/log/tile/{}",
            Tile {
                level,
                index,
                width
            }
            .path()
        )
    };
    // A full tile of `level` where the log has one, else its partial tile.
    let any = move |level: Option<u8>, p: &mut Picks| {
        let span = 256u64.pow(u32::from(level.unwrap_or(0)));
        match (size / span / 256, size / span) {
            (_, 0) => None,
            (0, width) => Some(tile(level, 0, width)),
            (full, _) => Some(tile(level, p.next(full), 256)),
        }
    };
    vec![
        (
            "checkpoint",
            Box::new(|_| Some("/v1/audit/log/checkpoint".into())),
        ),
        (
            "inclusion proof, newest tree",
            Box::new(move |p| Some(format!("/v1/audit/events/{}/proof", 1 + p.next(size)))),
        ),
        (
            "inclusion proof, an older tree",
            Box::new(move |p| {
                Some(format!(
                    "/v1/audit/events/{}/proof?size={old}",
                    1 + p.next(old)
                ))
            }),
        ),
        (
            "consistency proof",
            Box::new(move |p| {
                Some(format!(
                    "/v1/audit/log/consistency?from={}&to={size}",
                    1 + p.next(size)
                ))
            }),
        ),
        ("hash tile, level 0", Box::new(move |p| any(Some(0), p))),
        ("hash tile, level 1", Box::new(move |p| any(Some(1), p))),
        ("hash tile, level 2", Box::new(move |p| any(Some(2), p))),
        ("entry bundle", Box::new(move |p| any(None, p))),
    ]
}

/// p50 and p99 (ms) of each probe, as the table shows them.
async fn measure(c: &Client, size: u64, old: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut picks = Picks(7);
    for (_, next) in probes(size, old) {
        if next(&mut picks).is_none() {
            out.push("—".to_owned());
            continue;
        }
        // Warmed first: a steady state, not the first reads of cold pages.
        for _ in 0..WARM {
            let path = next(&mut picks).expect("the log has it");
            c.req(M::GET, &path)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
        let mut lat = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let path = next(&mut picks).expect("the log has it");
            let s = Instant::now();
            let r = c.req(M::GET, &path).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.bytes().await.unwrap();
            lat.push(s.elapsed());
        }
        lat.sort();
        out.push(format!("{:.2} / {:.2}", pct(&lat, 0.5), pct(&lat, 0.99)));
    }
    out
}

/// `n` events after the chain's head, in one transaction that holds the
/// head's lock.
fn fill(postgres: bool, n: u64) -> String {
    let columns = "'r' || e, 'p' || (e % 1000), NULL, \
         CASE e % 4 WHEN 0 THEN 'GET /v1/models/{ns}/{model}/versions/{v}/files/{path}' \
           WHEN 1 THEN 'PUT /v1/models/{ns}/{model}/aliases/{alias}' \
           ELSE 'GET /v1/models/{ns}/{model}/versions/{v}' END, \
         'ns' || (e % 50), 'ns' || (e % 50) || '/m' || (e % 97), '/v1/x', \
         CASE WHEN e % 20 = 0 THEN 'denied' ELSE 'allowed' END, 200, '127.0.0.1', '{}', '', ''";
    match postgres {
        true => format!(
            "BEGIN; UPDATE audit_head SET seq = seq + {n};
             INSERT INTO audit_events SELECT (SELECT seq FROM audit_head) - {n} + e, \
               to_char(now() - (e || ' seconds')::interval, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
               {columns} FROM generate_series(1, {n}) e;
             COMMIT; ANALYZE audit_events;"
        ),
        false => format!(
            "BEGIN IMMEDIATE; UPDATE audit_head SET seq = seq + {n};
             WITH RECURSIVE s(e) AS (SELECT 1 UNION ALL SELECT e + 1 FROM s WHERE e < {n}) \
             INSERT INTO audit_events SELECT (SELECT seq FROM audit_head) - {n} + e, \
               strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || e || ' seconds'), {columns} FROM s;
             COMMIT; ANALYZE;"
        ),
    }
}

async fn sql(database_url: &str, stmt: &str) -> Vec<i64> {
    use sqlx::Connection;
    let stmt = sqlx::AssertSqlSafe(stmt.to_owned());
    if database_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query_scalar::<_, i64>(stmt)
            .fetch_all(&mut conn)
            .await
            .unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query_scalar::<_, i64>(stmt)
            .fetch_all(&mut conn)
            .await
            .unwrap()
    }
}

async fn raw(database_url: &str, stmts: &str) {
    use sqlx::Connection;
    let stmts = sqlx::AssertSqlSafe(stmts.to_owned());
    if database_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::raw_sql(stmts).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::raw_sql(stmts).execute(&mut conn).await.unwrap();
    }
}

/// Checkpoints the log has signed.
async fn checkpoints(database_url: &str) -> i64 {
    sql(database_url, "SELECT COUNT(*) FROM audit_checkpoints").await[0]
}

#[tokio::main]
async fn main() {
    let events = env_u64("SIGNET_BENCH_TLOG_EVENTS", 10_000_000);
    let load_secs = env_u64("SIGNET_BENCH_TLOG_LOAD_SECS", 20);
    let bench = common::start().await;
    let db = bench.database_url.clone();
    let postgres = bench.backend == "postgres";
    let c = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap(),
        base: bench.base.clone(),
        token: bench.token.clone(),
    });
    common::given_model(&bench, &c.http).await;
    c.req(M::POST, "/v1/models/fraud/scorer/versions")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    c.req(M::PUT, "/v1/models/fraud/scorer/versions/1/files/m.bin")
        .body("w")
        .send()
        .await
        .unwrap();
    println!("backend: {}, {events} events", bench.backend);

    // Before the fill: the small log.
    let small = c.head().await;
    c.until_published(small).await;
    let size = c.published().await;
    let before = measure(&c, size, size).await;

    // Today's cost per appended event: the chain append alone, one commit
    // per event, 64 concurrent (as `benches/audit.rs`), on the small log.
    let (conns, each) = (64usize, 100usize);
    let (own0, pg0) = cpu();
    let t = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|i| {
            let store = Arc::clone(&bench.store);
            tokio::spawn(async move {
                for j in 0..each {
                    let ctx = signet::audit::Context {
                        request_id: format!("bench-{i}-{j}"),
                        action: "GET /v1/models/{ns}/{model}/versions/{v}".into(),
                        resource: "/v1/models/fraud/scorer/versions/1".into(),
                        ..Default::default()
                    };
                    store
                        .append_audit(vec![ctx.event(200, false, chrono::Utc::now())])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let appended = (conns * each) as f64;
    let chain_wall = t.elapsed().as_secs_f64();
    let (own1, pg1) = cpu();
    println!(
        "chain append, one commit per event, 64 concurrent: {:.0} events/s, CPU {:.1} µs/event \
         (Signet and the load {:.1}, PostgreSQL {:.1}; the publisher's turns included), \
         5 statements per commit",
        appended / chain_wall,
        ((own1 - own0) + (pg1 - pg0)) / appended * 1e6,
        (own1 - own0) / appended * 1e6,
        (pg1 - pg0) / appended * 1e6
    );

    // The fill, then the publisher grows the tree over all of it.
    let t = Instant::now();
    raw(&db, &fill(postgres, events)).await;
    println!(
        "filled {events} events in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let target = c.head().await;
    let old = c.published().await;
    let signed = checkpoints(&db).await;
    let (own0, pg0) = cpu();
    let t = Instant::now();
    c.until_published(target).await;
    let grown = (c.published().await - old) as f64;
    let wall = t.elapsed().as_secs_f64();
    let (own1, pg1) = cpu();
    let batches = (checkpoints(&db).await - signed).max(1) as f64;
    println!(
        "tree growth over the fill: {grown:.0} events in {wall:.1} s = {:.0} events/s, CPU {:.1} \
         µs/event (Signet {:.1}, PostgreSQL {:.1}), {batches:.0} transactions of {:.0} events: \
         {:.3} statements per event (8 per transaction and one insert per 100 events)",
        grown / wall,
        ((own1 - own0) + (pg1 - pg0)) / grown * 1e6,
        (own1 - own0) / grown * 1e6,
        (pg1 - pg0) / grown * 1e6,
        grown / batches,
        (8.0 * batches + (2.0 * grown / 200.0).ceil()) / grown,
    );
    let rows = sql(&db, "SELECT COUNT(*) FROM audit_tree").await[0];
    println!(
        "tree rows: {rows} for {} events ({:.2} per event)",
        c.published().await,
        rows as f64 / c.published().await as f64
    );

    // Under the read benchmark's load: how far the checkpoint lags the log.
    let stop = Instant::now() + Duration::from_secs(load_secs);
    let signed = checkpoints(&db).await;
    let start_size = c.published().await;
    let (own0, pg0) = cpu();
    let t = Instant::now();
    let readers: Vec<_> = (0..64)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < stop {
                    let r = c
                        .req(M::GET, "/v1/models/fraud/scorer/versions/1")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut lags = Vec::new();
    while Instant::now() + Duration::from_secs(2) < stop {
        let asked = Instant::now();
        let head = c.head().await;
        c.until_published(head).await;
        lags.push(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    let wall = t.elapsed().as_secs_f64();
    let (own1, pg1) = cpu();
    c.until_published(c.head().await).await;
    let during = (c.published().await - start_size) as f64;
    let batches = (checkpoints(&db).await - signed).max(1) as f64;
    lags.sort();
    println!(
        "under load ({load_secs} s, 64 connections): {:.0} reads/s, CPU {:.0} µs per read \
         (PostgreSQL {:.0}); checkpoint lag p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} \
         probes; {:.0} events per tree transaction",
        reads as f64 / wall,
        ((own1 - own0) + (pg1 - pg0)) / reads as f64 * 1e6,
        (pg1 - pg0) / reads as f64 * 1e6,
        pct(&lags, 0.5),
        pct(&lags, 0.99),
        lags.last().unwrap().as_secs_f64() * 1e3,
        lags.len(),
        during / batches
    );

    // At scale, quiet.
    let size = c.published().await;
    let after = measure(&c, size, old).await;
    println!("\n| request | before: p50 / p99 ms | at {size} events: p50 / p99 ms |");
    println!("| --- | --- | --- |");
    for (((name, _), b), a) in probes(size, old).iter().zip(&before).zip(&after) {
        println!("| {name} | {b} | {a} |");
    }
}
