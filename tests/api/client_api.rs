//! The client covers the API: every operation of the OpenAPI document has a
//! command (the resumable uploads' internals aside, which `push` drives, and
//! the transparency log's tiles, which tlog-tiles tools read), and
//! the commands a maintainer, an approver and an auditor use work through the
//! real binary.

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::{Run, signet};
use crate::helpers::{Backend, Signer, TestApp, full_lineage};

crate::on_both_backends!(
    a_maintainer_runs_a_namespace_from_the_client_alone,
    push_sign_checks_the_key_before_a_byte_is_sent,
);

/// Each operation, and the client command that carries it out.
const COMMANDS: &[(&str, &str, &str)] = &[
    ("GET", "/v1/whoami", "whoami"),
    ("POST", "/v1/tokens", "token create"),
    ("GET", "/v1/tokens", "token list"),
    ("DELETE", "/v1/tokens/{id}", "token revoke"),
    ("POST", "/v1/namespaces", "namespace create"),
    ("GET", "/v1/namespaces", "namespace list"),
    ("GET", "/v1/namespaces/{ns}", "namespace show"),
    ("GET", "/v1/namespaces/{ns}/members", "member list"),
    (
        "PUT",
        "/v1/namespaces/{ns}/members/{principal}",
        "member set",
    ),
    (
        "DELETE",
        "/v1/namespaces/{ns}/members/{principal}",
        "member remove",
    ),
    (
        "GET",
        "/v1/namespaces/{ns}/trusted-publishers",
        "publisher list",
    ),
    (
        "PUT",
        "/v1/namespaces/{ns}/trusted-publishers/{name}",
        "publisher set",
    ),
    (
        "DELETE",
        "/v1/namespaces/{ns}/trusted-publishers/{name}",
        "publisher remove",
    ),
    ("POST", "/v1/namespaces/{ns}/webhooks", "webhook create"),
    ("GET", "/v1/namespaces/{ns}/webhooks", "webhook list"),
    ("GET", "/v1/namespaces/{ns}/webhooks/{id}", "webhook show"),
    (
        "PATCH",
        "/v1/namespaces/{ns}/webhooks/{id}",
        "webhook update",
    ),
    (
        "DELETE",
        "/v1/namespaces/{ns}/webhooks/{id}",
        "webhook remove",
    ),
    (
        "POST",
        "/v1/namespaces/{ns}/webhooks/{id}/test",
        "webhook test",
    ),
    (
        "GET",
        "/v1/namespaces/{ns}/webhooks/{id}/deliveries",
        "webhook deliveries",
    ),
    (
        "POST",
        "/v1/namespaces/{ns}/webhooks/{id}/deliveries/{delivery}/redeliver",
        "webhook redeliver",
    ),
    ("POST", "/v1/oidc/token", "login --oidc"),
    ("GET", "/v1/audit/log/checkpoint", "audit checkpoint"),
    ("GET", "/v1/audit/log/key", "audit log-key"),
    ("GET", "/v1/audit/log/consistency", "audit verify"),
    ("GET", "/v1/audit/events/{seq}/proof", "audit prove"),
    ("GET", "/v1/namespaces/{ns}/policy", "policy show"),
    ("PUT", "/v1/namespaces/{ns}/policy", "policy set"),
    ("POST", "/v1/models", "model create"),
    ("GET", "/v1/models", "model list"),
    ("GET", "/v1/models/{ns}/{model}", "model show"),
    ("POST", "/v1/models/{ns}/{model}/versions", "push"),
    ("GET", "/v1/models/{ns}/{model}/versions", "version list"),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}",
        "version show",
    ),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}/gate",
        "version show",
    ),
    (
        "PUT",
        "/v1/models/{ns}/{model}/versions/{v}/files/{path}",
        "push",
    ),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}/files/{path}",
        "pull",
    ),
    (
        "DELETE",
        "/v1/models/{ns}/{model}/versions/{v}/files/{path}",
        "file delete",
    ),
    ("POST", "/v1/models/{ns}/{model}/versions/{v}/seal", "push"),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}/statement",
        "sign",
    ),
    (
        "POST",
        "/v1/models/{ns}/{model}/versions/{v}/signatures",
        "sign",
    ),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}/signatures",
        "signature list",
    ),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}/signatures/{keyid}/bundle",
        "pull",
    ),
    (
        "POST",
        "/v1/models/{ns}/{model}/versions/{v}/attestations",
        "attest",
    ),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}/attestations",
        "attestations",
    ),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}/attestations/{id}",
        "attestations",
    ),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}/attestations/{id}/bundle",
        "attestations",
    ),
    ("GET", "/v1/registry/key", "registry-key"),
    ("GET", "/v1/models/{ns}/{model}/versions/{v}/bom", "bom"),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}/provenance",
        "provenance",
    ),
    (
        "GET",
        "/v1/models/{ns}/{model}/versions/{v}/lineage",
        "lineage version",
    ),
    ("PUT", "/v1/models/{ns}/{model}/aliases/{alias}", "promote"),
    (
        "GET",
        "/v1/models/{ns}/{model}/aliases/{alias}",
        "alias show",
    ),
    (
        "DELETE",
        "/v1/models/{ns}/{model}/aliases/{alias}",
        "alias remove",
    ),
    (
        "GET",
        "/v1/models/{ns}/{model}/aliases/{alias}/history",
        "alias history",
    ),
    ("POST", "/v1/keys", "key register"),
    ("GET", "/v1/keys", "key list"),
    ("GET", "/v1/keys/{keyid}", "key show"),
    ("POST", "/v1/keys/{keyid}/revoke", "key revoke"),
    ("GET", "/v1/lineage/datasets/{sha256}", "lineage dataset"),
    ("GET", "/v1/lineage/commits/{commit}", "lineage commit"),
    ("POST", "/v1/quarantines", "quarantine place"),
    ("GET", "/v1/quarantines", "quarantine list"),
    ("DELETE", "/v1/quarantines/{id}", "quarantine lift"),
    ("GET", "/v1/audit", "audit search"),
    ("GET", "/v1/audit/export", "audit export"),
    ("GET", "/v1/audit/verify", "audit verify"),
];

#[tokio::test]
async fn every_api_operation_has_a_client_command() {
    let known: BTreeMap<(&str, &str), &str> =
        COMMANDS.iter().map(|(m, p, c)| ((*m, *p), *c)).collect();
    let api: Value = signet::http::openapi();
    let mut missing = Vec::new();
    for (path, item) in api["paths"].as_object().unwrap() {
        // Resumable uploads are push's internals; tiles are read by the
        // standard tools of C2SP tlog-tiles (the proofs they make, the
        // client asks for directly).
        if !path.starts_with("/v1/") || path.contains("/uploads") || path.contains("/log/tile/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            match known.get(&(method.as_str(), path.as_str())) {
                Some(_) => {}
                None => missing.push(format!("{method} {path}")),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without a client command: {missing:?}"
    );
    // Every command named exists in the binary.
    let work = tempfile::tempdir().unwrap();
    for command in known.values().collect::<std::collections::BTreeSet<_>>() {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let r = signet(work.path(), &args, "", &[]).await;
        assert_eq!(r.code, 0, "signet {command} --help: {}", r.stderr);
    }
}

async fn run(app: &TestApp, dir: &Path, args: &[&str]) -> Run {
    signet(
        dir,
        args,
        "",
        &[("SIGNET_URL", &app.base), ("SIGNET_TOKEN", &app.admin)],
    )
    .await
}

/// The command's `--json` answer, which must succeed.
async fn json_of(app: &TestApp, dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let r = run(app, dir, &all).await;
    assert_eq!(r.code, 0, "signet {args:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", r.stdout))
}

async fn a_maintainer_runs_a_namespace_from_the_client_alone(b: Backend) {
    let app = TestApp::spawn(b).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();

    // Creates that CI scripts rerun: the same settings are no failure.
    for _ in 0..2 {
        let r = run(
            &app,
            dir,
            &["namespace", "create", "fraud", "--description", "Fraud"],
        )
        .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = run(&app, dir, &["model", "create", "fraud/scorer"]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let r = run(
        &app,
        dir,
        &["namespace", "create", "fraud", "--description", "Other"],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    let r = run(&app, dir, &["model", "create", "fraud/Scorer"]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("a-z"), "the rule is stated: {}", r.stderr);

    let who = json_of(&app, dir, &["whoami"]).await;
    assert_eq!(who["principal"], "admin");
    let listed = json_of(&app, dir, &["namespace", "list"]).await;
    assert_eq!(listed["items"][0]["name"], "fraud");
    assert_eq!(
        json_of(&app, dir, &["namespace", "show", "fraud"]).await["description"],
        "Fraud"
    );

    // Members and tokens.
    let m = json_of(
        &app,
        dir,
        &[
            "member", "set", "fraud", "ana", "--role", "approver", "--role", "deployer",
        ],
    )
    .await;
    assert_eq!(m["roles"], json!(["approver", "deployer"]));
    let members = json_of(&app, dir, &["member", "list", "fraud"]).await;
    assert!(
        members["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["principal"] == "ana")
    );
    let t = json_of(
        &app,
        dir,
        &[
            "token",
            "create",
            "--principal",
            "ana",
            "--description",
            "ci",
        ],
    )
    .await;
    let ana = t["token"].as_str().unwrap().to_owned();
    let tokens = json_of(&app, dir, &["token", "list"]).await;
    assert!(
        tokens["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == t["id"])
    );

    // Policy from a file.
    std::fs::write(
        dir.join("policy.json"),
        r#"{"min_signatures": 1, "deployer_pulls": "aliased"}"#,
    )
    .unwrap();
    json_of(&app, dir, &["policy", "set", "fraud", "policy.json"]).await;
    assert_eq!(
        json_of(&app, dir, &["policy", "show", "fraud"]).await["deployer_pulls"],
        "aliased"
    );

    // Keys, versions and the gate.
    let key = Signer::generate();
    std::fs::write(dir.join("ci.pub"), &key.pem).unwrap();
    json_of(
        &app,
        dir,
        &["key", "register", "ci.pub", "--namespace", "fraud"],
    )
    .await;
    let keys = json_of(&app, dir, &["key", "list"]).await;
    assert_eq!(keys["items"][0]["keyid"], key.keyid);
    assert_eq!(
        json_of(&app, dir, &["key", "show", &key.keyid]).await["name"],
        "ci"
    );
    let (v, st) = app
        .sealed_version("fraud", "scorer", json!({}), &[("m.bin", b"w")])
        .await;
    assert_eq!(
        app.sign("fraud", "scorer", v, &key.envelope(&st))
            .await
            .status(),
        StatusCode::CREATED
    );
    let target = format!("fraud/scorer@{v}");
    let shown = run(&app, dir, &["version", "show", &target]).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("promotion to production: refused"),
        "{}",
        shown.stdout
    );
    assert!(
        shown
            .stdout
            .contains("lineage_incomplete: production requires"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("deployers' pull: refused"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("not_aliased"), "{}", shown.stdout);
    let versions = json_of(&app, dir, &["version", "list", "fraud/scorer"]).await;
    assert_eq!(versions["items"][0]["version"], v);
    let sigs = json_of(&app, dir, &["signature", "list", &target]).await;
    assert_eq!(sigs["items"][0]["keyid"], key.keyid);

    // An approver promotes to staging; the alias is shown, its history kept,
    // then removed.
    let r = signet(
        dir,
        &["promote", &target, "staging", "--reason", "eval ok"],
        "",
        &[("SIGNET_URL", &app.base), ("SIGNET_TOKEN", &ana)],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        json_of(&app, dir, &["alias", "show", "fraud/scorer@staging"]).await["version"],
        v
    );
    let aliases = run(&app, dir, &["alias", "list", "fraud/scorer"]).await;
    assert!(
        aliases
            .stdout
            .contains(&format!("fraud/scorer@staging → {v}")),
        "{}",
        aliases.stdout
    );
    let history = json_of(&app, dir, &["alias", "history", "fraud/scorer@staging"]).await;
    assert_eq!(history["items"][0]["reason"], "eval ok");
    json_of(
        &app,
        dir,
        &[
            "alias",
            "remove",
            "fraud/scorer@staging",
            "--reason",
            "rollback",
        ],
    )
    .await;
    let r = run(&app, dir, &["alias", "show", "fraud/scorer@staging"]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);

    // A draft's file removed; a quarantine placed, listed, lifted.
    let draft: Value = app
        .create_version("fraud", "scorer", json!({"lineage": full_lineage()}))
        .await
        .json()
        .await
        .unwrap();
    let d = draft["version"].as_i64().unwrap();
    app.put_file("fraud", "scorer", d, "extra.bin", b"x".to_vec(), None)
        .await;
    json_of(
        &app,
        dir,
        &["file", "delete", &format!("fraud/scorer@{d}"), "extra.bin"],
    )
    .await;
    let files = app
        .get_version("fraud", "scorer", d)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(files["files"], json!([]));
    let q = json_of(
        &app,
        dir,
        &[
            "quarantine",
            "place",
            "--kind",
            "version",
            "--value",
            &target,
            "--reason",
            "bad labels",
        ],
    )
    .await;
    let id = q["id"].as_str().unwrap().to_owned();
    let qs = json_of(&app, dir, &["quarantine", "list"]).await;
    assert_eq!(qs["items"][0]["id"], id.as_str());
    json_of(
        &app,
        dir,
        &["quarantine", "lift", &id, "--reason", "relabelled"],
    )
    .await;

    // Revocations and token revocation.
    let revoked = json_of(
        &app,
        dir,
        &["key", "revoke", &key.keyid, "--reason", "compromised"],
    )
    .await;
    assert_eq!(revoked["key"]["revocation_reason"], "compromised");
    json_of(&app, dir, &["token", "revoke", t["id"].as_str().unwrap()]).await;
    let r = signet(
        dir,
        &["whoami"],
        "",
        &[("SIGNET_URL", &app.base), ("SIGNET_TOKEN", &ana)],
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("unknown, expired or revoked"),
        "{}",
        r.stderr
    );
    json_of(&app, dir, &["member", "remove", "fraud", "ana"]).await;
}

async fn push_sign_checks_the_key_before_a_byte_is_sent(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.given_model().await;
    app.create_namespace("search").await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/model.bin"), b"weights").unwrap();
    let r = run(&app, dir, &["keygen", "--out", "ci"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let push = ["push", "out", "fraud/scorer", "--sign", "ci.key"];

    // Not registered: refused before any upload; no version is left behind.
    let r = run(&app, dir, &push).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("not registered for fraud"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was uploaded"), "{}", r.stderr);
    let versions = json_of(&app, dir, &["version", "list", "fraud/scorer"]).await;
    assert_eq!(versions["items"], json!([]));
    // Registered for another namespace only: refused the same way.
    json_of(
        &app,
        dir,
        &["key", "register", "ci.pub", "--namespace", "search"],
    )
    .await;
    let r = run(&app, dir, &push).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("not trusted for fraud"), "{}", r.stderr);
    let versions = json_of(&app, dir, &["version", "list", "fraud/scorer"]).await;
    assert_eq!(versions["items"], json!([]));
}
