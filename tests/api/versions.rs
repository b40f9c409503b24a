use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, TestApp, error_code, full_lineage};

crate::on_both_backends!(
    concurrent_version_creation_yields_distinct_gap_free_numbers,
    lineage_is_validated_and_parents_must_exist_and_be_sealed,
    versions_list_newest_first_in_pages,
    duplicates_are_conflicts,
    a_version_shows_each_file_once_and_only_the_aliases_at_it,
);

async fn concurrent_version_creation_yields_distinct_gap_free_numbers(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let n = 24;
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let req = app
                .req(Method::POST, &format!("/v1/models/{ns}/{model}/versions"))
                .json(&json!({}));
            tokio::spawn(async move { req.send().await.unwrap() })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        numbers.insert(
            r.json::<Value>().await.unwrap()["version"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(numbers, (1..=n).collect::<BTreeSet<i64>>());
}

async fn lineage_is_validated_and_parents_must_exist_and_be_sealed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, base) = app.given_draft().await;

    for (bad, why) in [
        (json!({"code": {"commit": "abc123"}}), "short commit"),
        (json!({"data": [{"sha256": "xyz"}]}), "bad digest"),
        (
            json!({"data": [{"sha256": "ab".repeat(32), "uri": "no scheme"}]}),
            "bad uri",
        ),
        (
            json!({"parents": [{"model": "fraud", "version": 1}]}),
            "parent without namespace",
        ),
        (json!({"environment": {"gpu": "a100"}}), "unknown field"),
        (json!({"verified": true}), "server-owned field"),
    ] {
        let r = app
            .create_version(&ns, &model, json!({ "lineage": bad }))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(error_code(r).await, "invalid_request", "{why}");
    }
    let r = app
        .create_version(&ns, &model, json!({"lineage": {}, "state": "sealed"}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "state is server-owned");
    let r = app
        .create_version(&ns, &model, json!({"metadata": [1, 2]}))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "metadata must be an object"
    );

    let parent = json!({"lineage": {"parents": [{"model": "fraud/scorer", "version": base}]}});
    let r = app.create_version(&ns, &model, parent.clone()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "draft parent");
    assert_eq!(error_code(r).await, "invalid_lineage");
    let missing = json!({"lineage": {"parents": [{"model": "fraud/other", "version": 1}]}});
    let r = app.create_version(&ns, &model, missing).await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing parent"
    );

    // Refusals consumed no version numbers.
    app.put_file(&ns, &model, base, "m.bin", b"w".to_vec(), None)
        .await;
    app.seal(&ns, &model, base).await;
    let r = app.create_version(&ns, &model, parent).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["version"], base + 1);
    assert_eq!(
        v["lineage"],
        json!({"parents": [{"model": "fraud/scorer", "version": base}]})
    );
}

async fn versions_list_newest_first_in_pages(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    for _ in 0..5 {
        app.create_version(&ns, &model, json!({})).await;
    }
    let mut seen = Vec::new();
    let mut url = format!("/v1/models/{ns}/{model}/versions?limit=2");
    loop {
        let page: Value = app
            .req(Method::GET, &url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["version"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/v1/models/{ns}/{model}/versions?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![5, 4, 3, 2, 1]);
    let r = app
        .req(
            Method::GET,
            &format!("/v1/models/{ns}/{model}/versions?limit=0"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .req(Method::GET, &format!("/v1/models/{ns}/nope/versions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn duplicates_are_conflicts(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let r = app.create_namespace(&ns).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "conflict");
    let r = app.create_model(&ns, &model).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app.create_model("nowhere", "m").await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "a model needs an existing namespace"
    );
    let models: Value = app
        .req(Method::GET, "/v1/models?namespace=fraud")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["items"].as_array().unwrap().len(), 1);
}

/// What `GET` of a version shows: every file once, in path order, every
/// signature once, as received, and exactly the aliases that point at that
/// version, in name order, as they move.
async fn a_version_shows_each_file_once_and_only_the_aliases_at_it(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let files: &[(&str, &[u8])] = &[("c.bin", b"c"), ("a.txt", b"a"), ("b/w.bin", b"w")];
    let (v1, statement) = app.sealed_version(&ns, &model, full_lineage(), files).await;
    // The greater keyid signs first: shown as received, not by keyid.
    let mut keys = [Signer::generate(), Signer::generate()];
    keys.sort_by(|a, b| b.keyid.cmp(&a.keyid));
    for (key, name) in keys.iter().zip(["ci", "release"]) {
        assert_eq!(
            key.register(&app, name, &[&ns]).await.status(),
            StatusCode::CREATED
        );
    }
    for key in &keys {
        let r = app.sign(&ns, &model, v1, &key.envelope(&statement)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let (v2, statement) = app
        .sealed_version(&ns, &model, full_lineage(), &[("only.bin", b"o")])
        .await;
    let r = app
        .sign(&ns, &model, v2, &keys[0].envelope(&statement))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    for (alias, v) in [
        ("production", v1),
        ("canary", v1),
        ("a-first", v1),
        ("staging", v2),
    ] {
        assert_eq!(
            app.promote(&ns, &model, alias, v).await.status(),
            StatusCode::OK
        );
    }
    let r = app.create_version(&ns, &model, json!({})).await;
    let draft = r.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();

    let shown = |v: i64| {
        let app = &app;
        let (ns, model) = (ns.clone(), model.clone());
        async move {
            let r = app.get_version(&ns, &model, v).await;
            assert_eq!(r.status(), StatusCode::OK);
            let view: Value = r.json().await.unwrap();
            let listed = |list: &str, field: &str| -> Vec<String> {
                view[list]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f[field].as_str().unwrap().to_owned())
                    .collect()
            };
            let signed = listed("signatures", "status");
            (listed("files", "path"), view["aliases"].clone(), signed)
        }
    };
    let verified = |n: usize| vec!["verified".to_owned(); n];
    assert_eq!(
        shown(v1).await,
        (
            vec!["a.txt".into(), "b/w.bin".into(), "c.bin".into()],
            json!(["a-first", "canary", "production"]),
            verified(2)
        )
    );
    let keyids: Vec<Value> = app
        .get_version(&ns, &model, v1)
        .await
        .json::<Value>()
        .await
        .unwrap()["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["keyid"].clone())
        .collect();
    assert_eq!(keyids, [json!(keys[0].keyid), json!(keys[1].keyid)]);
    assert_eq!(
        shown(v2).await,
        (vec!["only.bin".into()], json!(["staging"]), verified(1))
    );
    assert_eq!(shown(draft).await, (vec![], json!([]), vec![]));

    assert_eq!(
        app.promote(&ns, &model, "canary", v2).await.status(),
        StatusCode::OK
    );
    assert_eq!(shown(v1).await.1, json!(["a-first", "production"]));
    assert_eq!(shown(v2).await.1, json!(["canary", "staging"]));
    let r = app.get_version(&ns, &model, draft + 1).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "not_found");
}
