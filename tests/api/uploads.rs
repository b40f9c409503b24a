use object_store::{ObjectStoreExt, PutPayload};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::helpers::{Backend, TestApp, bytes_of, error_code, eventually, sha256_hex};

crate::on_both_backends!(
    a_digest_mismatch_is_refused_and_leaves_nothing,
    a_sealed_version_refuses_every_change,
    sealing_an_empty_version_is_refused,
    an_upload_over_the_limit_is_refused_whether_or_not_its_length_is_declared,
    a_client_that_disconnects_mid_upload_leaves_no_visible_file,
    a_blob_altered_in_storage_is_detected_on_download,
    gc_removes_unreferenced_blobs_and_keeps_referenced_ones,
    a_path_cannot_be_both_a_file_and_a_directory,
    replacing_and_deleting_files_in_a_draft_changes_what_is_sealed,
);

async fn a_digest_mismatch_is_refused_and_leaves_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let bytes = bytes_of(9 << 20, 5);
    let wrong = sha256_hex(b"something else");

    let r = app
        .put_file(&ns, &model, v, "m.bin", bytes, Some(&wrong))
        .await;

    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "digest_mismatch");
    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(ver["files"], serde_json::json!([]));
    assert_eq!(
        app.get_file(&ns, &model, v, "m.bin").await.status(),
        StatusCode::NOT_FOUND
    );
    let gc = signet::registry::gc::collect(&*app.store, &app.blobs, chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(gc.deleted, 0, "the refused upload was never completed");
    assert!(app.stored_objects().await.is_empty());

    let r = app
        .put_file(&ns, &model, v, "m.bin", b"x".to_vec(), Some("not-hex"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_request");
}

async fn a_sealed_version_refuses_every_change(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    app.put_file(&ns, &model, v, "m.bin", b"weights".to_vec(), None)
        .await;
    assert_eq!(app.seal(&ns, &model, v).await.status(), StatusCode::OK);
    let before: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();

    let r = app
        .put_file(&ns, &model, v, "m.bin", b"other".to_vec(), None)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "version_sealed");
    let r = app
        .put_file(&ns, &model, v, "new.bin", b"other".to_vec(), None)
        .await;
    assert_eq!(error_code(r).await, "version_sealed");
    let r = app.delete_file(&ns, &model, v, "m.bin").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "version_sealed");
    let r = app.seal(&ns, &model, v).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "version_sealed");

    let after: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(before, after);
    assert_eq!(
        app.get_file(&ns, &model, v, "m.bin")
            .await
            .bytes()
            .await
            .unwrap(),
        "weights"
    );
    assert_eq!(
        app.stored_objects().await.len(),
        1,
        "refused uploads left no blob"
    );
}

async fn sealing_an_empty_version_is_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let r = app.seal(&ns, &model, v).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "empty_version");
    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(ver["state"], "draft");
}

async fn an_upload_over_the_limit_is_refused_whether_or_not_its_length_is_declared(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.max_file_size = 1 << 20).await;
    let (ns, model, v) = app.given_draft().await;

    let r = app
        .put_file(&ns, &model, v, "big.bin", bytes_of((1 << 20) + 1, 1), None)
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(r).await, "too_large");

    // Chunked: no Content-Length, so the limit is enforced while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..17).map(|i| Ok(bytes_of(64 << 10, i))).collect();
    let r = app
        .req(
            Method::PUT,
            &format!("/v1/models/{ns}/{model}/versions/{v}/files/big.bin"),
        )
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(r).await, "too_large");

    let exact = bytes_of(1 << 20, 2);
    assert_eq!(
        app.put_file(&ns, &model, v, "ok.bin", exact, None)
            .await
            .status(),
        StatusCode::CREATED
    );
    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(ver["files"].as_array().unwrap().len(), 1);
    assert_eq!(app.stored_objects().await.len(), 1);
}

/// Polls `cond` until it holds or 15 s pass: the server notices a vanished client
/// asynchronously, and there is no event to wait on from outside.
async fn a_client_that_disconnects_mid_upload_leaves_no_visible_file(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /v1/models/{ns}/{model}/versions/{v}/files/partial.bin HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        app.admin,
        40 << 20
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    // More than one part, so the store holds uploaded parts when the client vanishes.
    sock.write_all(&bytes_of(10 << 20, 9)).await.unwrap();
    sock.flush().await.unwrap();
    drop(sock);

    assert!(
        eventually(|| async { app.stored_objects().await.is_empty() }).await,
        "no object may remain from an interrupted upload"
    );
    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(ver["files"], serde_json::json!([]));
    assert_eq!(
        app.get_file(&ns, &model, v, "partial.bin").await.status(),
        StatusCode::NOT_FOUND
    );
    // The same path uploads fine afterwards.
    let r = app
        .put_file(&ns, &model, v, "partial.bin", b"ok".to_vec(), None)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn a_blob_altered_in_storage_is_detected_on_download(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    // Long enough to be read from S3 as several ranged parts, the last one short.
    let bytes = bytes_of(19 << 20, 4);
    app.put_file(&ns, &model, v, "m.bin", bytes.clone(), None)
        .await;
    let objects = app.stored_objects().await;
    assert_eq!(objects.len(), 1);
    let r = app.get_file(&ns, &model, v, "m.bin").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.bytes().await.unwrap() == bytes,
        "intact, it reads back whole"
    );

    // Sabotage, written straight into the store. A byte flipped near the start
    // or in the last part: the headers go out before the bytes are checked, so
    // the response is cut short, never completed.
    let flipped = |at: usize| {
        let mut t = bytes.clone();
        t[at] ^= 0xff;
        t
    };
    for (case, tampered) in [
        ("flipped early", flipped(1_000_000)),
        ("flipped late", flipped(bytes.len() - 10)),
    ] {
        app.raw
            .put(&objects[0], PutPayload::from(tampered))
            .await
            .unwrap();
        let r = app.get_file(&ns, &model, v, "m.bin").await;
        assert_eq!(r.status(), StatusCode::OK, "{case}");
        assert!(
            r.bytes().await.is_err(),
            "{case}: the response must be aborted, not completed"
        );
    }
    // A byte cut off or added: the length is known before anything is sent,
    // so the download is refused outright, as an integrity failure, saying
    // nothing of storage.
    for (case, tampered) in [
        ("one byte short", bytes[..bytes.len() - 1].to_vec()),
        ("one byte more", [&bytes[..], b"x"].concat()),
    ] {
        app.raw
            .put(&objects[0], PutPayload::from(tampered))
            .await
            .unwrap();
        let r = app.get_file(&ns, &model, v, "m.bin").await;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR, "{case}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains(r#""code":"integrity_failure""#),
            "{case}: {body}"
        );
        assert!(
            !body.contains("size") && !body.contains("length"),
            "{case}: {body}"
        );
    }

    let metrics = app.metrics().await;
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("signet_integrity_failures_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(failures >= 4, "{failures}");
}

async fn gc_removes_unreferenced_blobs_and_keeps_referenced_ones(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    app.put_file(&ns, &model, v, "keep.bin", b"one".to_vec(), None)
        .await;
    app.put_file(&ns, &model, v, "replace.bin", b"old".to_vec(), None)
        .await;
    app.put_file(&ns, &model, v, "replace.bin", b"new".to_vec(), None)
        .await;
    app.put_file(&ns, &model, v, "gone.bin", b"bye".to_vec(), None)
        .await;
    assert_eq!(
        app.delete_file(&ns, &model, v, "gone.bin").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.stored_objects().await.len(), 4);

    let store = &*app.store;
    let blobs = &app.blobs;
    let within_grace = signet::registry::gc::collect(store, blobs, chrono::Duration::hours(24))
        .await
        .unwrap();
    assert_eq!(within_grace.deleted, 0, "young blobs are left alone");

    let report = signet::registry::gc::collect(store, blobs, chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(report.scanned, 4);
    assert_eq!(report.deleted, 2);
    assert_eq!(app.stored_objects().await.len(), 2);
    assert_eq!(
        app.get_file(&ns, &model, v, "keep.bin")
            .await
            .bytes()
            .await
            .unwrap(),
        "one"
    );
    assert_eq!(
        app.get_file(&ns, &model, v, "replace.bin")
            .await
            .bytes()
            .await
            .unwrap(),
        "new"
    );
}

async fn a_path_cannot_be_both_a_file_and_a_directory(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    assert_eq!(
        app.put_file(&ns, &model, v, "a/b", b"1".to_vec(), None)
            .await
            .status(),
        StatusCode::CREATED
    );
    let r = app.put_file(&ns, &model, v, "a", b"2".to_vec(), None).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "conflict");
    let r = app
        .put_file(&ns, &model, v, "a/b/c", b"3".to_vec(), None)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Similar names that are not prefixes are fine.
    assert_eq!(
        app.put_file(&ns, &model, v, "a_b", b"4".to_vec(), None)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.put_file(&ns, &model, v, "a.b/c", b"5".to_vec(), None)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.stored_objects().await.len(),
        3,
        "refused uploads left no blob"
    );
}

async fn replacing_and_deleting_files_in_a_draft_changes_what_is_sealed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    app.put_file(&ns, &model, v, "m.bin", b"old".to_vec(), None)
        .await;
    app.put_file(&ns, &model, v, "m.bin", b"new".to_vec(), None)
        .await;
    app.put_file(&ns, &model, v, "tmp.bin", b"tmp".to_vec(), None)
        .await;
    assert_eq!(
        app.delete_file(&ns, &model, v, "tmp.bin").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete_file(&ns, &model, v, "tmp.bin").await.status(),
        StatusCode::NOT_FOUND
    );

    let sealed: Value = app.seal(&ns, &model, v).await.json().await.unwrap();
    let files = sealed["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["sha256"], sha256_hex(b"new"));
}

/// A small filesystem of its own for the blob directory (tmpfs); `None` where
/// this machine does not let the tests mount one.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(mib: u64) -> Option<Self> {
        let dir =
            std::env::temp_dir().join(format!("signet-full-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Self(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_blob_disk_refuses_uploads_clearly_and_keeps_serving_reads() {
    let Some(disk) = SmallDisk::mount(24) else {
        eprintln!("skipped: this machine does not let the tests mount a tmpfs");
        return;
    };
    let blobs = disk.0.join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.storage.storage_url = Some(blobs.display().to_string());
    })
    .await;
    let (ns, model, v) = app.given_draft().await;
    let kept = bytes_of(4 << 20, 1);
    let r = app
        .put_file(&ns, &model, v, "kept.bin", kept.clone(), None)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // More than the disk holds: 507, nothing recorded, nothing left behind.
    let r = app
        .put_file(&ns, &model, v, "big.bin", bytes_of(40 << 20, 2), None)
        .await;
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(error_code(r).await, "insufficient_storage");
    let r = app
        .req(
            Method::POST,
            &format!("/v1/models/{ns}/{model}/versions/{v}/uploads"),
        )
        .json(&serde_json::json!({ "path": "parts.bin", "size": 40 << 20 }))
        .send()
        .await
        .unwrap();
    let upload = r.headers()["location"].to_str().unwrap().to_owned();
    let r = app
        .req(Method::PATCH, &upload)
        .header("upload-offset", 0)
        .body(bytes_of(40 << 20, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(error_code(r).await, "insufficient_storage");
    let r = app.req(Method::DELETE, &upload).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    let paths: Vec<&str> = ver["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["kept.bin"]);

    // Reads go on, and so do uploads that fit once the space is back.
    let got = app.get_file(&ns, &model, v, "kept.bin").await;
    assert_eq!(got.status(), StatusCode::OK);
    assert!(got.bytes().await.unwrap() == kept);
    let r = app.anon(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .put_file(&ns, &model, v, "small.bin", bytes_of(4 << 20, 4), None)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}
