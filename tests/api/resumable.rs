//! Resumable uploads: parts committed at offsets, nothing visible before
//! completion, interruptions at any point resumed to byte-exact files,
//! digests checked at completion, expired sessions collected.

use futures::TryStreamExt;
use object_store::path::Path;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::{Backend, TestApp, bytes_of, error_code, eventually, sha256_hex};

crate::on_both_backends!(
    parts_commit_at_offsets_and_the_file_appears_only_when_complete,
    an_interruption_at_any_point_resumes_to_the_exact_file,
    a_session_survives_a_restart_of_the_service,
    a_wrong_digest_at_completion_discards_the_upload,
    expired_sessions_are_refused_and_collected_with_their_parts,
    sessions_keep_to_their_version_roles_and_limits,
);

const PART: usize = 8 << 20;

struct Session<'a> {
    app: &'a TestApp,
    url: String,
}

impl<'a> Session<'a> {
    async fn start(
        app: &'a TestApp,
        ns: &str,
        model: &str,
        v: i64,
        path: &str,
        size: usize,
    ) -> Self {
        let r = app
            .req(
                Method::POST,
                &format!("/v1/models/{ns}/{model}/versions/{v}/uploads"),
            )
            .json(&json!({ "path": path, "size": size }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["offset"], 0);
        assert_eq!(body["part_size"], PART);
        assert_eq!(body["complete"], false);
        assert!(location.ends_with(body["id"].as_str().unwrap()));
        Self { app, url: location }
    }

    async fn append(&self, offset: usize, bytes: &[u8]) -> reqwest::Response {
        self.app
            .req(Method::PATCH, &self.url)
            .header("upload-offset", offset)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
    }

    async fn offset(&self) -> (StatusCode, Option<u64>) {
        let r = self.app.req(Method::GET, &self.url).send().await.unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (status, body["offset"].as_u64())
    }

    async fn complete(&self, sha256: &str) -> reqwest::Response {
        self.app
            .req(Method::POST, &format!("{}/complete", self.url))
            .json(&json!({ "sha256": sha256 }))
            .send()
            .await
            .unwrap()
    }

    /// Sends the head of an append of `whole` from `offset` and `sent` bytes
    /// of it; the connection stays open until the caller drops it.
    async fn send_partly(&self, offset: usize, whole: &[u8], sent: usize) -> tokio::net::TcpStream {
        let addr = self.app.base.trim_start_matches("http://").to_owned();
        let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "PATCH {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Upload-Offset: {offset}\r\nContent-Length: {}\r\n\r\n",
            self.url,
            self.app.admin,
            whole.len() - offset
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(&whole[offset..offset + sent]).await.unwrap();
        sock.flush().await.unwrap();
        sock
    }
}

/// Staging files of local sessions (S3 keeps parts out of listings).
async fn staged(app: &TestApp) -> Vec<Path> {
    app.raw
        .list(Some(&Path::from("uploads")))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .unwrap_or_default()
}

async fn parts_commit_at_offsets_and_the_file_appears_only_when_complete(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let data = bytes_of(2 * PART + (4 << 20) + 3, 21);
    let s = Session::start(&app, &ns, &model, v, "weights/model.bin", data.len()).await;

    // One part and a bit: the part is committed, the bit is not kept.
    let r = s.append(0, &data[..PART + 1000]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["upload-offset"], PART.to_string().as_str());
    assert_eq!(r.json::<Value>().await.unwrap()["offset"], PART);

    // Nothing is visible yet.
    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(ver["files"], json!([]));
    let got = app.get_file(&ns, &model, v, "weights/model.bin").await;
    assert_eq!(got.status(), StatusCode::NOT_FOUND);
    assert!(app.stored_objects().await.is_empty());

    // Another offset than the committed one is refused, saying where to go on.
    let r = s.append(0, &data[..PART]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.headers()["upload-offset"], PART.to_string().as_str());
    assert_eq!(error_code(r).await, "upload_offset_mismatch");
    let r = s.append(PART + 1000, &data[PART + 1000..]).await;
    assert_eq!(error_code(r).await, "upload_offset_mismatch");

    // Completing early is refused.
    let r = s.complete(&sha256_hex(&data)).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "upload_incomplete");

    // More bytes than declared are refused.
    let mut longer = data[PART..].to_vec();
    longer.push(0);
    let r = s.append(PART, &longer).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_request");

    let r = s.append(PART, &data[PART..]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["offset"], data.len());
    let r = s.complete(&sha256_hex(&data)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["sha256"], sha256_hex(&data));
    assert_eq!(file["size"], data.len());

    // Completing again answers the same file.
    let again = s.complete(&sha256_hex(&data)).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.json::<Value>().await.unwrap(), file);

    let got = app.get_file(&ns, &model, v, "weights/model.bin").await;
    assert_eq!(got.status(), StatusCode::OK);
    assert!(got.bytes().await.unwrap() == data);
    // Chaining values were recorded per part: a range across a part boundary
    // checks out.
    let (from, to) = (PART - 5, PART + (5 << 20));
    let r = app
        .req(
            Method::GET,
            &format!("/v1/models/{ns}/{model}/versions/{v}/files/weights/model.bin"),
        )
        .header("range", format!("bytes={from}-{}", to - 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert!(r.bytes().await.unwrap() == data[from..to]);
    assert_eq!(app.seal(&ns, &model, v).await.status(), StatusCode::OK);
    assert!(staged(&app).await.is_empty());
}

async fn an_interruption_at_any_point_resumes_to_the_exact_file(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let data = bytes_of(3 * PART + 12_345, 22);
    let s = Session::start(&app, &ns, &model, v, "big.bin", data.len()).await;
    // Where the connection breaks, in bytes of the file: before anything, inside
    // the first part, at a part's end and just after, deep into a later part,
    // one byte before the end.
    let cuts = [
        0,
        1,
        PART - 1,
        PART,
        PART + 1,
        2 * PART + 777,
        3 * PART,
        data.len() - 1,
    ];
    let mut offset = 0;
    for cut in cuts {
        if cut < offset {
            continue;
        }
        let sock = s.send_partly(offset, &data, cut - offset).await;
        // Whole parts commit while the request still runs...
        let whole = cut / PART * PART;
        assert!(
            eventually(|| async { s.offset().await.1 == Some(whole as u64) }).await,
            "the parts received whole before byte {cut} are committed"
        );
        drop(sock);
        // ...and stay committed after it breaks; the tail is not kept.
        let got = app.req(Method::GET, &s.url).send().await.unwrap();
        assert_eq!(got.json::<Value>().await.unwrap()["offset"], whole);
        offset = whole;
    }
    // The file's end was never sent whole: it still needs its last part.
    let r = s.complete(&sha256_hex(&data)).await;
    assert_eq!(error_code(r).await, "upload_incomplete");
    let r = s.append(offset, &data[offset..]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.complete(&sha256_hex(&data)).await.status(),
        StatusCode::CREATED
    );
    let got = app.get_file(&ns, &model, v, "big.bin").await;
    assert!(
        got.bytes().await.unwrap() == data,
        "byte-exact after resuming"
    );
    // Ranges are checked block by block against the chaining values the parts
    // kept across the interruptions (a wrong one refuses its block with a 500).
    let last = data.len() - 1;
    for (from, to) in [
        (0, 10),
        (4 << 20, (4 << 20) + 5),
        (PART - 3, PART + 3),
        (2 * PART + 777, 3 * PART + 100),
        (last - 7, last),
    ] {
        let r = app
            .req(
                Method::GET,
                &format!("/v1/models/{ns}/{model}/versions/{v}/files/big.bin"),
            )
            .header("Range", format!("bytes={from}-{to}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{from}-{to}");
        assert!(r.bytes().await.unwrap() == data[from..=to], "{from}-{to}");
    }
}

async fn a_session_survives_a_restart_of_the_service(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let data = bytes_of(PART + 5, 23);
    let url = Session::start(&app, &ns, &model, v, "a.bin", data.len())
        .await
        .url;
    let s = Session { app: &app, url };
    assert_eq!(s.append(0, &data[..PART]).await.status(), StatusCode::OK);
    let url = s.url.clone();

    let app = app.restart().await;
    let s = Session { app: &app, url };
    assert_eq!(s.offset().await, (StatusCode::OK, Some(PART as u64)));
    assert_eq!(s.append(PART, &data[PART..]).await.status(), StatusCode::OK);
    assert_eq!(
        s.complete(&sha256_hex(&data)).await.status(),
        StatusCode::CREATED
    );
    let got = app.get_file(&ns, &model, v, "a.bin").await;
    assert!(got.bytes().await.unwrap() == data);
}

async fn a_wrong_digest_at_completion_discards_the_upload(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let data = bytes_of(PART + 10, 24);
    let s = Session::start(&app, &ns, &model, v, "m.bin", data.len()).await;
    assert_eq!(s.append(0, &data).await.status(), StatusCode::OK);

    let r = s.complete(&sha256_hex(b"other bytes")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "digest_mismatch");
    assert_eq!(s.offset().await.0, StatusCode::NOT_FOUND);
    let r = s.complete(&sha256_hex(&data)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(ver["files"], json!([]));
    assert!(app.stored_objects().await.is_empty());
    assert!(staged(&app).await.is_empty());

    let r = s.complete("not-hex").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn expired_sessions_are_refused_and_collected_with_their_parts(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let data = bytes_of(2 * PART, 25);
    let old = Session::start(&app, &ns, &model, v, "old.bin", data.len()).await;
    assert_eq!(old.append(0, &data[..PART]).await.status(), StatusCode::OK);
    let live = Session::start(&app, &ns, &model, v, "live.bin", data.len()).await;
    assert_eq!(live.append(0, &data[..PART]).await.status(), StatusCode::OK);
    let old_id = old.url.rsplit('/').next().unwrap().replace('-', "");
    app.sql("UPDATE upload_sessions SET expires_at = 1 WHERE path = 'old.bin'")
        .await;

    assert_eq!(old.offset().await.0, StatusCode::NOT_FOUND);
    // A few bytes: the answer comes before the body is read, and a body the
    // server never reads can reset the connection before the client reads it.
    let r = old.append(PART, &data[PART..PART + 16]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        old.complete(&sha256_hex(&data)).await.status(),
        StatusCode::NOT_FOUND
    );

    let removed = signet::registry::uploads::expire(&*app.store, &app.blobs)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(
        !staged(&app)
            .await
            .iter()
            .any(|p| p.as_ref().ends_with(&old_id)),
        "the expired session's parts are gone"
    );
    // The live one goes on.
    assert_eq!(
        live.append(PART, &data[PART..]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        live.complete(&sha256_hex(&data)).await.status(),
        StatusCode::CREATED
    );
    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    let paths: Vec<&str> = ver["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["live.bin"]);
}

async fn sessions_keep_to_their_version_roles_and_limits(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.max_file_size = 3 * PART as u64).await;
    let (ns, model, v) = app.given_draft().await;
    let base = format!("/v1/models/{ns}/{model}/versions/{v}/uploads");
    let s = Session::start(&app, &ns, &model, v, "x.bin", 10).await;

    // A reader of the namespace cannot start or see one; a publisher of
    // another namespace does not learn it exists.
    let reader = app.member_token("rita", &ns, "reader").await;
    let r = app
        .client
        .post(format!("{}{base}", app.base))
        .bearer_auth(&reader)
        .json(&json!({ "path": "y.bin", "size": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .get(format!("{}{}", app.base, s.url))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.create_namespace("other").await.status(),
        StatusCode::CREATED
    );
    let outsider = app.member_token("olga", "other", "publisher").await;
    let r = app
        .client
        .patch(format!("{}{}", app.base, s.url))
        .bearer_auth(&outsider)
        .header("upload-offset", 0)
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The session belongs to its version: another version does not have it.
    let r = app.create_version(&ns, &model, json!({})).await;
    let v2 = r.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();
    let elsewhere = s
        .url
        .replace(&format!("/versions/{v}/"), &format!("/versions/{v2}/"));
    let r = app.req(Method::GET, &elsewhere).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .req(Method::GET, &format!("{base}/not-a-uuid"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Bad starts: too large, a bad path, unknown fields, no offset.
    for (body, code) in [
        (
            json!({ "path": "big.bin", "size": 3 * PART + 1 }),
            "invalid_request",
        ),
        (json!({ "path": "../x", "size": 1 }), "invalid_request"),
        (
            json!({ "path": "a.bin", "size": 1, "state": "x" }),
            "invalid_request",
        ),
        (json!({ "path": "a.bin", "size": -1 }), "invalid_request"),
    ] {
        let r = app
            .req(Method::POST, &base)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(r).await, code, "{body}");
    }
    let r = app
        .req(Method::PATCH, &s.url)
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Sealed meanwhile: the session cannot complete, and new ones cannot start.
    assert_eq!(s.append(0, &[7u8; 10]).await.status(), StatusCode::OK);
    app.put_file(&ns, &model, v, "other.bin", b"w".to_vec(), None)
        .await;
    assert_eq!(app.seal(&ns, &model, v).await.status(), StatusCode::OK);
    let r = s.complete(&sha256_hex(&[7u8; 10])).await;
    assert_eq!(error_code(r).await, "version_sealed");
    let r = app
        .req(Method::POST, &base)
        .json(&json!({ "path": "late.bin", "size": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "version_sealed");
    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(ver["files"].as_array().unwrap().len(), 1);

    // Abandoning one discards it.
    let s2 = Session::start(&app, &ns, &model, v2, "z.bin", PART + 1).await;
    assert_eq!(
        s2.append(0, &bytes_of(PART, 3)).await.status(),
        StatusCode::OK
    );
    let r = app.req(Method::DELETE, &s2.url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(s2.offset().await.0, StatusCode::NOT_FOUND);
    let s2_id = s2.url.rsplit('/').next().unwrap().replace('-', "");
    assert!(
        !staged(&app)
            .await
            .iter()
            .any(|p| p.as_ref().ends_with(&s2_id))
    );
}
