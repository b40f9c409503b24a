//! Lineage queries and quarantine.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, TestApp, error_code};

crate::on_both_backends!(
    quarantine_of_a_dataset_blocks_promotion_and_pulls_of_a_grandchild_fine_tune,
    lineage_queries_follow_parents_and_hide_other_namespaces,
    who_may_impose_and_lift_quarantines,
    a_quarantine_blocks_only_the_namespaces_it_names,
);

const DATA: &str = "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1";
const OTHER_DATA: &str = "e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2";

fn lineage(data: &str, parent: Option<(&str, i64)>) -> Value {
    let mut l = json!({
        "code": {"commit": "c0".repeat(20)},
        "data": [{"sha256": data}],
        "environment": {"image": "train:1"}
    });
    if let Some((m, v)) = parent {
        l["parents"] = json!([{"model": m, "version": v}]);
    }
    l
}

/// fraud/base@1 trained on DATA; fraud/ft@1 fine-tuned from it on other data;
/// fraud/ft@2 fine-tuned from ft@1. All signed; base@1 and ft@2 in production.
async fn family(b: Backend) -> (TestApp, String) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    app.create_model("fraud", "base").await;
    app.create_model("fraud", "ft").await;
    let signer = Signer::generate();
    signer.register(&app, "ci", &["fraud"]).await;
    for (model, lin) in [
        ("base", lineage(DATA, None)),
        ("ft", lineage(OTHER_DATA, Some(("fraud/base", 1)))),
        ("ft", lineage(OTHER_DATA, Some(("fraud/ft", 1)))),
    ] {
        let (v, st) = app
            .sealed_version("fraud", model, lin, &[("m.bin", model.as_bytes())])
            .await;
        assert_eq!(
            app.sign("fraud", model, v, &signer.envelope(&st))
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        app.promote("fraud", "base", "production", 1).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.promote("fraud", "ft", "production", 2).await.status(),
        StatusCode::OK
    );
    app.req(Method::PUT, "/v1/namespaces/fraud/members/deploy-bot")
        .json(&json!({"roles": ["deployer"]}))
        .send()
        .await
        .unwrap();
    let r = app
        .req(Method::POST, "/v1/tokens")
        .json(&json!({"principal": "deploy-bot"}))
        .send()
        .await
        .unwrap();
    let deployer = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, deployer)
}

fn entries(v: &Value) -> Vec<(String, i64, i64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                format!(
                    "{}/{}",
                    e["namespace"].as_str().unwrap(),
                    e["model"].as_str().unwrap()
                ),
                e["version"].as_i64().unwrap(),
                e["depth"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn quarantine_of_a_dataset_blocks_promotion_and_pulls_of_a_grandchild_fine_tune(b: Backend) {
    let (app, deployer) = family(b).await;
    let pull = || {
        app.anon(Method::GET, "/v1/models/fraud/ft/versions/2/files/m.bin")
            .bearer_auth(&deployer)
            .send()
    };
    assert_eq!(pull().await.unwrap().status(), StatusCode::OK);

    let r = app
        .req(Method::POST, "/v1/quarantines")
        .json(&json!({"kind": "dataset", "value": DATA, "reason": "poisoned rows found"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let q: Value = r.json().await.unwrap();
    assert_eq!(
        entries(&q["affected_versions"]),
        vec![
            ("fraud/base".into(), 1, 0),
            ("fraud/ft".into(), 1, 1),
            ("fraud/ft".into(), 2, 2)
        ]
    );
    assert_eq!(
        q["aliases"],
        json!([
            {"namespace": "fraud", "model": "base", "alias": "production", "version": 1},
            {"namespace": "fraud", "model": "ft", "alias": "production", "version": 2}
        ])
    );

    let r = pull().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "quarantined");
    let r = app.promote("fraud", "ft", "staging", 2).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["reasons"],
        json!(["quarantined"])
    );
    let v: Value = app
        .get_version("fraud", "ft", 2)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["quarantined"], true);
    // Publishers may still pull it, for the investigation.
    assert_eq!(
        app.get_file("fraud", "ft", 2, "m.bin").await.status(),
        StatusCode::OK
    );

    // Lifting is recorded, and the grandchild is usable again.
    let id = q["id"].as_str().unwrap();
    let r = app
        .req(
            Method::DELETE,
            &format!("/v1/quarantines/{id}?reason=false%20alarm"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(pull().await.unwrap().status(), StatusCode::OK);
    let list: Value = app
        .req(Method::GET, "/v1/quarantines")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["lifted_by"], "admin");
    assert_eq!(list["items"][0]["lift_reason"], "false alarm");
    assert!(list["items"][0]["lifted_at"].is_string());
    let r = app
        .req(Method::DELETE, &format!("/v1/quarantines/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "lifted once");

    // A quarantined commit or version blocks the same way.
    for (kind, value) in [
        ("commit", "c0".repeat(20)),
        ("version", "fraud/ft@1".to_string()),
    ] {
        let r = app
            .req(Method::POST, "/v1/quarantines")
            .json(&json!({"kind": kind, "value": value, "reason": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}");
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            error_code(pull().await.unwrap()).await,
            "quarantined",
            "{kind}"
        );
        app.req(Method::DELETE, &format!("/v1/quarantines/{id}"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(pull().await.unwrap().status(), StatusCode::OK);
}

async fn lineage_queries_follow_parents_and_hide_other_namespaces(b: Backend) {
    let (app, _) = family(b).await;
    app.create_namespace("search").await;
    app.create_model("search", "ranker").await;
    app.sealed_version("search", "ranker", lineage(DATA, None), &[("m.bin", b"r")])
        .await;

    let app_ref = &app;
    let get = |path: String| async move {
        let r = app_ref.req(Method::GET, &path).send().await.unwrap();
        r.json::<Value>().await.unwrap()
    };
    let by_data = get(format!("/v1/lineage/datasets/{DATA}")).await;
    assert_eq!(
        entries(&by_data["items"]),
        vec![
            ("fraud/base".into(), 1, 0),
            ("search/ranker".into(), 1, 0),
            ("fraud/ft".into(), 1, 1),
            ("fraud/ft".into(), 2, 2)
        ]
    );
    let by_other = get(format!("/v1/lineage/datasets/{OTHER_DATA}")).await;
    assert_eq!(
        entries(&by_other["items"]),
        // ft@2 names the data itself and descends from ft@1: listed once, nearest.
        vec![("fraud/ft".into(), 1, 0), ("fraud/ft".into(), 2, 0)]
    );
    let by_commit = get(format!("/v1/lineage/commits/{}", "C0".repeat(20))).await;
    assert_eq!(
        by_commit["items"].as_array().unwrap().len(),
        4,
        "commit ids are case-insensitive"
    );

    let up = get("/v1/models/fraud/ft/versions/2/lineage".into()).await;
    assert_eq!(
        entries(&up["ancestors"]),
        vec![("fraud/ft".into(), 1, 1), ("fraud/base".into(), 1, 2)]
    );
    assert_eq!(up["descendants"], json!([]));
    let down = get("/v1/models/fraud/base/versions/1/lineage".into()).await;
    assert_eq!(
        entries(&down["descendants"]),
        vec![("fraud/ft".into(), 1, 1), ("fraud/ft".into(), 2, 2)]
    );

    // A reader of `search` alone sees only `search` in the answers.
    app.req(Method::PUT, "/v1/namespaces/search/members/sam")
        .json(&json!({"roles": ["reader"]}))
        .send()
        .await
        .unwrap();
    let r = app
        .req(Method::POST, "/v1/tokens")
        .json(&json!({"principal": "sam"}))
        .send()
        .await
        .unwrap();
    let sam = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let seen: Value = app
        .anon(Method::GET, &format!("/v1/lineage/datasets/{DATA}"))
        .bearer_auth(&sam)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        entries(&seen["items"]),
        vec![("search/ranker".into(), 1, 0)]
    );
    let r = app
        .req(Method::GET, "/v1/lineage/datasets/not-a-digest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn who_may_impose_and_lift_quarantines(b: Backend) {
    let (app, _) = family(b).await;
    app.create_namespace("search").await;
    let maint = app.member_token("maria", "fraud", "maintainer").await;
    let publisher = app.member_token("pete", "fraud", "publisher").await;
    let outsider = app.member_token("olga", "search", "maintainer").await;
    let post = |t: &str, kind: &str, value: &str| {
        app.anon(Method::POST, "/v1/quarantines")
            .bearer_auth(t.to_owned())
            .json(&json!({"kind": kind, "value": value, "reason": "suspect"}))
            .send()
    };

    // A maintainer stops a dataset in the namespaces it maintains, and may trust
    // it there again.
    let r = post(&maint, "dataset", DATA).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let q = r.json::<Value>().await.unwrap();
    assert_eq!(q["namespaces"], json!(["fraud"]));
    let r = app
        .anon(
            Method::DELETE,
            &format!("/v1/quarantines/{}", q["id"].as_str().unwrap()),
        )
        .bearer_auth(&maint)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Everywhere takes a global role, to impose and to lift.
    let everywhere = |t: &str| {
        app.anon(Method::POST, "/v1/quarantines")
            .bearer_auth(t.to_owned())
            .json(&json!({"kind": "dataset", "value": DATA, "reason": "x", "namespaces": ["*"]}))
            .send()
    };
    assert_eq!(
        everywhere(&maint).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let r = everywhere(&app.admin).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .anon(Method::DELETE, &format!("/v1/quarantines/{id}"))
        .bearer_auth(&maint)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Versions: the namespace's maintainers, both ways.
    let r = post(&maint, "version", "fraud/ft@2").await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let vid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .anon(Method::DELETE, &format!("/v1/quarantines/{vid}"))
        .bearer_auth(&maint)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        post(&outsider, "version", "fraud/ft@2")
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&publisher, "version", "fraud/ft@2")
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&publisher, "dataset", DATA).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&maint, "version", "fraud/ft@9")
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    for (kind, value) in [
        ("dataset", "xyz"),
        ("commit", "123"),
        ("version", "fraud/ft"),
        ("model", "fraud/ft"),
    ] {
        assert_eq!(
            post(&maint, kind, value).await.unwrap().status(),
            StatusCode::BAD_REQUEST,
            "{kind} {value}"
        );
    }
    // The outsider lists quarantines without seeing fraud's version quarantine.
    let list: Value = app
        .anon(Method::GET, "/v1/quarantines")
        .bearer_auth(&outsider)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["dataset"]);
    let r = app
        .anon(Method::GET, "/v1/quarantines")
        .bearer_auth(&publisher)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// One team's quarantine of a dataset stops its own versions built from it, not
/// another team's, which that team could not lift.
async fn a_quarantine_blocks_only_the_namespaces_it_names(b: Backend) {
    let (app, _) = family(b).await;
    app.create_namespace("search").await;
    app.create_model("search", "ranker").await;
    let signer = Signer::generate();
    signer.register(&app, "search-ci", &["search"]).await;
    let (v, st) = app
        .sealed_version("search", "ranker", lineage(DATA, None), &[("r.bin", b"r")])
        .await;
    app.sign("search", "ranker", v, &signer.envelope(&st)).await;
    let olga = app.member_token("olga", "search", "maintainer").await;
    let maria = app.member_token("maria", "fraud", "maintainer").await;
    let post = |t: &str, body: Value| {
        app.anon(Method::POST, "/v1/quarantines")
            .bearer_auth(t.to_owned())
            .json(&body)
            .send()
    };

    // Olga may not reach into fraud, nor everywhere.
    let into_fraud =
        json!({"kind": "dataset", "value": DATA, "reason": "x", "namespaces": ["fraud"]});
    assert_eq!(
        post(&olga, into_fraud).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let everywhere = json!({"kind": "dataset", "value": DATA, "reason": "x", "namespaces": ["*"]});
    assert_eq!(
        post(&olga, everywhere).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    let r = post(
        &olga,
        json!({"kind": "dataset", "value": DATA, "reason": "bad rows"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let q: Value = r.json().await.unwrap();
    assert_eq!(q["namespaces"], json!(["search"]));
    let affected: Vec<&str> = q["affected_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(affected, ["search"]);

    // search's version is blocked; fraud's, built from the same data, are not.
    let r = app.promote("search", "ranker", "production", v).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let reasons = r.json::<Value>().await.unwrap()["error"]["reasons"].clone();
    assert_eq!(reasons, json!(["quarantined"]));
    assert_eq!(
        app.promote("fraud", "base", "staging", 1).await.status(),
        StatusCode::OK
    );
    let fraud_base: Value = app
        .get_version("fraud", "base", 1)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fraud_base["quarantined"], false);

    // Only search's maintainers (or an admin) trust it again.
    let id = q["id"].as_str().unwrap();
    let lift = |t: &str| {
        app.anon(Method::DELETE, &format!("/v1/quarantines/{id}"))
            .bearer_auth(t.to_owned())
            .send()
    };
    assert_eq!(lift(&maria).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(lift(&olga).await.unwrap().status(), StatusCode::NO_CONTENT);

    // The log says where it applied, for the imposition and the lifting.
    let log: Value = app
        .req(
            Method::GET,
            "/v1/audit?principal=olga&outcome=allowed&limit=100",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scoped: Vec<Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().contains("/v1/quarantines"))
        .map(|e| serde_json::from_str::<Value>(e["detail"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(scoped.len(), 2);
    for d in scoped {
        assert_eq!(d["namespaces"], json!(["search"]));
    }
}
