//! Request rate limits: per principal, and per client address without a valid
//! token; refusals are audited without letting a flood grow the log. Download
//! quotas per principal, shared by replicas.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

crate::on_both_backends!(
    callers_faster_than_their_rate_are_refused_and_logged_once_per_window,
    download_quotas_are_shared_by_replicas_and_shown_to_the_caller,
    concurrent_downloads_on_two_replicas_never_exceed_the_quota,
    ranges_after_the_first_byte_count_bytes_but_not_files,
);

async fn callers_faster_than_their_rate_are_refused_and_logged_once_per_window(b: Backend) {
    // One request per 10 s after a burst of 3: the requests below all come well
    // within the first 10 s, so exactly 3 of each caller's go through.
    let app = TestApp::spawn_with(b, |c| {
        c.rate_limit = "6/min:3".parse().unwrap();
        c.anonymous_rate_limit = "6/min:3".parse().unwrap();
        c.rate_limit_roles = "admin=60000/min:6000".parse().unwrap();
    })
    .await;
    app.create_namespace("fraud").await;
    let alice = app.member_token("alice", "fraud", "reader").await;
    let bob = app.member_token("bob", "fraud", "reader").await;
    let whoami = |token: Option<&str>| {
        let mut r = app.anon(Method::GET, "/v1/whoami");
        if let Some(t) = token {
            r = r.bearer_auth(t.to_owned());
        }
        r.send()
    };

    let mut alice_statuses = Vec::new();
    for _ in 0..8 {
        let r = whoami(Some(&alice)).await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let wait: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=10).contains(&wait), "Retry-After {wait}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited");
            alice_statuses.push(429);
        } else {
            alice_statuses.push(r.status().as_u16());
        }
    }
    assert_eq!(alice_statuses, [200, 200, 200, 429, 429, 429, 429, 429]);
    // Another principal has a rate of its own; the admin's role has a faster one.
    assert_eq!(whoami(Some(&bob)).await.unwrap().status(), StatusCode::OK);
    for _ in 0..10 {
        assert_eq!(
            app.req(Method::GET, "/v1/whoami")
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }

    // Without a valid token, the client address is what is counted.
    let mut anon_statuses = Vec::new();
    for i in 0..8 {
        let token = (i % 2 == 0).then_some("sgn_not-a-real-token-000000000000000000");
        anon_statuses.push(whoami(token).await.unwrap().status().as_u16());
    }
    assert_eq!(anon_statuses, [401, 401, 401, 429, 429, 429, 429, 429]);

    // Each caller's refusals of the window left one event, not five.
    let log: Value = app
        .req(Method::GET, "/v1/audit?action=GET%20/v1/whoami&limit=1000")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = log["items"].as_array().unwrap();
    let limited: Vec<&Value> = events.iter().filter(|e| e["status"] == 429).collect();
    assert_eq!(limited.len(), 2, "{limited:?}");
    assert!(limited.iter().all(|e| e["outcome"] == "denied"));
    assert!(limited.iter().any(|e| e["principal"] == "alice"));
    assert!(
        limited
            .iter()
            .any(|e| e["principal"].is_null() && e["client_addr"] == "127.0.0.1")
    );
    let unauthenticated = events.iter().filter(|e| e["status"] == 401).count();
    assert_eq!(unauthenticated, 3, "every request under the rate is logged");
}

async fn whoami_downloads(app: &TestApp, token: &str) -> Value {
    app.whoami(token).await["usage"]["downloads"].clone()
}

/// A namespace with one 1000-byte file in a draft, and a publisher there.
async fn given_a_file(app: &TestApp) -> (String, String, i64, String) {
    let (ns, model, v) = app.given_draft().await;
    let r = app
        .put_file(&ns, &model, v, "m.bin", vec![7u8; 1000], None)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let carol = app.member_token("carol", &ns, "publisher").await;
    (ns, model, v, carol)
}

async fn download(
    app: &TestApp,
    token: &str,
    path: &str,
    range: Option<&str>,
) -> reqwest::Response {
    let mut r = app.anon(Method::GET, path).bearer_auth(token);
    if let Some(range) = range {
        r = r.header("Range", range);
    }
    r.send().await.unwrap()
}

async fn download_quotas_are_shared_by_replicas_and_shown_to_the_caller(b: Backend) {
    let a = TestApp::spawn_with(b, |c| c.download_quota = "2500/10".parse().unwrap()).await;
    let other = a.replica().await;
    let (ns, model, v, carol) = given_a_file(&a).await;
    let path = format!("/v1/models/{ns}/{model}/versions/{v}/files/m.bin");

    let fresh = whoami_downloads(&a, &carol).await;
    assert_eq!(fresh["bytes"], 0);
    assert_eq!(fresh["quota_bytes"], 2500);
    assert_eq!(fresh["quota_files"], 10);
    assert_eq!(fresh["window_seconds"], 86_400);

    // One download on each replica: 2000 of 2500 bytes used, seen by both.
    let r = download(&a, &carol, &path, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().len(), 1000);
    let r = download(&other, &carol, &path, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.bytes().await.unwrap();
    let used = whoami_downloads(&other, &carol).await;
    assert_eq!(
        (used["bytes"].as_u64(), used["files"].as_u64()),
        (Some(2000), Some(2))
    );

    // A third would pass 2500 on either replica: refused, and nothing counted.
    for replica in [&a, &other] {
        let r = download(replica, &carol, &path, None).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=86_400).contains(&wait), "Retry-After {wait}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "quota_exceeded");
    }
    assert_eq!(whoami_downloads(&a, &carol).await["bytes"], 2000);
    // A range that still fits is served.
    let r = download(&a, &carol, &path, Some("bytes=0-99")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().len(), 100);

    // The quota is the principal's: another principal downloads as usual, and
    // the refusal is in the access log under the namespace.
    let dave = a.member_token("dave", &ns, "publisher").await;
    assert_eq!(
        download(&other, &dave, &path, None).await.status(),
        StatusCode::OK
    );
    let log: Value = a
        .req(
            Method::GET,
            &format!("/v1/audit?principal=carol&namespace={ns}&limit=1000"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == 429)
        .count();
    assert!(refused >= 1, "the quota refusal was not logged: {log}");
}

async fn concurrent_downloads_on_two_replicas_never_exceed_the_quota(b: Backend) {
    let a = TestApp::spawn_with(b, |c| c.download_quota = "off/4".parse().unwrap()).await;
    let other = a.replica().await;
    let (ns, model, v, carol) = given_a_file(&a).await;
    let path = format!("/v1/models/{ns}/{model}/versions/{v}/files/m.bin");
    let attempts = (0..12).map(|i| {
        let replica = if i % 2 == 0 { &a } else { &other };
        let (carol, path) = (carol.clone(), path.clone());
        async move { download(replica, &carol, &path, None).await.status() }
    });
    let statuses = futures::future::join_all(attempts).await;
    let served = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((served, refused), (4, 8), "{statuses:?}");
    assert_eq!(whoami_downloads(&other, &carol).await["files"], 4);
}

async fn ranges_after_the_first_byte_count_bytes_but_not_files(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.download_quota = "1200/1".parse().unwrap()).await;
    let (ns, model, v, carol) = given_a_file(&app).await;
    let path = format!("/v1/models/{ns}/{model}/versions/{v}/files/m.bin");
    // A pull resumed in pieces: the first piece counts the file.
    for range in ["bytes=0-499", "bytes=500-999"] {
        let r = download(&app, &carol, &path, Some(range)).await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
    }
    let used = whoami_downloads(&app, &carol).await;
    assert_eq!(
        (used["bytes"].as_u64(), used["files"].as_u64()),
        (Some(1000), Some(1))
    );
    // Starting the file again is a second file: over the quota of one.
    let r = download(&app, &carol, &path, Some("bytes=0-9")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // More bytes than are left are refused too; what fits is served.
    let r = download(&app, &carol, &path, Some("bytes=100-499")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = download(&app, &carol, &path, Some("bytes=100-299")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
}
