//! Errors that help: what is missing is named as asked (without telling
//! whether something hidden exists), refused tokens say why, a body that
//! does not fit names the field and the rule, every name error states the rule.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, TestApp};

crate::on_both_backends!(
    not_found_names_what_was_asked_for_and_hides_the_rest,
    refused_tokens_and_broken_bodies_say_what_and_why,
);

async fn error_of(r: reqwest::Response) -> (StatusCode, String, String) {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    (
        status,
        v["error"]["code"].as_str().unwrap().to_owned(),
        v["error"]["message"].as_str().unwrap().to_owned(),
    )
}

async fn not_found_names_what_was_asked_for_and_hides_the_rest(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.given_model().await;
    app.create_namespace("secret-lab").await;
    let get = |path: &'static str| app.req(Method::GET, path).send();
    for (path, message) in [
        ("/v1/models/fraud/nosuch", "model fraud/nosuch not found"),
        (
            "/v1/models/fraud/scorer/versions/99",
            "version fraud/scorer@99 not found",
        ),
        (
            "/v1/models/fraud/nosuch/versions/99",
            "model fraud/nosuch not found",
        ),
        (
            "/v1/models/fraud/scorer/aliases/canary",
            "alias fraud/scorer@canary not found",
        ),
        ("/v1/namespaces/nosuch", "namespace nosuch not found"),
        (
            "/v1/keys/0000000000000000000000000000000000000000000000000000000000000000",
            "key 0000000000000000000000000000000000000000000000000000000000000000 not found",
        ),
    ] {
        let (status, code, got) = error_of(get(path).await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
        assert_eq!(got, message, "{path}");
    }
    // A namespace the caller cannot see reads exactly like one that does not exist.
    let outsider = app.mint("outsider").await;
    let as_outsider =
        |path: &'static str| app.anon(Method::GET, path).bearer_auth(&outsider).send();
    let (_, _, hidden) = error_of(as_outsider("/v1/models/secret-lab/x").await.unwrap()).await;
    let (_, _, missing) = error_of(as_outsider("/v1/models/no-lab/x").await.unwrap()).await;
    assert_eq!(hidden, "namespace secret-lab not found");
    assert_eq!(missing, "namespace no-lab not found");
}

async fn refused_tokens_and_broken_bodies_say_what_and_why(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.given_model().await;
    // No token, and a token that is not one.
    let (status, _, none) =
        error_of(app.anon(Method::GET, "/v1/whoami").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(none.contains("Authorization: Bearer"), "{none}");
    for token in ["sgn_not-a-real-token", "garbage"] {
        let r = app
            .anon(Method::GET, "/v1/whoami")
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (status, code, why) = error_of(r).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthenticated")
        );
        assert_eq!(why, "the token is unknown, expired or revoked");
    }

    // A body that does not fit: the field's path and the rule, no parser talk.
    let r = app
        .create_version(
            "fraud",
            "scorer",
            json!({"lineage": {"data": [{"name": "tx", "sha256": "not-hex"}]}}),
        )
        .await;
    let (status, code, why) = error_of(r).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert!(why.starts_with("lineage.data[0].sha256: "), "{why}");
    for serde_words in ["line 1", "column", "Failed to deserialize", "target type"] {
        assert!(!why.contains(serde_words), "{why}");
    }
    for (body, field, rule) in [
        (
            json!({"lineage": {}, "stage": 1}),
            "the body",
            "stage is not a field here",
        ),
        (
            json!({"lineage": {"code": {"commit": 7}}}),
            "lineage.code.commit",
            "must be",
        ),
        (
            json!({"namespace": "fraud"}),
            "the body",
            "name is required",
        ),
    ] {
        let path = if body.get("namespace").is_some() {
            "/v1/models"
        } else {
            "/v1/models/fraud/scorer/versions"
        };
        let r = app
            .req(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, _, why) = error_of(r).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(why.starts_with(&format!("{field}: ")), "{body}: {why}");
        assert!(why.contains(rule), "{body}: {why}");
    }
    // A name that breaks the rule says the rule.
    let r = app
        .req(Method::POST, "/v1/models")
        .json(&json!({"namespace": "fraud", "name": "Scorer"}))
        .send()
        .await
        .unwrap();
    let (_, _, why) = error_of(r).await;
    assert!(why.contains("\"Scorer\"") && why.contains("a-z"), "{why}");

    // A key for a namespace that does not exist, or a PEM of two keys: refused.
    let key = Signer::generate();
    let r = key.register(&app, "ci", &["nosuch"]).await;
    let (status, _, why) = error_of(r).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(why, "namespace nosuch not found");
    let two = format!("{}{}", key.pem, Signer::generate().pem);
    let r = app
        .req(Method::POST, "/v1/keys")
        .json(&json!({"name": "both", "public_key": two, "namespaces": ["fraud"]}))
        .send()
        .await
        .unwrap();
    let (status, _, why) = error_of(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(why.contains("more than one public key"), "{why}");
}
