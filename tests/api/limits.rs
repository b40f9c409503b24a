//! Request rate limits: per principal, and per client address without a valid
//! token; refusals are audited without letting a flood grow the log.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

crate::on_both_backends!(callers_faster_than_their_rate_are_refused_and_logged_once_per_window,);

async fn callers_faster_than_their_rate_are_refused_and_logged_once_per_window(b: Backend) {
    // One request per 10 s after a burst of 3: the requests below all come well
    // within the first 10 s, so exactly 3 of each caller's go through.
    let app = TestApp::spawn_with(b, |c| {
        c.rate_limit = "6/min:3".into();
        c.anonymous_rate_limit = "6/min:3".into();
        c.rate_limit_roles = "admin=60000/min:6000".into();
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
