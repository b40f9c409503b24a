//! Alerts on extraction-like access: one principal pulling more distinct
//! versions across models than its rule allows, through two replicas (the
//! access log counts them together), raises one alert per namespace
//! involved, delivered to each namespace's webhook with that namespace's
//! figures only; a principal whose role has a larger rule, and one pulling
//! the same version again and again, raise none; a principal is alerted on
//! once per window.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, Signer, TestApp, eventually, full_lineage, safetensors_bytes};
use crate::transport::Ca;
use crate::webhooks::{Receiver, subscribe};

crate::on_both_backends!(one_principal_pulling_model_after_model_alerts_each_namespace_involved);

/// The access log's alerts, oldest first.
async fn alerts(app: &TestApp) -> Vec<Value> {
    let r = app
        .req(Method::GET, "/v1/audit?action=ALERT%20extraction&limit=100")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut items = r.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .clone();
    items.reverse();
    items
}

/// Waits until the watch has read the log up to now.
async fn watched(app: &TestApp) {
    let head = app.sql_i64("SELECT MAX(seq) FROM audit_events").await;
    let read = || async {
        app.sql_i64("SELECT COALESCE(MAX(position), 0) FROM audit_streams WHERE destination = 'watch:extraction'")
            .await
            >= head
    };
    assert!(
        eventually(read).await,
        "the watch did not reach event {head}"
    );
}

async fn one_principal_pulling_model_after_model_alerts_each_namespace_involved(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "hooks-ca");
    let roots = ca.pem_path();
    let app = TestApp::spawn_with(b, move |c| {
        c.webhooks.allow = "127.0.0.1".into();
        c.webhooks.ca_file = Some(roots);
        c.extraction.alert = "off/3".parse().unwrap();
        c.extraction.roles = "approver=off/10".parse().unwrap();
    })
    .await;
    let replica = app.replica().await;
    let files: &[(&str, &[u8])] = &[("model.safetensors", &safetensors_bytes())];
    let (fraud, scorer) = app.given_model().await;
    for (ns, model) in [("risk", "limits"), ("other", "m")] {
        assert_eq!(app.create_namespace(ns).await.status(), StatusCode::CREATED);
        assert_eq!(
            app.create_model(ns, model).await.status(),
            StatusCode::CREATED
        );
    }
    // Signed versions: what every reader may pull.
    let key = Signer::generate();
    let r = key.register(&app, "ci", &[fraud.as_str(), "risk"]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut pulls = Vec::new();
    for (ns, model) in [(fraud.as_str(), scorer.as_str()), ("risk", "limits")] {
        for _ in 0..2 {
            let (v, statement) = app.sealed_version(ns, model, full_lineage(), files).await;
            let r = app.sign(ns, model, v, &key.envelope(&statement)).await;
            assert_eq!(r.status(), StatusCode::CREATED);
            pulls.push(format!(
                "/v1/models/{ns}/{model}/versions/{v}/files/model.safetensors"
            ));
        }
    }
    let mut receivers = Vec::new();
    for ns in [fraud.as_str(), "risk", "other"] {
        let rx = Receiver::started(dir.path(), &ca).await;
        let (_, secret) = subscribe(&app, ns, &rx.url(), &["dev.signet.alert.extraction"]).await;
        rx.secret(&secret);
        receivers.push(rx);
    }
    // A deployer of both namespaces; an approver of one (a larger rule).
    let scraper = app.member_token("scraper", &fraud, "deployer").await;
    app.member_token("scraper", "risk", "deployer").await;
    let busy = app.member_token("busy", &fraud, "approver").await;
    app.member_token("busy", "risk", "deployer").await;

    // One version again and again is one version.
    for _ in 0..5 {
        assert_eq!(app.status_as(&pulls[0], &scraper).await, StatusCode::OK);
    }
    // The approver pulls all four: within its role's rule.
    for (i, p) in pulls.iter().enumerate() {
        let on = if i % 2 == 0 { &app } else { &replica };
        assert_eq!(on.status_as(p, &busy).await, StatusCode::OK);
    }
    watched(&app).await;
    assert_eq!(alerts(&app).await, Vec::<Value>::new());

    // The reader pulls all four, through both replicas: past its rule of 3.
    for (i, p) in pulls.iter().enumerate() {
        let on = if i % 2 == 0 { &replica } else { &app };
        assert_eq!(on.status_as(p, &scraper).await, StatusCode::OK);
    }
    let both = || async { receivers[0].taken().len() == 1 && receivers[1].taken().len() == 1 };
    assert!(
        eventually(both).await,
        "{:?} {:?}",
        receivers[0].received(),
        receivers[1].received()
    );
    for (rx, ns, model) in [
        (&receivers[0], fraud.as_str(), scorer.as_str()),
        (&receivers[1], "risk", "limits"),
    ] {
        let e = &rx.taken()[0];
        assert_eq!(e["type"], "dev.signet.alert.extraction");
        assert_eq!(e["subject"], "principals/scraper");
        let d = &e["data"];
        assert_eq!(d["principal"], "scraper");
        assert_eq!(d["namespace"], ns);
        assert_eq!(
            (d["versions"].clone(), d["total_versions"].clone()),
            (2.into(), 4.into())
        );
        assert_eq!(d["rule"]["versions"], 3);
        assert_eq!(d["window_secs"], 3600);
        let pulled: Vec<&str> = d["pulled"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(pulled.len(), 2, "{d}");
        // Only this namespace's versions are named.
        assert!(
            pulled
                .iter()
                .all(|p| p.starts_with(&format!("{ns}/{model}@"))),
            "{d}"
        );
    }
    let log = alerts(&app).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(log.iter().all(|a| a["principal"] == "scraper"));
    assert!(
        app.metrics()
            .await
            .contains("signet_extraction_alerts_total")
    );

    // Once per window: more pulls raise nothing more.
    for p in &pulls {
        assert_eq!(replica.status_as(p, &scraper).await, StatusCode::OK);
    }
    watched(&app).await;
    assert_eq!(alerts(&app).await.len(), 2);
    // The namespace nobody touched heard nothing.
    assert_eq!(receivers[2].received(), Vec::<Value>::new());
}
