use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

/// Regenerate with `SIGNET_UPDATE_OPENAPI=1 cargo test openapi`.
#[test]
fn the_committed_openapi_document_matches_the_handlers() {
    let generated = signet::http::openapi().to_pretty_json().unwrap() + "\n";
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
    let api: Value = serde_json::from_str(&signet::http::openapi().to_json().unwrap()).unwrap();
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
    let expected: Value =
        serde_json::from_str(&signet::http::openapi().to_json().unwrap()).unwrap();
    assert_eq!(served, expected);
    let r = app.anon(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("swagger-ui"));
}
