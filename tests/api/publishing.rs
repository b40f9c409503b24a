//! Trusted publishing against a real identity provider over HTTPS: the
//! exchange of a CI job's identity token, each refusal with its code, the
//! publisher's bounds, replay across replicas, key rotation, an issuer that
//! cannot be reached, and lineage bound to the job's commit.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use signet::config::OidcIssuers;

use crate::audit::events;
use crate::helpers::{Backend, Signer, TestApp, eventually};
use crate::issuer::{Issuer, Key, OTHER_SHA, SHA, hmac_signed, unsigned, with_payload};

crate::on_both_backends!(
    a_ci_job_exchanges_its_identity_and_publishes_a_signed_version,
    every_refused_identity_token_has_its_own_code,
    claims_must_match_a_publisher_exactly_and_tokens_stay_in_its_namespace,
    an_identity_token_is_exchanged_once_across_replicas,
    a_key_rotation_at_the_issuer_is_picked_up_and_the_old_key_dropped,
    an_issuer_that_cannot_be_reached_is_a_clear_503,
    a_version_must_name_the_commit_and_repository_of_its_job,
    publishers_are_set_by_maintainers_checked_and_audited,
    publisher_tokens_hold_only_the_publishers_roles_and_mint_nothing,
    the_trusted_publishing_walk_through_runs_as_printed,
    signet_login_takes_gitlabs_variable_or_a_file_and_says_why_it_was_refused,
);

/// A registry accepting `issuer`'s tokens, with namespace `ml` and model
/// `ml/scorer`.
async fn registry(b: Backend, issuer: &Issuer) -> TestApp {
    let (url, ca) = (issuer.url.clone(), issuer.ca_file.clone());
    let app = TestApp::spawn_with(b, move |cfg| {
        cfg.oidc.issuers = OidcIssuers(vec![url]);
        cfg.oidc.ca_file = Some(ca);
    })
    .await;
    assert_eq!(
        app.create_namespace("ml").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.create_model("ml", "scorer").await.status(),
        StatusCode::CREATED
    );
    app
}

/// The publisher GitHub's documentation suggests: this repository (with its
/// owner's id), this branch.
fn github_publisher(issuer: &Issuer) -> Value {
    json!({
        "issuer": issuer.url,
        "claims": {
            "repository": "acme/train",
            "repository_owner_id": "4242",
            "ref": "refs/heads/main",
        },
        "roles": ["publisher"],
    })
}

async fn put_publisher(app: &TestApp, token: &str, ns: &str, name: &str, body: &Value) -> Response {
    as_token(
        app,
        token,
        Method::PUT,
        &format!("/v1/namespaces/{ns}/trusted-publishers/{name}"),
    )
    .json(body)
    .send()
    .await
    .unwrap()
}

/// Sets a publisher as the admin; it must be taken.
async fn trusted(app: &TestApp, ns: &str, name: &str, body: &Value) {
    let r = put_publisher(app, &app.admin, ns, name, body).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

fn as_token(app: &TestApp, token: &str, method: Method, path: &str) -> RequestBuilder {
    app.anon(method, path).bearer_auth(token)
}

/// `POST /v1/oidc/token` with an identity token, as RFC 8693 spells it.
async fn exchange(app: &TestApp, subject_token: &str) -> Response {
    exchange_form(
        app,
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", subject_token),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ],
    )
    .await
}

async fn exchange_form(app: &TestApp, form: &[(&str, &str)]) -> Response {
    app.anon(Method::POST, "/v1/oidc/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap()
}

/// The publisher token an identity token is exchanged for.
async fn exchanged(app: &TestApp, subject_token: &str) -> String {
    let r = exchange(app, subject_token).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The refusal's status and code.
async fn refusal(r: Response) -> (StatusCode, String, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn create_version(app: &TestApp, token: &str, lineage: Value) -> Response {
    as_token(app, token, Method::POST, "/v1/models/ml/scorer/versions")
        .json(&json!({"lineage": lineage}))
        .send()
        .await
        .unwrap()
}

/// An access log event's detail (kept as JSON text).
fn detail(e: &Value) -> Value {
    serde_json::from_str(e["detail"].as_str().unwrap_or("{}")).unwrap_or_default()
}

/// `base` with `changes` merged into it.
fn merge(base: &Value, changes: Value) -> Value {
    let mut out = base.clone();
    for (k, v) in changes.as_object().unwrap() {
        out[k] = v.clone();
    }
    out
}

fn code_of(repo: &str, commit: &str) -> Value {
    json!({"code": {"repo": repo, "commit": commit}})
}

async fn a_ci_job_exchanges_its_identity_and_publishes_a_signed_version(b: Backend) {
    let issuer = Issuer::start().await;
    let app = registry(b, &issuer).await;
    let r = put_publisher(&app, &app.admin, "ml", "train", &github_publisher(&issuer)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["principal"],
        "oidc:ml/train"
    );

    // RS256 and ES256 tokens alike.
    let es = issuer.ec.sign(&issuer.github_claims());
    let r = exchange(&app, &es).await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(
        answer["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(answer["expires_in"], 900);
    assert_eq!(answer["scope"], "publisher:ml/train");
    let token = exchanged(&app, &issuer.token()).await;
    assert!(token.starts_with("sgp_"));
    let who = app.whoami(&token).await;
    assert_eq!(who["principal"], "oidc:ml/train");
    assert_eq!(
        who["roles"],
        json!([{"namespace": "ml", "role": "publisher"}])
    );

    // The job creates, uploads, seals; the version records where it ran.
    let r = create_version(
        &app,
        &token,
        code_of("https://github.com/acme/train.git", SHA),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let provenance = json!({
        "publisher": "ml/train",
        "issuer": issuer.url,
        "subject": "repo:acme/train:environment:production",
        "repository": "acme/train",
        "workflow_ref": "acme/train/.github/workflows/train.yml@refs/heads/main",
        "ref": "refs/heads/main",
        "sha": SHA,
        "run_id": "9001",
        "run_attempt": "2",
        "actor": "alice",
    });
    let r = as_token(
        &app,
        &token,
        Method::PUT,
        "/v1/models/ml/scorer/versions/1/files/model.bin",
    )
    .body(b"weights".to_vec())
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = as_token(
        &app,
        &token,
        Method::POST,
        "/v1/models/ml/scorer/versions/1/seal",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let statement = r.json::<Value>().await.unwrap()["statement"].clone();
    assert_eq!(statement["predicate"]["signet"]["provenance"], provenance);

    // Signed, the statement verifies; one that leaves the provenance out does not.
    let signer = Signer::generate();
    assert_eq!(
        signer.register(&app, "ci", &["ml"]).await.status(),
        StatusCode::CREATED
    );
    let mut stripped = statement.clone();
    stripped["predicate"]["signet"]
        .as_object_mut()
        .unwrap()
        .remove("provenance");
    let r = app
        .sign("ml", "scorer", 1, &signer.envelope(&stripped))
        .await;
    assert_eq!(crate::helpers::error_code(r).await, "statement_mismatch");
    let r = app
        .sign("ml", "scorer", 1, &signer.envelope(&statement))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = app
        .get_version("ml", "scorer", 1)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["provenance"], provenance);
    assert_eq!(v["verified"], true);
    // The SLSA provenance the registry issues names the job that built it.
    let envelope: Value = app
        .req(Method::GET, "/v1/models/ml/scorer/versions/1/provenance")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slsa = crate::attestations::statement_of(&envelope)["predicate"].clone();
    assert_eq!(slsa["runDetails"]["builder"]["id"], issuer.url.as_str());
    assert_eq!(slsa["runDetails"]["metadata"]["invocationId"], "9001");
    let workflow = &slsa["buildDefinition"]["externalParameters"]["workflow"];
    assert_eq!(workflow["workflowRef"], provenance["workflow_ref"]);
    assert_eq!(workflow["sha"], SHA);
    assert_eq!(v["created_by"], "oidc:ml/train");
    let (session, _) = crate::console::sign_in(&app, &app.admin).await;
    let (status, _, html) =
        crate::console::page(&app, &session, "/ui/models/ml/scorer/versions/1").await;
    assert_eq!(status, StatusCode::OK);
    for shown in ["CI provenance", "ml/train", "acme/train", SHA, "9001"] {
        assert!(html.contains(shown), "{shown} not on the version's page");
    }

    // Every event the token caused names the job.
    let seen = eventually(|| async {
        let evs = events(&app, "principal=oidc:ml/train").await;
        evs.len() >= 4
            && evs.iter().all(|e| {
                let id = &detail(e)["identity"];
                id["issuer"] == issuer.url.as_str()
                    && id["subject"] == "repo:acme/train:environment:production"
                    && id["repository"] == "acme/train"
                    && id["workflow_ref"] == provenance["workflow_ref"]
                    && id["sha"] == SHA
                    && id["run_id"] == "9001"
                    && id["run_attempt"] == "2"
            })
    })
    .await;
    assert!(
        seen,
        "{:#}",
        json!(events(&app, "principal=oidc:ml/train").await)
    );
}

async fn every_refused_identity_token_has_its_own_code(b: Backend) {
    let issuer = Issuer::start().await;
    let app = registry(b, &issuer).await;
    assert_eq!(
        app.create_namespace("secret-team").await.status(),
        StatusCode::CREATED
    );
    let mut other = github_publisher(&issuer);
    other["claims"]["repository"] = json!("acme/hidden-pipeline");
    trusted(&app, "secret-team", "hidden", &other).await;
    trusted(&app, "ml", "train", &github_publisher(&issuer)).await;
    let now = chrono::Utc::now().timestamp();
    let good = issuer.github_claims();
    let stranger = Key::generate(
        tempfile::tempdir().unwrap().path(),
        "rsa-1",
        jsonwebtoken::Algorithm::RS256,
    );
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            issuer.token_with(json!({"exp": now - 120, "iat": now - 600, "nbf": now - 600})),
            "oidc_expired",
        ),
        (
            "no expiry",
            issuer.token_with(json!({"exp": null})),
            "oidc_expired",
        ),
        (
            "not before, in 5 min",
            issuer.token_with(json!({"nbf": now + 300})),
            "oidc_not_yet_valid",
        ),
        (
            "issued in 5 min",
            issuer.token_with(json!({"iat": now + 300})),
            "oidc_not_yet_valid",
        ),
        (
            "another audience",
            issuer.token_with(json!({"aud": "sigstore"})),
            "oidc_audience",
        ),
        (
            "no audience",
            issuer.token_with(json!({"aud": null})),
            "oidc_audience",
        ),
        (
            "another issuer",
            issuer.token_with(json!({"iss": "https://token.actions.githubusercontent.com"})),
            "oidc_issuer",
        ),
        (
            "the issuer with a trailing slash",
            issuer.token_with(json!({"iss": format!("{}/", issuer.url)})),
            "oidc_issuer",
        ),
        ("alg none", unsigned(&good), "oidc_signature"),
        (
            "HS256 with the RSA public key as secret",
            hmac_signed(&good, "rsa-1", &issuer.rsa.public_pem),
            "oidc_signature",
        ),
        (
            "HS256 with the EC public key as secret",
            hmac_signed(&good, "ec-1", &issuer.ec.public_pem),
            "oidc_signature",
        ),
        (
            "a key the issuer does not publish",
            stranger.sign(&good),
            "oidc_signature",
        ),
        (
            "an unknown kid",
            issuer.rsa.sign_as("rsa-9", &good),
            "oidc_signature",
        ),
        (
            "an RSA signature under the EC key's kid",
            issuer.rsa.sign_as("ec-1", &good),
            "oidc_signature",
        ),
        (
            "claims changed after signing",
            with_payload(
                &issuer.token(),
                &json!(merge(&good, json!({"sha": OTHER_SHA}))),
            ),
            "oidc_signature",
        ),
        ("not a JWT", "not.a.jwt".to_owned(), "oidc_signature"),
        (
            "no jti",
            issuer.token_with(json!({"jti": null})),
            "oidc_replayed",
        ),
        (
            "claims no publisher names",
            issuer.token_with(json!({"repository": "acme/other"})),
            "oidc_no_publisher",
        ),
    ];
    for (what, token, code) in cases {
        let (status, got, message) = refusal(exchange(&app, &token).await).await;
        assert_eq!(
            (status, got.as_str()),
            (StatusCode::UNAUTHORIZED, code),
            "{what}: {message}"
        );
        for leak in ["secret-team", "hidden", "acme/hidden-pipeline", "ml/train"] {
            assert!(!message.contains(leak), "{what}: {message}");
        }
    }
    // The form itself, as RFC 8693 names its fields.
    let token = issuer.token();
    for (what, form) in [
        (
            "another grant",
            vec![
                ("grant_type", "client_credentials"),
                ("subject_token", token.as_str()),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ],
        ),
        (
            "another token type",
            vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", token.as_str()),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
            ],
        ),
        (
            "no subject token",
            vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ],
        ),
        (
            "an unknown field",
            vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", token.as_str()),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ("client_secret", "x"),
            ],
        ),
    ] {
        let (status, code, _) = refusal(exchange_form(&app, &form).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{what}"
        );
    }
    let r = app
        .anon(Method::POST, "/v1/oidc/token")
        .json(&json!({"subject_token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // None of those spent the good token, and refusals are in the log with their code.
    exchanged(&app, &token).await;
    let logged = eventually(|| async {
        events(&app, "").await.iter().any(|e| {
            e["action"] == "POST /v1/oidc/token" && detail(e)["refusal"] == "oidc_audience"
        })
    })
    .await;
    assert!(logged);
}

async fn claims_must_match_a_publisher_exactly_and_tokens_stay_in_its_namespace(b: Backend) {
    let issuer = Issuer::start().await;
    let app = registry(b, &issuer).await;
    let mut production = github_publisher(&issuer);
    production["claims"]["environment"] = json!("production");
    trusted(&app, "ml", "train", &production).await;
    assert_eq!(
        app.create_namespace("fraud").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.create_model("fraud", "scorer").await.status(),
        StatusCode::CREATED
    );
    for (what, changes) in [
        ("another branch", json!({"ref": "refs/heads/dev"})),
        ("another environment", json!({"environment": "staging"})),
        ("no environment", json!({"environment": null})),
        ("another repository", json!({"repository": "acme/train2"})),
        (
            "a look-alike repository of another owner",
            json!({"repository_owner_id": "9999"}),
        ),
        (
            "an owner id as a number",
            json!({"repository_owner_id": 4242}),
        ),
    ] {
        let (status, code, _) = refusal(exchange(&app, &issuer.token_with(changes)).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "oidc_no_publisher"),
            "{what}"
        );
    }
    // A token for ml publishes in ml, and in fraud finds nothing at all.
    let token = exchanged(&app, &issuer.token()).await;
    let r = as_token(
        &app,
        &token,
        Method::POST,
        "/v1/models/fraud/scorer/versions",
    )
    .json(&json!({}))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = as_token(&app, &token, Method::POST, "/v1/models")
        .json(&json!({"namespace": "fraud", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = create_version(&app, &token, code_of("https://github.com/acme/train", SHA)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Two namespaces trusting the same job: the exchange names both and takes a scope.
    trusted(&app, "fraud", "train-too", &production).await;
    let (status, code, message) = refusal(exchange(&app, &issuer.token()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert!(
        message.contains("fraud/train-too") && message.contains("ml/train"),
        "{message}"
    );
    let r = exchange_form(
        &app,
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &issuer.token()),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("scope", "publisher:fraud/train-too"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.whoami(&token).await["principal"],
        "oidc:fraud/train-too"
    );
}

async fn an_identity_token_is_exchanged_once_across_replicas(b: Backend) {
    let issuer = Issuer::start().await;
    let app = registry(b, &issuer).await;
    trusted(&app, "ml", "train", &github_publisher(&issuer)).await;
    let replica = app.replica().await;
    let token = issuer.token();
    exchanged(&app, &token).await;
    for on in [&replica, &app] {
        let (status, code, _) = refusal(exchange(on, &token).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "oidc_replayed")
        );
    }
    // Sent to both at once, one exchange wins.
    for _ in 0..5 {
        let token = issuer.token();
        let (a, b) = tokio::join!(exchange(&app, &token), exchange(&replica, &token));
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
    }
}

async fn a_key_rotation_at_the_issuer_is_picked_up_and_the_old_key_dropped(b: Backend) {
    let issuer = Issuer::start().await;
    let app = registry(b, &issuer).await;
    trusted(&app, "ml", "train", &github_publisher(&issuer)).await;
    exchanged(&app, &issuer.token()).await;
    assert_eq!(issuer.jwks_fetches(), 1);
    exchanged(&app, &issuer.ec.sign(&issuer.github_claims())).await;
    assert_eq!(issuer.jwks_fetches(), 1, "known keys are kept");

    // The issuer rotates: a new key, and the RSA key dropped.
    let dir = tempfile::tempdir().unwrap();
    let next = Key::generate(dir.path(), "rsa-2", jsonwebtoken::Algorithm::RS256);
    issuer.publish_only(&[&next, &issuer.ec]);
    exchanged(&app, &next.sign(&issuer.github_claims())).await;
    assert_eq!(
        issuer.jwks_fetches(),
        2,
        "an unknown kid fetches the set again"
    );
    let (status, code, _) = refusal(exchange(&app, &issuer.token()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "oidc_signature"),
        "the dropped key"
    );
    // Unknown kids fetch at most once a minute.
    for kid in ["rsa-3", "rsa-4", "rsa-5"] {
        let (_, code, _) =
            refusal(exchange(&app, &next.sign_as(kid, &issuer.github_claims())).await).await;
        assert_eq!(code, "oidc_signature");
    }
    assert_eq!(issuer.jwks_fetches(), 2);
    // A replica fetches the set of its own.
    let replica = app.replica().await;
    exchanged(&replica, &next.sign(&issuer.github_claims())).await;
    let (_, code, _) = refusal(exchange(&replica, &issuer.token()).await).await;
    assert_eq!(code, "oidc_signature");
}

async fn an_issuer_that_cannot_be_reached_is_a_clear_503(b: Backend) {
    // Nothing listens there; and a listener that never answers.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("https://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("https://127.0.0.1:{}", silent.local_addr().unwrap().port());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let issuer = Issuer::start().await;
    let urls = vec![closed.clone(), silent_url.clone(), issuer.url.clone()];
    let ca = issuer.ca_file.clone();
    let app = TestApp::spawn_with(b, move |cfg| {
        cfg.oidc.issuers = OidcIssuers(urls);
        cfg.oidc.ca_file = Some(ca);
    })
    .await;
    for url in [&closed, &silent_url] {
        let began = std::time::Instant::now();
        let token = issuer.token_with(json!({"iss": url}));
        let r = exchange(&app, &token).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let (_, code, message) = refusal(r).await;
        assert_eq!(code, "issuer_unavailable");
        assert!(message.contains(url.as_str()), "{message}");
        assert!(
            began.elapsed() < std::time::Duration::from_secs(15),
            "{:?}",
            began.elapsed()
        );
    }
}

async fn a_version_must_name_the_commit_and_repository_of_its_job(b: Backend) {
    let issuer = Issuer::start().await;
    let app = registry(b, &issuer).await;
    trusted(&app, "ml", "train", &github_publisher(&issuer)).await;
    let token = exchanged(&app, &issuer.token()).await;
    for (what, lineage) in [
        (
            "another commit",
            code_of("https://github.com/acme/train", OTHER_SHA),
        ),
        (
            "no commit",
            json!({"code": {"repo": "https://github.com/acme/train"}}),
        ),
        ("no code at all", json!({})),
        (
            "another repository",
            code_of("https://github.com/acme/other", SHA),
        ),
        (
            "a repository under the same path elsewhere",
            code_of("https://github.com/evil/acme/train", SHA),
        ),
    ] {
        let (status, code, message) = refusal(create_version(&app, &token, lineage).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "lineage_mismatch"),
            "{what}: {message}"
        );
        if what == "another commit" {
            assert!(
                message.contains(SHA) && message.contains(OTHER_SHA),
                "{message}"
            );
        }
    }
    let versions: Value = app
        .req(Method::GET, "/v1/models/ml/scorer/versions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions["items"], json!([]), "nothing half-written");
    for repo in [
        "https://ghe.example.com/acme/train.git",
        "git@github.com:acme/train.git",
    ] {
        let r = create_version(&app, &token, code_of(repo, &SHA.to_uppercase())).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{repo}");
    }
    // A publisher that does not bind commits still records the job.
    let mut loose = github_publisher(&issuer);
    loose["bind_commit"] = json!(false);
    trusted(&app, "ml", "train", &loose).await;
    let token = exchanged(&app, &issuer.token()).await;
    let r = create_version(
        &app,
        &token,
        code_of("https://github.com/acme/train", OTHER_SHA),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let v: Value = app
        .get_version("ml", "scorer", v["version"].as_i64().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["provenance"]["sha"], SHA);
    // A version an API token creates carries no provenance.
    let r = app.create_version("ml", "scorer", json!({})).await;
    let v: Value = r.json().await.unwrap();
    let v: Value = app
        .get_version("ml", "scorer", v["version"].as_i64().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert!(v.get("provenance").is_none());
}

async fn publishers_are_set_by_maintainers_checked_and_audited(b: Backend) {
    let issuer = Issuer::start().await;
    let app = registry(b, &issuer).await;
    let maintainer = app.member_token("mia", "ml", "maintainer").await;
    let publisher = app.member_token("pat", "ml", "publisher").await;
    assert_eq!(
        app.create_namespace("other").await.status(),
        StatusCode::CREATED
    );
    let outsider = app.member_token("olga", "other", "maintainer").await;
    let body = github_publisher(&issuer);
    assert_eq!(
        put_publisher(&app, &publisher, "ml", "train", &body)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put_publisher(&app, &outsider, "ml", "train", &body)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        put_publisher(&app, &app.admin, "nope", "train", &body)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let bad = |f: &dyn Fn(&mut Value)| {
        let mut b = body.clone();
        f(&mut b);
        b
    };
    for (what, spec) in [
        (
            "a repository without its owner's id",
            bad(&|b| {
                b["claims"]
                    .as_object_mut()
                    .unwrap()
                    .remove("repository_owner_id");
            }),
        ),
        (
            "a project path without its namespace id",
            bad(&|b| {
                b["claims"] = json!({"project_path": "g/p", "project_id": "7"});
            }),
        ),
        (
            "only a branch",
            bad(&|b| {
                b["claims"] = json!({"ref": "refs/heads/main"});
            }),
        ),
        (
            "no claims",
            bad(&|b| {
                b["claims"] = json!({});
            }),
        ),
        (
            "an issuer not accepted",
            bad(&|b| {
                b["issuer"] = json!("https://gitlab.com");
            }),
        ),
        (
            "maintainer's role",
            bad(&|b| {
                b["roles"] = json!(["publisher", "maintainer"]);
            }),
        ),
        (
            "no role",
            bad(&|b| {
                b["roles"] = json!([]);
            }),
        ),
        (
            "a claim of the envelope",
            bad(&|b| {
                b["claims"]["aud"] = json!("signet");
            }),
        ),
    ] {
        let r = put_publisher(&app, &maintainer, "ml", "train", &spec).await;
        let (status, code, _) = refusal(r).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_publisher"),
            "{what}"
        );
    }
    let unknown = bad(&|b| {
        b["admin"] = json!(true);
    });
    let r = put_publisher(&app, &maintainer, "ml", "train", &unknown).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "an unknown field");
    let r = put_publisher(&app, &maintainer, "ml", "train", &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let listed: Value = as_token(
        &app,
        &publisher,
        Method::GET,
        "/v1/namespaces/ml/trusted-publishers",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(listed["items"][0]["name"], "train");
    assert_eq!(listed["items"][0]["bind_commit"], true);
    assert_eq!(listed["items"][0]["created_by"], "mia");
    // A change stops the tokens minted before it; a removal too.
    let token = exchanged(&app, &issuer.token()).await;
    assert_eq!(app.status_as("/v1/whoami", &token).await, StatusCode::OK);
    let mut approving = body.clone();
    approving["roles"] = json!(["publisher", "approver"]);
    assert_eq!(
        put_publisher(&app, &maintainer, "ml", "train", &approving)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.status_as("/v1/whoami", &token).await,
        StatusCode::UNAUTHORIZED
    );
    let token = exchanged(&app, &issuer.token()).await;
    let delete = |t: &str| {
        as_token(
            &app,
            t,
            Method::DELETE,
            "/v1/namespaces/ml/trusted-publishers/train",
        )
        .send()
    };
    assert_eq!(
        delete(&publisher).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(&maintainer).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&maintainer).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.status_as("/v1/whoami", &token).await,
        StatusCode::UNAUTHORIZED
    );
    let (_, code, _) = refusal(exchange(&app, &issuer.token()).await).await;
    assert_eq!(code, "oidc_no_publisher");
    let audited = eventually(|| async {
        let evs = events(&app, "principal=mia").await;
        let count = |a: &str| {
            evs.iter()
                .filter(|e| e["action"] == a && e["outcome"] == "allowed")
                .count()
        };
        count("PUT /v1/namespaces/{ns}/trusted-publishers/{name}") == 2
            && count("DELETE /v1/namespaces/{ns}/trusted-publishers/{name}") == 1
    })
    .await;
    assert!(audited);
}

async fn publisher_tokens_hold_only_the_publishers_roles_and_mint_nothing(b: Backend) {
    let issuer = Issuer::start().await;
    let app = registry(b, &issuer).await;
    let mut approver = github_publisher(&issuer);
    approver["roles"] = json!(["approver"]);
    trusted(&app, "ml", "train", &approver).await;
    let token = exchanged(&app, &issuer.token()).await;
    // An approver reads and promotes, and publishes nothing.
    let r = create_version(&app, &token, code_of("https://github.com/acme/train", SHA)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.status_as("/v1/models/ml/scorer", &token).await,
        StatusCode::OK
    );
    let r = as_token(&app, &token, Method::PUT, "/v1/namespaces/ml/members/bob")
        .json(&json!({"roles": ["publisher"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // No other token from it: API, console session, registry token.
    let r = as_token(&app, &token, Method::POST, "/v1/tokens")
        .json(&json!({"principal": "oidc:ml/train"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .anon(
            Method::GET,
            "/v2/token?service=signet&scope=repository:ml/scorer:pull",
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Nobody holds the publisher's name otherwise.
    let r = app
        .req(Method::POST, "/v1/tokens")
        .json(&json!({"principal": "oidc:ml/train"}))
        .send()
        .await
        .unwrap();
    assert_eq!(crate::helpers::error_code(r).await, "reserved_principal");
    let r = app
        .req(Method::PUT, "/v1/namespaces/ml/members/oidc:ml%2Ftrain")
        .json(&json!({"roles": ["maintainer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(crate::helpers::error_code(r).await, "reserved_principal");
    // An expired publisher token is refused like any other.
    app.sql("UPDATE publisher_tokens SET expires_at = created_at")
        .await;
    assert_eq!(
        app.status_as("/v1/whoami", &token).await,
        StatusCode::UNAUTHORIZED
    );
}

/// GitHub Actions' token service, as a job reaches it: the job's request
/// token as a bearer, the audience as a query parameter; it answers an
/// identity token of the test issuer for `claims`.
async fn github_token_service(issuer: &Issuer, claims: Value) -> String {
    use axum::extract::Query;
    let token = issuer.rsa.sign(&claims);
    let app = axum::Router::new().route(
        "/token",
        axum::routing::get(
            move |Query(q): Query<std::collections::HashMap<String, String>>,
                  headers: axum::http::HeaderMap| async move {
                let bearer = headers
                    .get("authorization")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if bearer != "bearer job-request-token"
                    || q.get("audience").map(String::as_str) != Some("signet")
                {
                    return Err(StatusCode::FORBIDDEN);
                }
                Ok(axum::Json(json!({"count": 1, "value": token})))
            },
        ),
    );
    format!(
        "{}/token?api-version=2.0",
        crate::helpers::serve_on_loopback(app).await
    )
}

async fn the_trusted_publishing_walk_through_runs_as_printed(b: Backend) {
    const GITHUB: &str = "https://token.actions.githubusercontent.com";
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks =
        crate::readme::blocks_of(&readme, "Trusted publishing: CI jobs without stored tokens");
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    let issuer = Issuer::start().await;
    let (url, ca) = (issuer.url.clone(), issuer.ca_file.clone());
    let app = TestApp::spawn_with(b, move |cfg| {
        cfg.oidc.issuers = OidcIssuers(vec![url, "https://gitlab.com".into()]);
        cfg.oidc.ca_file = Some(ca);
    })
    .await;
    assert_eq!(
        app.create_namespace("fraud").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.create_model("fraud", "scorer").await.status(),
        StatusCode::CREATED
    );
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    for d in ["home", "job-home", "out"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(
        dir.join("out/model.safetensors"),
        crate::helpers::safetensors_bytes(),
    )
    .unwrap();
    // The identity provider is the test's; everything else as printed.
    let maintainer = blocks[0].replace(GITHUB, &issuer.url);
    let admin = [
        ("SIGNET_URL", app.base.clone()),
        ("SIGNET_TOKEN", app.admin.clone()),
    ];
    let out = crate::readme::run_block(&maintainer, dir, &admin, &app.base).await;
    assert!(
        out.contains("fraud/train") && out.contains("fraud/train-gitlab"),
        "{out}"
    );

    let mut claims = issuer.github_claims();
    claims["repository"] = json!("acme/fraud-train");
    claims["workflow_ref"] = json!("acme/fraud-train/.github/workflows/train.yml@refs/heads/main");
    let job = [
        ("HOME", dir.join("job-home").display().to_string()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            github_token_service(&issuer, claims).await,
        ),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "job-request-token".to_owned(),
        ),
        ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
        ("GITHUB_REPOSITORY", "acme/fraud-train".to_owned()),
        ("GITHUB_SHA", SHA.to_owned()),
    ];
    let out = crate::readme::run_block(&blocks[1], dir, &job, &app.base).await;
    assert!(out.contains("oidc:fraud/train"), "{out}");
    let v: Value = app
        .get_version("fraud", "scorer", 1)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["provenance"]["repository"], "acme/fraud-train");
    assert_eq!(v["provenance"]["sha"], SHA);
    assert_eq!(v["state"], "sealed");
}

async fn signet_login_takes_gitlabs_variable_or_a_file_and_says_why_it_was_refused(b: Backend) {
    let issuer = Issuer::start().await;
    let app = registry(b, &issuer).await;
    trusted(&app, "ml", "train", &github_publisher(&issuer)).await;
    let dir = tempfile::tempdir().unwrap();
    let login = ["login", "--oidc", "--server", app.base.as_str()];
    // GitLab's id_tokens: the token in SIGNET_ID_TOKEN.
    let token = issuer.token();
    let r = crate::cli::signet(dir.path(), &login, "", &[("SIGNET_ID_TOKEN", &token)]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("oidc:ml/train") && r.stdout.contains("SIGNET_ID_TOKEN"),
        "{}",
        r.stdout
    );
    let r = crate::cli::signet(dir.path(), &["whoami"], "", &[]).await;
    assert!(r.stdout.contains("oidc:ml/train"), "{}", r.stdout);
    // Again with the same token: replayed, said so, exit 3.
    let r = crate::cli::signet(dir.path(), &login, "", &[("SIGNET_ID_TOKEN", &token)]).await;
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("exchanged before"), "{}", r.stderr);
    // A file.
    std::fs::write(dir.path().join("id-token"), format!("{}\n", issuer.token())).unwrap();
    let mut args = login.to_vec();
    args.extend(["--id-token-file", "id-token"]);
    let r = crate::cli::signet(dir.path(), &args, "", &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Nothing to sign in with: a usage error naming the ways.
    let r = crate::cli::signet(dir.path(), &login, "", &[]).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("id-token: write") && r.stderr.contains("SIGNET_ID_TOKEN"),
        "{}",
        r.stderr
    );
}
