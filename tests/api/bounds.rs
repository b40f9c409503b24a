//! Resource bounds: stalled bodies, request deadlines, connections per address,
//! and the configurable caps on lineage and metadata. Each refusal leaves
//! nothing behind.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, error_code};

crate::on_both_backends!(
    an_upload_slower_than_the_floor_is_aborted_and_leaves_nothing,
    a_json_request_whose_body_stalls_times_out_and_changes_nothing,
    connections_beyond_an_address_bound_are_refused_until_one_closes,
    lineage_and_metadata_caps_are_configurable,
);

/// Reads what the server sends until it closes the connection; the guard only
/// keeps a server without the bound from hanging the suite.
async fn answer_then_close(sock: &mut TcpStream) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), sock.read_to_end(&mut got))
        .await
        .expect("the server neither answered nor closed within 20 s")
        .unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

async fn an_upload_slower_than_the_floor_is_aborted_and_leaves_nothing(b: Backend) {
    let app = TestApp::spawn_with(b, |c| {
        c.upload_min_rate = 1000;
        c.upload_stall_secs = 1;
    })
    .await;
    let (ns, model, v) = app.given_draft().await;
    let before = app.stored_objects().await.len();
    let mut sock = connect(&app).await;
    let head = format!(
        "PUT /v1/models/{ns}/{model}/versions/{v}/files/slow.bin HTTP/1.1\r\nHost: signet\r\n\
         Authorization: Bearer {}\r\nContent-Length: 1000000\r\n\r\n",
        app.admin
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    // 10 bytes, then nothing: far below 1000 bytes a second.
    sock.write_all(&[1u8; 10]).await.unwrap();
    let answer = answer_then_close(&mut sock).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("upload_too_slow"), "{answer}");
    let view: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(view["files"], json!([]), "the aborted file was recorded");
    assert_eq!(app.stored_objects().await.len(), before, "bytes were kept");
    // An upload that keeps up is stored as usual.
    let r = app
        .put_file(&ns, &model, v, "fast.bin", vec![2u8; 100_000], None)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn a_json_request_whose_body_stalls_times_out_and_changes_nothing(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.request_timeout_secs = 1).await;
    let mut sock = connect(&app).await;
    let head = format!(
        "POST /v1/namespaces HTTP/1.1\r\nHost: signet\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\": \"slow",
        app.admin
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let answer = answer_then_close(&mut sock).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    let r = app
        .req(Method::GET, "/v1/namespaces/slow")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "the namespace was created"
    );
    // Requests that arrive whole are unaffected.
    assert_eq!(
        app.create_namespace("quick").await.status(),
        StatusCode::CREATED
    );
}

/// Sends one request on a kept-alive connection and returns its status line.
async fn status_on(sock: &mut TcpStream) -> String {
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: signet\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), sock.read(&mut buf))
        .await
        .expect("no answer within 20 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

async fn connections_beyond_an_address_bound_are_refused_until_one_closes(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.max_connections_per_address = 2).await;
    let mut first = connect(&app).await;
    let mut second = connect(&app).await;
    assert_eq!(status_on(&mut first).await, "HTTP/1.1 200 OK");
    assert_eq!(status_on(&mut second).await, "HTTP/1.1 200 OK");
    // Both stay open: a third is refused and closed.
    let mut third = connect(&app).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: signet\r\n\r\n")
        .await
        .unwrap();
    let answer = answer_then_close(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    // The open ones are still served.
    assert_eq!(status_on(&mut first).await, "HTTP/1.1 200 OK");
    // Once one closes, a new connection is served (the server sees the close
    // when it reads the end of that connection; wait for that, bounded).
    drop(second);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut next = connect(&app).await;
        let status = status_on(&mut next).await;
        if status == "HTTP/1.1 200 OK" {
            break;
        }
        assert!(status.starts_with("HTTP/1.1 429"), "{status}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "a closed connection still counts"
        );
        tokio::task::yield_now().await;
    }
}

async fn lineage_and_metadata_caps_are_configurable(b: Backend) {
    let app = TestApp::spawn_with(b, |c| {
        c.max_lineage_data = 2;
        c.max_lineage_parents = 1;
        c.max_lineage_frameworks = 2;
        c.max_metadata_bytes = 100;
    })
    .await;
    let (ns, model) = app.given_model().await;
    let dataset = |i: u8| json!({"sha256": format!("{i:02x}").repeat(32)});
    let frameworks = |n: usize| {
        (0..n)
            .map(|i| (format!("fw{i}"), json!("1.0")))
            .collect::<serde_json::Map<_, _>>()
    };
    let refused = [
        json!({"lineage": {"data": [dataset(1), dataset(2), dataset(3)]}}),
        json!({"lineage": {"parents": [{"model": "a/b", "version": 1}, {"model": "a/c", "version": 1}]}}),
        json!({"lineage": {"environment": {"frameworks": frameworks(3)}}}),
        json!({"lineage": {"environment": {"frameworks": {"": "1.0"}}}}),
        json!({"lineage": {"environment": {"frameworks": {"a\u{7}b": "1.0"}}}}),
        json!({"lineage": {"environment": {"frameworks": {"x".repeat(201): "1.0"}}}}),
        json!({"metadata": {"note": "x".repeat(120)}}),
    ];
    for body in refused {
        let r = app.create_version(&ns, &model, body.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(r).await, "invalid_request", "{body}");
    }
    let versions: Value = app
        .req(Method::GET, &format!("/v1/models/{ns}/{model}/versions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        versions["items"],
        json!([]),
        "a refused version was created"
    );
    let within = json!({
        "lineage": {"data": [dataset(1), dataset(2)], "environment": {"frameworks": frameworks(2)}},
        "metadata": {"note": "x".repeat(40)},
    });
    let r = app.create_version(&ns, &model, within).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}
