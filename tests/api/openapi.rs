use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

/// Regenerate with `SIGNET_UPDATE_OPENAPI=1 cargo test openapi`.
#[test]
fn the_committed_openapi_document_matches_the_handlers() {
    let generated = serde_json::to_string_pretty(&signet::http::openapi()).unwrap() + "\n";
    if std::env::var_os("SIGNET_UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).expect("openapi/openapi.json exists");
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run SIGNET_UPDATE_OPENAPI=1 cargo test openapi and commit it"
    );
}

#[test]
fn the_document_lists_every_v1_route_with_bearer_auth() {
    let api: Value = signet::http::openapi();
    let paths = api["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/models/{ns}/{model}/versions/{v}/files/{path}"));
    assert!(paths.keys().all(|p| !p.contains('*')));
    assert!(api["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn the_service_serves_its_document_and_a_docs_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let r = app.anon(Method::GET, "/openapi.json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let served: Value = r.json().await.unwrap();
    // The served document states this server's limits (the tests' 1 GiB files).
    let expected: Value = signet::http::openapi_with(&signet::http::contract::Advertised {
        max_file_size: 1 << 30,
        ..Default::default()
    });
    assert_eq!(served, expected);
    let r = app.anon(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("swagger-ui"));
}

/// Every parameter states its rule, so a client (or a fuzzer) knows from the
/// document alone what the server accepts; a new route without one fails here.
#[test]
fn every_parameter_states_its_rule() {
    let api: Value = signet::http::openapi();
    let rules = ["pattern", "enum", "format", "minimum", "maxLength"];
    let mut bare = Vec::new();
    for (path, item) in api["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let schema = p["schema"].as_object().unwrap();
                // `Range` is free: forms Signet does not serve are ignored.
                if p["name"] != "Range" && !rules.iter().any(|r| schema.contains_key(*r)) {
                    bare.push(format!("{method} {path} {}", p["name"]));
                }
            }
            let responses = op["responses"].as_object().unwrap();
            for status in ["429", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            if path.starts_with("/v1/") {
                assert!(responses.contains_key("401"), "{method} {path} lacks 401");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }
    assert!(bare.is_empty(), "parameters without a rule: {bare:?}");
}

/// The public document names the contract's version, not the build's.
#[test]
fn the_document_does_not_reveal_the_build() {
    let api: Value = signet::http::openapi();
    assert_eq!(api["info"]["version"], "1");
    let text = api.to_string();
    assert!(!text.contains(env!("CARGO_PKG_VERSION")) || env!("CARGO_PKG_VERSION") == "1");
}

/// A server states its own configured limits in the document it serves.
#[tokio::test]
async fn the_served_document_states_the_configured_limits() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.token_max_days = 30;
        c.token_default_days = 30;
        c.max_lineage_data = 7;
    })
    .await;
    let served: Value = app
        .anon(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &served["components"]["schemas"];
    assert_eq!(
        schemas["CreateToken"]["properties"]["expires_in_days"]["maximum"],
        30
    );
    assert_eq!(schemas["Lineage"]["properties"]["data"]["maxItems"], 7);
    let r = app
        .req(Method::POST, "/v1/tokens")
        .json(&serde_json::json!({"principal": "ci", "expires_in_days": 31}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
