//! Console page latency over real HTTP at 1,000 versions of one model: each
//! page rendered 300 times by one signed-in viewer, p50 and p99, beside the
//! JSON API call that reads the same data (the baseline, same run). The
//! metadata store is the one named by SIGNET_BENCH_DATABASE_URL (default: a
//! fresh SQLite file).
//!
//! cargo bench --bench console
//! SIGNET_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/signet_bench cargo bench --bench console

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

const VERSIONS: usize = 1000;
const ROUNDS: usize = 300;

#[tokio::main]
async fn main() {
    let bench = common::start().await;
    let base = bench.base.clone();
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tok = bench.token.clone();
    let call = |m: reqwest::Method, p: &str| c.request(m, format!("{base}{p}")).bearer_auth(&tok);
    use reqwest::Method as M;

    common::given_model(&bench, &c).await;
    let sk = common::registered_key(&bench, &c).await;

    // 1,000 sealed versions, every other one signed; the first 20 after the
    // first are fine-tunes of it; one dataset for all, one for the fine-tunes.
    let started = Instant::now();
    for i in 1..=VERSIONS {
        let mut lineage = json!({"code": {"commit": "ab".repeat(20)},
            "data": [{"name": "tx", "sha256": "cd".repeat(32)}], "environment": {"image": "x"}});
        if (2..=21).contains(&i) {
            lineage["parents"] = json!([{"model": "fraud/scorer", "version": 1}]);
            lineage["data"] = json!([{"name": "tuning", "sha256": "5e".repeat(32)}]);
        }
        let r = call(M::POST, "/v1/models/fraud/scorer/versions")
            .json(&json!({"lineage": lineage, "metadata": {"run": i}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v = r.json::<Value>().await.unwrap()["version"]
            .as_i64()
            .unwrap();
        for f in ["config.json", "model.bin"] {
            let r = call(
                M::PUT,
                &format!("/v1/models/fraud/scorer/versions/{v}/files/{f}"),
            )
            .body(format!("{f} of {v}"))
            .send()
            .await
            .unwrap();
            assert_eq!(r.status(), 201);
        }
        let sealed: Value = call(
            M::POST,
            &format!("/v1/models/fraud/scorer/versions/{v}/seal"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        if v % 2 == 1 {
            common::sign(
                &bench,
                &c,
                &sk,
                &format!("/v1/models/fraud/scorer/versions/{v}"),
                &sealed["statement"],
            )
            .await;
        }
    }
    let r = call(M::PUT, "/v1/models/fraud/scorer/aliases/production")
        .json(&json!({"version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eprintln!(
        "seeded {VERSIONS} versions in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let login = c
        .post(format!("{base}/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("token", tok.as_str())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    println!(
        "backend: {}; {VERSIONS} versions of one model; {ROUNDS} requests per page, one at a time",
        bench.backend
    );
    let v = VERSIONS as i64 - 1; // signed
    // The cursor after the first 500 versions, as the API gives it.
    let deep: Value = call(M::GET, "/v1/models/fraud/scorer/versions?limit=500")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deep =
        serde_urlencoded::to_string([("cursor", deep["next_cursor"].as_str().unwrap())]).unwrap();
    let pages: Vec<(&str, String, Option<String>)> = vec![
        ("namespaces", "/ui".into(), Some("/v1/namespaces".into())),
        (
            "namespace (models, policy)",
            "/ui/namespaces/fraud".into(),
            Some("/v1/models?namespace=fraud".into()),
        ),
        (
            "model (50 versions, aliases, history)",
            "/ui/models/fraud/scorer".into(),
            Some("/v1/models/fraud/scorer/versions".into()),
        ),
        (
            "model, page 11",
            format!("/ui/models/fraud/scorer?{deep}"),
            Some(format!("/v1/models/fraud/scorer/versions?{deep}")),
        ),
        (
            "version (gate panel, signatures)",
            format!("/ui/models/fraud/scorer/versions/{v}"),
            Some(format!("/v1/models/fraud/scorer/versions/{v}")),
        ),
        (
            "lineage graph (20 fine-tunes)",
            "/ui/models/fraud/scorer/versions/1/lineage".into(),
            Some("/v1/models/fraud/scorer/versions/1/lineage".into()),
        ),
        (
            "audit log (50 events)",
            "/ui/audit".into(),
            Some("/v1/audit".into()),
        ),
        ("keys", "/ui/keys".into(), Some("/v1/keys".into())),
        (
            "search: a dataset of 1,000 versions",
            format!("/ui/search?q={}", "cd".repeat(32)),
            Some(format!("/v1/lineage/datasets/{}", "cd".repeat(32))),
        ),
    ];
    println!(
        "{:<40} {:>16} {:>16}   baseline (JSON API)",
        "page", "p50 ms", "p99 ms"
    );
    for (name, page, api) in pages {
        let ui = measure(|| {
            c.get(format!("{base}{page}"))
                .header("cookie", cookie.clone())
        })
        .await;
        let json = match api {
            Some(p) => Some(measure(|| call(M::GET, &p)).await),
            None => None,
        };
        println!(
            "{name:<40} {:>16.2} {:>16.2}   {}",
            ms(ui.0),
            ms(ui.1),
            json.map_or(String::new(), |(p50, p99)| format!(
                "p50 {:.2} ms, p99 {:.2} ms",
                ms(p50),
                ms(p99)
            ))
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50 and p99 of `ROUNDS` requests, one at a time, after 20 to warm up.
async fn measure(req: impl Fn() -> reqwest::RequestBuilder) -> (Duration, Duration) {
    let mut lat = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS + 20 {
        let t = Instant::now();
        let r = req().send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.url());
        r.bytes().await.unwrap();
        if i >= 20 {
            lat.push(t.elapsed());
        }
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    (pct(0.50), pct(0.99))
}
