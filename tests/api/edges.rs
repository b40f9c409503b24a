use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code};

crate::on_both_backends!(
    bad_names_and_paths_are_refused_before_reaching_storage,
    malformed_bodies_get_the_error_envelope,
    every_v1_route_requires_a_valid_token,
    every_answer_carries_a_request_id,
    health_and_readiness_answer,
    a_json_body_that_is_not_an_object_is_refused_everywhere,
    a_json_body_declared_too_large_is_refused_before_it_is_sent,
    api_answers_are_neither_sniffed_nor_cached,
    a_request_head_sent_too_slowly_is_cut_off,
    a_version_holds_at_most_the_configured_number_of_files,
    text_with_nul_is_refused_everywhere,
);

async fn bad_names_and_paths_are_refused_before_reaching_storage(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;

    for bad in ["Fraud", "-x", "a b", "x".repeat(64).as_str(), "é"] {
        let r = app.create_namespace(bad).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "namespace {bad:?}");
        let r = app.create_model(&ns, bad).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "model {bad:?}");
    }
    let long = "a/".repeat(512) + "b";
    // HTTP clients resolve `..` before sending; these go out byte for byte.
    for path in ["../etc/passwd", "a/../b", "./a", "a/./b", ".."] {
        let target = format!("/v1/models/{ns}/{model}/versions/{v}/files/{path}");
        assert_eq!(
            app.raw_status("PUT", &target, b"x").await,
            400,
            "raw path {path:?}"
        );
        assert_eq!(
            app.raw_status("GET", &target, b"").await,
            400,
            "raw get {path:?}"
        );
    }
    for path in [
        "%2E%2E%2Fetc%2Fpasswd",
        "a%2F%2E%2E%2Fb",
        "%2Fabs",
        "a%5Cb",
        "a%00b",
        "a//b",
        "sp%20ace",
        long.as_str(),
    ] {
        let r = app
            .put_file(&ns, &model, v, path, b"x".to_vec(), None)
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "path {path:?}");
        assert_eq!(error_code(r).await, "invalid_request");
        let r = app.get_file(&ns, &model, v, path).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "get path {path:?}");
    }
    for version in ["0", "-1", "abc", "1.5", "99999999999999999999"] {
        let r = app
            .req(
                Method::GET,
                &format!("/v1/models/{ns}/{model}/versions/{version}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "version {version:?}");
    }
    let r = app
        .req(Method::GET, "/v1/models/Bad/x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(ver["files"], json!([]));
    assert!(
        app.stored_objects().await.is_empty(),
        "nothing reached storage"
    );
}

async fn malformed_bodies_get_the_error_envelope(b: Backend) {
    let app = TestApp::spawn(b).await;
    let send = |body: &'static str, ct: &'static str| {
        app.req(Method::POST, "/v1/namespaces")
            .header("content-type", ct)
            .body(body)
            .send()
    };
    for (body, ct) in [
        ("{not json", "application/json"),
        (
            "{\"name\": \"ok\", \"created_by\": \"mallory\"}",
            "application/json",
        ),
        ("{\"name\": 5}", "application/json"),
        ("{\"name\": \"ok\"}", "text/plain"),
        ("[]", "application/json"),
    ] {
        let r = send(body, ct).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_request");
        assert!(
            v["error"]["request_id"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        assert!(v["error"]["message"].as_str().is_some());
    }
    let r = app
        .req(Method::GET, "/v1/nothing-here")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "not_found");
    let r = app
        .req(Method::PATCH, "/v1/namespaces")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(r).await, "method_not_allowed");
    let r = app
        .req(Method::GET, "/v1/namespaces?limit=5&bogus=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Nothing was created by any of the above.
    let list: Value = app
        .req(Method::GET, "/v1/namespaces")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]));
}

async fn every_v1_route_requires_a_valid_token(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let routes = [
        (Method::GET, "/v1/whoami".to_string()),
        (Method::GET, "/v1/namespaces".to_string()),
        (Method::POST, "/v1/namespaces".to_string()),
        (Method::GET, format!("/v1/namespaces/{ns}")),
        (Method::GET, "/v1/models".to_string()),
        (Method::POST, "/v1/models".to_string()),
        (Method::GET, format!("/v1/models/{ns}/{model}")),
        (Method::POST, format!("/v1/models/{ns}/{model}/versions")),
        (Method::GET, format!("/v1/models/{ns}/{model}/versions")),
        (Method::GET, format!("/v1/models/{ns}/{model}/versions/{v}")),
        (
            Method::POST,
            format!("/v1/models/{ns}/{model}/versions/{v}/seal"),
        ),
        (
            Method::PUT,
            format!("/v1/models/{ns}/{model}/versions/{v}/files/a"),
        ),
        (
            Method::GET,
            format!("/v1/models/{ns}/{model}/versions/{v}/files/a"),
        ),
        (
            Method::DELETE,
            format!("/v1/models/{ns}/{model}/versions/{v}/files/a"),
        ),
    ];
    let one_off = {
        let mut t = app.admin.clone().into_bytes();
        let last = t.len() - 1;
        t[last] = if t[last] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    };
    for (m, path) in routes {
        let r = app.anon(m.clone(), &path).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{m} {path} without a token"
        );
        assert_eq!(error_code(r).await, "unauthenticated");
        let r = app
            .anon(m.clone(), &path)
            .bearer_auth(&one_off)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{m} {path} with a wrong token"
        );
        let r = app
            .anon(m.clone(), &format!("{path}?access_token={}", app.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{m} {path}: tokens in query strings do not count"
        );
    }
    // The stored form of a token (its hash) does not authenticate.
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(app.admin.as_bytes()))
    };
    let r = app
        .anon(Method::GET, "/v1/whoami")
        .bearer_auth(&hash)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .anon(Method::GET, "/v1/whoami")
        .bearer_auth(format!("sgn_{hash}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Draft still empty: no unauthenticated call changed anything.
    let ver: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(ver["state"], "draft");
    assert_eq!(ver["files"], json!([]));
}

async fn every_answer_carries_a_request_id(b: Backend) {
    let app = TestApp::spawn(b).await;
    for (m, path, authed) in [
        (Method::GET, "/healthz", false),
        (Method::GET, "/v1/whoami", true),
        (Method::GET, "/v1/whoami", false),
        (Method::GET, "/v1/models/fraud/none", true),
    ] {
        let rb = if authed {
            app.req(m, path)
        } else {
            app.anon(m, path)
        };
        let r = rb.send().await.unwrap();
        assert!(r.headers().get("x-request-id").is_some(), "{path}");
    }
    let r = app
        .req(Method::GET, "/v1/models/fraud/none")
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-42");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["request_id"], "trace-42");
}

async fn health_and_readiness_answer(b: Backend) {
    let app = TestApp::spawn(b).await;
    assert_eq!(
        app.anon(Method::GET, "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.anon(Method::GET, "/readyz")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

/// Every route that takes a JSON body refuses one that is not an object (an
/// array would otherwise fill a struct field by field), and changes nothing.
async fn a_json_body_that_is_not_an_object_is_refused_everywhere(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    let before: Value = app
        .req(Method::PUT, "/v1/namespaces/fraud/policy")
        .json(&json!({"min_signatures": 3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api: Value = signet::http::openapi();
    let mut checked = 0;
    for (path, item) in api["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // Raw bytes (files, appends of an upload) are not JSON.
            if op["requestBody"]["content"]
                .get("application/json")
                .is_none()
            {
                continue;
            }
            let url = path
                .replace("{ns}", "fraud")
                .replace("{model}", "scorer")
                .replace("{v}", "1")
                .replace("{alias}", "production")
                .replace("{principal}", "bob")
                .replace("{keyid}", &"ab".repeat(32))
                .replace("{id}", "8c3a3f0e-0b7e-4d6a-9a51-2f6f4e7d9b10");
            for body in ["[]", "[{}]", "\"x\"", "1", "null", "true", "  [ ]"] {
                let r = app
                    .req(method.to_uppercase().parse().unwrap(), &url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    r.status(),
                    StatusCode::BAD_REQUEST,
                    "{method} {path} {body}"
                );
                assert_eq!(
                    error_code(r).await,
                    "invalid_request",
                    "{method} {path} {body}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 7 * 10, "only {checked} requests were checked");
    let after: Value = app
        .req(Method::GET, "/v1/namespaces/fraud/policy")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, before, "a refused body changed the policy");
}

/// A JSON route refuses a body declared too large before reading any of it.
async fn a_json_body_declared_too_large_is_refused_before_it_is_sent(b: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn(b).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/models HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{{",
        app.admin
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    // The answer comes with only one byte of the declared GiB sent; the guard
    // only keeps a broken server from hanging the suite.
    let mut answer = vec![0u8; 12];
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        sock.read_exact(&mut answer),
    )
    .await
    .expect("answered without waiting for the body")
    .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 413");
}

/// API answers are never sniffed or cached, whatever they are.
async fn api_answers_are_neither_sniffed_nor_cached(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    app.put_file(&ns, &model, v, "m.bin", b"x".to_vec(), None)
        .await;
    let minted = app
        .req(Method::POST, "/v1/tokens")
        .json(&json!({"principal": "ci"}))
        .send()
        .await
        .unwrap();
    let missing = app
        .req(Method::GET, "/v1/namespaces/nope")
        .send()
        .await
        .unwrap();
    let download = app.get_file(&ns, &model, v, "m.bin").await;
    let anonymous = app.anon(Method::GET, "/v1/whoami").send().await.unwrap();
    for r in [minted, missing, download, anonymous] {
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{}", r.status());
        assert_eq!(h["cache-control"], "no-store", "{}", r.status());
        assert!(h.get("server").is_none(), "a server banner is sent");
    }
}

/// A client that never finishes its request head (one byte at a time, or not at
/// all) loses its connection after the header-read timeout.
async fn a_request_head_sent_too_slowly_is_cut_off(b: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(b, |c| c.header_read_timeout_secs = 1).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: signet\r\nX-Slow: ")
        .await
        .unwrap();
    // The server closes the connection (possibly after a 408); the guard only
    // keeps a server without the timeout from hanging the suite.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        sock.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "the connection was still open after 20 s");
    let answer = String::from_utf8_lossy(&rest);
    assert!(
        !answer.contains("200 OK"),
        "a request without its head was served: {answer}"
    );
    // A client that does finish its head is served as usual.
    let r = app.anon(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn a_version_holds_at_most_the_configured_number_of_files(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.max_files_per_version = 2).await;
    let (ns, model, v) = app.given_draft().await;
    for path in ["a.bin", "b.bin"] {
        let r = app
            .put_file(&ns, &model, v, path, b"x".to_vec(), None)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    }
    let stored = app.stored_objects().await.len();
    let r = app
        .put_file(&ns, &model, v, "c.bin", b"x".to_vec(), None)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "too_many_files");
    assert_eq!(
        app.stored_objects().await.len(),
        stored,
        "the refused upload left bytes"
    );
    // Replacing a file keeps the count, so it is allowed.
    let r = app
        .put_file(&ns, &model, v, "b.bin", b"y".to_vec(), None)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let view: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(view["files"].as_array().unwrap().len(), 2);
}

/// NUL is refused wherever text comes in (no database stores it; PostgreSQL
/// failed on it), with a 400 and nothing written.
async fn text_with_nul_is_refused_everywhere(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let bodies = [
        (
            "/v1/namespaces",
            json!({"name": "nul", "description": "a\0b"}),
        ),
        (
            "/v1/models",
            json!({"namespace": ns, "name": "nul", "description": "\0"}),
        ),
        (
            "/v1/tokens",
            json!({"principal": "ci", "description": "x\0"}),
        ),
    ];
    for (path, body) in bodies {
        let r = app
            .req(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {body}");
    }
    for metadata in [
        json!({"note": "a\0"}),
        json!({"a\0": 1}),
        json!({"l": [{"x": "\0"}]}),
    ] {
        let r = app
            .create_version(&ns, &model, json!({"metadata": metadata}))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{metadata}");
    }
    let r = app
        .req(Method::GET, "/v1/audit?request_id=a%00b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Nothing was written: no namespace, no model, no version, no token.
    let nul_ns = app
        .req(Method::GET, "/v1/namespaces/nul")
        .send()
        .await
        .unwrap();
    assert_eq!(nul_ns.status(), StatusCode::NOT_FOUND);
    let versions: Value = app
        .req(Method::GET, &format!("/v1/models/{ns}/{model}/versions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions["items"], json!([]));
    let tokens: Value = app
        .req(Method::GET, "/v1/tokens?principal=ci")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["items"], json!([]));
}
