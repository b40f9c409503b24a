use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::{Backend, TestApp, bytes_of, error_code, sha256_hex};

crate::on_both_backends!(
    a_pushed_version_comes_back_byte_exact_with_its_statement,
    a_restart_keeps_models_versions_and_bytes,
    a_range_request_returns_exactly_those_bytes,
);

async fn a_pushed_version_comes_back_byte_exact_with_its_statement(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let commit = "c0ffee".repeat(6) + "c0ff";
    let lineage = json!({
        "code": {"repo": "https://git.example.com/fraud/scorer", "commit": commit},
        "data": [{"name": "tx-2026-10", "uri": "s3://datasets/tx/2026-10", "sha256": "ab".repeat(32)}],
        "environment": {"image": format!("registry.example.com/train@sha256:{}", "cd".repeat(32)), "python": "3.11"},
    });
    let r = app
        .create_version(
            &ns,
            &model,
            json!({"lineage": lineage, "metadata": {"auc": 0.91}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v = r.json::<Value>().await.unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["state"], "draft");

    // 12 MiB crosses the 8 MiB multipart boundary; the empty file has no parts.
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("weights/model.bin", bytes_of(12 << 20, 1)),
        ("a.txt", b"config".to_vec()),
        ("a/b", bytes_of(1000, 2)),
        ("empty", Vec::new()),
    ];
    for (path, bytes) in &files {
        let r = app
            .put_file(
                &ns,
                &model,
                1,
                path,
                bytes.clone(),
                Some(&sha256_hex(bytes)),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
        let f: Value = r.json().await.unwrap();
        assert_eq!(f["sha256"], sha256_hex(bytes));
        assert_eq!(f["size"], bytes.len());
    }

    let r = app.seal(&ns, &model, 1).await;
    assert_eq!(r.status(), StatusCode::OK);
    let sealed: Value = r.json().await.unwrap();
    assert_eq!(sealed["state"], "sealed");

    // Statement order is by path components: a/b, a.txt, empty, weights/...
    let order = ["a/b", "a.txt", "empty", "weights/model.bin"];
    let by_path = |p: &str| files.iter().find(|(q, _)| *q == p).unwrap().1.clone();
    let mut cat = Vec::new();
    for p in order {
        cat.extend_from_slice(&sha2::Sha256::digest(by_path(p)));
    }
    let root = hex::encode(sha2::Sha256::digest(&cat));
    assert_eq!(sealed["root_digest"], root);
    let st = &sealed["statement"];
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(st["predicateType"], "https://model_signing/signature/v1.0");
    assert_eq!(
        st["subject"],
        json!([{"name": "fraud/scorer", "digest": {"sha256": root}}])
    );
    let names: Vec<&str> = st["predicate"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, order);
    assert_eq!(
        st["predicate"]["serialization"],
        json!({"method": "files", "hash_type": "sha256", "allow_symlinks": false, "ignore_paths": []})
    );
    assert_eq!(st["predicate"]["signet"]["registry"], "signet-test");
    assert_eq!(st["predicate"]["signet"]["model"], "fraud/scorer");
    assert_eq!(st["predicate"]["signet"]["version"], 1);
    assert_eq!(
        st["predicate"]["signet"]["lineage"]["code"]["commit"],
        commit
    );

    for (path, bytes) in &files {
        let r = app.get_file(&ns, &model, 1, path).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-checksum-sha256"], sha256_hex(bytes).as_str());
        assert_eq!(
            r.headers()["content-length"],
            bytes.len().to_string().as_str()
        );
        let got = r.bytes().await.unwrap();
        assert!(got[..] == bytes[..], "{path} differs");
    }

    let v: Value = app.get_version(&ns, &model, 1).await.json().await.unwrap();
    assert_eq!(v["state"], "sealed");
    assert_eq!(v["root_digest"], root);
    assert_eq!(v["metadata"], json!({"auc": 0.91}));
    assert_eq!(v["files"].as_array().unwrap().len(), 4);
    let m: Value = app
        .req(Method::GET, "/v1/models/fraud/scorer")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["latest_version"], 1);
}

async fn a_restart_keeps_models_versions_and_bytes(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let bytes = bytes_of(300_000, 7);
    assert_eq!(
        app.put_file(&ns, &model, v, "m.bin", bytes.clone(), None)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(app.seal(&ns, &model, v).await.status(), StatusCode::OK);

    let app = app.restart().await;

    let got = app
        .get_version(&ns, &model, v)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(got["state"], "sealed");
    let r = app.get_file(&ns, &model, v, "m.bin").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap()[..] == bytes[..]);
    // The bootstrap token is not minted twice, and the old one still works.
    let who = app.req(Method::GET, "/v1/whoami").send().await.unwrap();
    assert_eq!(who.status(), StatusCode::OK);
    // Numbers continue after a restart.
    let r = app.create_version(&ns, &model, json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["version"], v + 1);
}

async fn a_range_request_returns_exactly_those_bytes(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let bytes = bytes_of(100_000, 3);
    app.put_file(&ns, &model, v, "m.bin", bytes.clone(), None)
        .await;
    let url = format!("/v1/models/{ns}/{model}/versions/{v}/files/m.bin");

    let r = app
        .req(Method::GET, &url)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/100000");
    assert!(r.bytes().await.unwrap()[..] == bytes[10..20]);

    let r = app
        .req(Method::GET, &url)
        .header("Range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert!(r.bytes().await.unwrap()[..] == bytes[99_995..]);

    let r = app
        .req(Method::GET, &url)
        .header("Range", "bytes=100000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], "bytes */100000");
    assert_eq!(error_code(r).await, "range_not_satisfiable");
}
