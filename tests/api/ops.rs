//! What an operator watches: the metrics on their own listener (never on the
//! API port), labelled by route template, and counting what is worth an alert.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, Signer, TestApp, bytes_of, error_code, full_lineage};

crate::on_both_backends!(
    metrics_are_served_on_the_operator_listener_only,
    requests_are_timed_by_route_template_not_by_path,
    transfers_verifications_refusals_and_limits_are_counted,
);

/// The value of the sample `name` (with its labels, exactly as rendered), or 0
/// when it has not been recorded yet.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |v| v.split(' ').next().unwrap().parse().unwrap())
}

async fn metrics_are_served_on_the_operator_listener_only(b: Backend) {
    let app = TestApp::spawn(b).await;
    let public = app.anon(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(public).await, "not_found");

    let ops = app
        .client
        .get(format!("{}/metrics", app.ops))
        .send()
        .await
        .unwrap();
    assert_eq!(ops.status(), StatusCode::OK);
    assert!(
        ops.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = ops.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"));
    // (Labelled families appear once they have a sample: see below.)
    for family in [
        "# TYPE signet_http_request_duration_seconds histogram",
        "# TYPE signet_uploaded_bytes counter",
        "# TYPE signet_downloaded_bytes counter",
        "# TYPE signet_audit_append_duration_seconds histogram",
        "# TYPE signet_audit_append_batch_size histogram",
        "# TYPE signet_db_pool_connections gauge",
        "# TYPE signet_db_pool_max_connections gauge",
        "# TYPE signet_integrity_failures counter",
    ] {
        assert!(text.contains(family), "missing {family}");
    }
    assert!(sample(&text, "signet_db_pool_max_connections") >= 1.0);

    // Health and readiness answer there too; the API does not.
    for path in ["/healthz", "/readyz"] {
        let r = app
            .client
            .get(format!("{}{path}", app.ops))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let r = app
        .client
        .get(format!("{}/v1/whoami", app.ops))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn requests_are_timed_by_route_template_not_by_path(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let r = app
        .create_version(&ns, &model, json!({"lineage": full_lineage()}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let series = "signet_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/models/{ns}/{model}/versions/{v}\",status=\"2xx\"}";
    let missing = "signet_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/models/{ns}/{model}/versions/{v}\",status=\"4xx\"}";
    let before = app.metrics().await;
    assert_eq!(app.get_version(&ns, &model, 1).await.status(), 200);
    assert_eq!(app.get_version(&ns, &model, 99).await.status(), 404);
    let after = app.metrics().await;
    assert!(sample(&after, series) >= sample(&before, series) + 1.0);
    assert!(sample(&after, missing) >= sample(&before, missing) + 1.0);
    // The label set is the API's routes: no namespace or model name leaks in.
    assert!(!after.contains(&ns), "a raw path reached a label");
}

async fn transfers_verifications_refusals_and_limits_are_counted(b: Backend) {
    let app = TestApp::spawn_with(b, |c| {
        c.rate_limit = "60/min:2".parse().unwrap();
        c.rate_limit_roles = "admin=60000/min:6000".parse().unwrap();
    })
    .await;
    let (ns, model) = app.given_model().await;
    let bytes = bytes_of(300_000, 7);
    let before = app.metrics().await;

    let (v, statement) = app
        .sealed_version(&ns, &model, full_lineage(), &[("m.bin", &bytes)])
        .await;
    let got = app.get_file(&ns, &model, v, "m.bin").await;
    assert_eq!(got.bytes().await.unwrap().len(), bytes.len());

    // A signature from a key nobody registered, and a promotion of an
    // unsigned version.
    let stranger = Signer::generate();
    let r = app
        .sign(&ns, &model, v, &stranger.envelope(&statement))
        .await;
    assert_eq!(error_code(r).await, "untrusted_key");
    let r = app.promote(&ns, &model, "production", v).await;
    assert_eq!(error_code(r).await, "promotion_refused");

    // A trusted key's signature verifies.
    let signer = Signer::generate();
    assert_eq!(signer.register(&app, "ci", &[&ns]).await.status(), 201);
    let r = app.sign(&ns, &model, v, &signer.envelope(&statement)).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // A reader over its rate.
    let reader = app.member_token("metrics-reader", &ns, "reader").await;
    let mut limited = false;
    for _ in 0..6 {
        let r = app
            .anon(Method::GET, &format!("/v1/models/{ns}/{model}"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        limited |= r.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited);

    let after = app.metrics().await;
    let grew = |name: &str| sample(&after, name) - sample(&before, name);
    assert!(grew("signet_uploaded_bytes_total") >= bytes.len() as f64);
    assert!(grew("signet_downloaded_bytes_total") >= bytes.len() as f64);
    assert!(grew("signet_signature_verifications_total{result=\"untrusted_key\"}") >= 1.0);
    assert!(grew("signet_signature_verifications_total{result=\"verified\"}") >= 1.0);
    assert!(grew("signet_promotion_refusals_total{reason=\"unsigned\"}") >= 1.0);
    assert!(grew("signet_limited_requests_total{limit=\"rate_limited\"}") >= 1.0);
    assert!(grew("signet_audit_append_batch_size_count") >= 1.0);
    assert!(grew("signet_audit_append_duration_seconds_count") >= 1.0);
}

/// Spans received by a test OTLP/HTTP collector: (trace id, span name).
type Received = tokio::sync::mpsc::UnboundedReceiver<(String, String)>;

/// A collector that accepts OTLP/HTTP JSON on `/v1/traces` and passes on each
/// span it receives, and the service name it was sent under.
async fn collector() -> (
    String,
    Received,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use axum::routing::post;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let services = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = services.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: axum::Json<serde_json::Value>| {
            let (tx, seen) = (tx.clone(), seen.clone());
            async move {
                for rs in body["resourceSpans"].as_array().into_iter().flatten() {
                    for attr in rs["resource"]["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        if attr["key"] == "service.name" {
                            let name = attr["value"]["stringValue"].as_str().unwrap_or_default();
                            seen.lock().unwrap().push(name.to_owned());
                        }
                    }
                    for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                        for span in ss["spans"].as_array().into_iter().flatten() {
                            let id = span["traceId"].as_str().unwrap_or_default().to_owned();
                            let name = span["name"].as_str().unwrap_or_default().to_owned();
                            let _ = tx.send((id, name));
                        }
                    }
                }
                axum::Json(json!({}))
            }
        }),
    );
    (crate::helpers::serve_on_loopback(app).await, rx, services)
}

#[tokio::test]
async fn traces_are_exported_over_otlp_when_asked() {
    let (endpoint, mut spans, services) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let token = format!("sgn_{}", uuid::Uuid::new_v4().simple());
    let (signet, addr) = crate::transport::Process::serve(&[
        (
            "SIGNET_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        ),
        (
            "SIGNET_STORAGE_URL",
            dir.path().join("blobs").display().to_string(),
        ),
        ("SIGNET_BOOTSTRAP_TOKEN", token.clone()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".into()),
        ("OTEL_SERVICE_NAME", "signet-under-test".into()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ])
    .await;
    let c = reqwest::Client::new();
    let base = format!("http://{addr}");
    for (path, body) in [
        ("/v1/namespaces", json!({"name": "traced"})),
        ("/v1/models", json!({"namespace": "traced", "name": "m"})),
        ("/v1/models/traced/m/versions", json!({})),
    ] {
        let r = c
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    }
    let r = c
        .put(format!("{base}/v1/models/traced/m/versions/1/files/w.bin"))
        .bearer_auth(&token)
        .body(bytes_of(10_000, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // The upload's trace holds the request, its storage write and its
    // database calls.
    let mut by_trace: std::collections::HashMap<String, Vec<String>> = Default::default();
    let complete = |names: &Vec<String>| {
        names.iter().any(|n| n == "request")
            && names.iter().any(|n| n == "storage.write")
            && names.iter().any(|n| n.starts_with("db."))
    };
    let found = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some((trace, name)) = spans.recv().await {
            let names = by_trace.entry(trace).or_default();
            names.push(name);
            if complete(names) {
                return names.clone();
            }
        }
        Vec::new()
    })
    .await
    .expect("no trace with the request, storage and database spans within 30 s");
    assert!(complete(&found), "{found:?}");
    assert!(
        services
            .lock()
            .unwrap()
            .iter()
            .all(|s| s == "signet-under-test")
    );
    signet.stop().await;
}
