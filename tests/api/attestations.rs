//! Attestations and promotion rules: evaluations, scans and SBOMs attached to
//! versions, verified against the namespace's trusted keys, required per stage
//! with conditions in Rego; promotion records signed by the registry.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, EVALUATION, Signer, TestApp, attestation, error_code};

crate::on_both_backends!(
    an_evaluation_that_misses_the_threshold_is_refused_and_one_that_meets_it_promotes,
    attestations_by_untrusted_retired_or_compromised_keys_do_not_count,
    subjects_that_are_not_exactly_the_files_are_refused_and_nothing_is_kept,
    a_scan_with_a_critical_finding_holds_the_version_back,
    a_rule_edited_between_two_promotions_is_the_rule_the_later_one_sees,
    rules_that_are_not_rego_are_refused_and_the_policy_stays,
    promotion_records_verify_with_the_registry_key_by_plain_dsse,
    the_client_attests_pulls_only_what_a_pinned_key_attested_and_checks_records,
    the_bom_validates_and_the_provenance_is_signed_by_the_registry,
    attestations_are_oci_referrers_beside_the_signature_while_they_count,
);

const SCAN: &str = "https://signet.dev/attestations/scan/v1";
const ACCURACY: &str = "input.predicate.metrics.accuracy >= 0.92";
const NO_CRITICAL: &str =
    "count([f | some f in input.predicate.findings; f.severity == \"critical\"]) == 0";

/// `fraud/scorer` with keys `ci` (signs versions) and `eval-bot` (signs
/// evaluations) trusted for `fraud`, and a policy whose `production` requires
/// an evaluation by `eval-bot` with an accuracy of at least 0.92 (and no
/// lineage, so the rule is alone).
async fn setup(b: Backend) -> (TestApp, Signer, Signer) {
    let app = TestApp::spawn(b).await;
    assert_eq!(
        app.create_namespace("fraud").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.create_model("fraud", "scorer").await.status(),
        StatusCode::CREATED
    );
    let ci = Signer::generate();
    let eval = Signer::generate_p256();
    assert_eq!(
        ci.register(&app, "ci", &["fraud"]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        eval.register(&app, "eval-bot", &["fraud"]).await.status(),
        StatusCode::CREATED
    );
    set_policy(
        &app,
        json!({"production": [{
            "predicate_type": EVALUATION, "signers": ["eval-bot"], "conditions": [ACCURACY]
        }]}),
    )
    .await;
    (app, ci, eval)
}

async fn set_policy(app: &TestApp, rules: Value) {
    let r = app
        .req(Method::PUT, "/v1/namespaces/fraud/policy")
        .json(&json!({"lineage_required": {}, "attestations_required": rules}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

/// A sealed version of `fraud/scorer` with `files`, signed by `ci`; answers
/// its number and statement.
async fn signed(app: &TestApp, ci: &Signer, files: &[(&str, &[u8])]) -> (i64, Value) {
    let (v, st) = app
        .sealed_version("fraud", "scorer", json!({}), files)
        .await;
    let r = app.sign("fraud", "scorer", v, &ci.envelope(&st)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    (v, st)
}

/// Attests version `v` with an evaluation of `accuracy`, signed by `key`;
/// answers the attestation's id.
async fn evaluate(app: &TestApp, key: &Signer, v: i64, st: &Value, accuracy: f64) -> String {
    let doc = attestation(st, EVALUATION, json!({"metrics": {"accuracy": accuracy}}));
    let r = app.attest("fraud", "scorer", v, &key.envelope(&doc)).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Promotes and answers the status with the body.
async fn promote(app: &TestApp, alias: &str, v: i64) -> (StatusCode, Value) {
    let r = app.promote("fraud", "scorer", alias, v).await;
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// A GET as the admin: its JSON.
async fn get_json(app: &TestApp, path: &str) -> Value {
    app.req(Method::GET, path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The refusal of `reason` among a refused promotion's details.
fn detail<'a>(body: &'a Value, reason: &str) -> &'a Value {
    body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["reason"] == reason)
        .unwrap_or_else(|| panic!("no {reason} in {body}"))
}

async fn an_evaluation_that_misses_the_threshold_is_refused_and_one_that_meets_it_promotes(
    b: Backend,
) {
    let (app, ci, eval) = setup(b).await;
    let (v1, st1) = signed(&app, &ci, &[("model.bin", b"v1")]).await;

    // No evaluation yet: refused with the rule named.
    let (status, body) = promote(&app, "production", v1).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "promotion_refused");
    let d = detail(&body, "attestation_missing");
    assert_eq!(d["stage"], "production");
    assert_eq!(d["attestation"]["predicate_type"], EVALUATION);
    assert_eq!(d["attestation"]["signers"], json!(["eval-bot"]));
    assert!(d["message"].as_str().unwrap().contains(EVALUATION));

    // An evaluation that misses the threshold: refused, the condition named.
    let low = evaluate(&app, &eval, v1, &st1, 0.90).await;
    let (status, body) = promote(&app, "production", v1).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let d = detail(&body, "attestation_unmet");
    assert_eq!(d["attestation"]["attestation"], low.as_str());
    assert_eq!(d["attestation"]["unmet"][0]["condition"], ACCURACY);
    assert!(d["message"].as_str().unwrap().contains(ACCURACY));
    // The gate panel says the same, and the rule does not touch other stages.
    let gate: Value = get_json(&app, "/v1/models/fraud/scorer/versions/1/gate").await;
    let production = gate["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alias"] == "production")
        .unwrap();
    assert_eq!(production["passes"], false);
    assert_eq!(production["reasons"][0]["reason"], "attestation_unmet");
    // So does the console's gate panel, condition and all.
    let (session, _) = crate::console::sign_in(&app, &app.admin).await;
    let (status, _, html) =
        crate::console::page(&app, &session, "/ui/models/fraud/scorer/versions/1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("attestation_unmet"), "{html}");
    assert!(
        html.contains("input.predicate.metrics.accuracy &gt;= 0.92"),
        "{html}"
    );
    assert_eq!(promote(&app, "staging", v1).await.0, StatusCode::OK);

    // Another version, evaluated above the threshold, promotes.
    let (v2, st2) = signed(&app, &ci, &[("model.bin", b"v2")]).await;
    evaluate(&app, &eval, v2, &st2, 0.95).await;
    assert_eq!(promote(&app, "production", v2).await.0, StatusCode::OK);

    // The newest evaluation decides: v1 evaluated again above it passes too.
    evaluate(&app, &eval, v1, &st1, 0.93).await;
    assert_eq!(promote(&app, "production", v1).await.0, StatusCode::OK);

    // Listed oldest first, filtered by type, each verbatim.
    let list: Value = get_json(
        &app,
        &format!("/v1/models/fraud/scorer/versions/{v1}/attestations?predicate_type={EVALUATION}"),
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["items"][0]["id"], low.as_str());
    assert_eq!(list["items"][0]["keyid"], eval.keyid.as_str());
    let none: Value = get_json(
        &app,
        &format!("/v1/models/fraud/scorer/versions/{v1}/attestations?predicate_type={SCAN}"),
    )
    .await;
    assert_eq!(none["items"], json!([]));
    // As a Sigstore bundle naming its key.
    let bundle: Value = get_json(
        &app,
        &format!("/v1/models/fraud/scorer/versions/{v1}/attestations/{low}/bundle"),
    )
    .await;
    assert_eq!(
        bundle["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(
        bundle["verificationMaterial"]["publicKey"]["hint"],
        eval.keyid.as_str()
    );
    // Another version's attestation is not found under this one.
    let r = app
        .req(
            Method::GET,
            &format!("/v1/models/fraud/scorer/versions/{v2}/attestations/{low}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn attestations_by_untrusted_retired_or_compromised_keys_do_not_count(b: Backend) {
    let (app, ci, eval) = setup(b).await;
    assert_eq!(
        app.create_namespace("risk").await.status(),
        StatusCode::CREATED
    );
    let (v, st) = signed(&app, &ci, &[("model.bin", b"weights")]).await;
    let doc = attestation(&st, EVALUATION, json!({"metrics": {"accuracy": 0.99}}));

    // A key nobody registered, and one trusted for another namespace.
    let stranger = Signer::generate();
    let r = app
        .attest("fraud", "scorer", v, &stranger.envelope(&doc))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "untrusted_key");
    let elsewhere = Signer::generate();
    elsewhere.register(&app, "risk-bot", &["risk"]).await;
    let r = app
        .attest("fraud", "scorer", v, &elsewhere.envelope(&doc))
        .await;
    assert_eq!(error_code(r).await, "untrusted_key");
    // A forged signature: the evaluation key's envelope over other bytes.
    let mut forged = eval.envelope(&doc);
    let other = attestation(&st, EVALUATION, json!({"metrics": {"accuracy": 1.0}}));
    forged["payload"] = json!(
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&other).unwrap())
    );
    let r = app.attest("fraud", "scorer", v, &forged).await;
    assert_eq!(error_code(r).await, "signature_invalid");

    // A trusted key the rule does not name: kept, but it does not count.
    let (status, _) = (
        app.attest("fraud", "scorer", v, &ci.envelope(&doc))
            .await
            .status(),
        (),
    );
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = promote(&app, "production", v).await;
    let d = detail(&body, "attestation_missing");
    assert_eq!(
        d["attestation"]["not_counted"][0]["status"],
        "signer_not_accepted"
    );
    assert_eq!(d["attestation"]["not_counted"][0]["key_name"], "ci");

    // The evaluation key's attestation counts, until the key is revoked as
    // compromised: then it does not, and the gate says why.
    let id = evaluate(&app, &eval, v, &st, 0.99).await;
    assert_eq!(promote(&app, "staging", v).await.0, StatusCode::OK);
    let gate = |alias: &'static str| {
        let app = &app;
        async move {
            let g: Value =
                get_json(app, &format!("/v1/models/fraud/scorer/versions/{v}/gate")).await;
            g["aliases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["alias"] == alias)
                .unwrap()
                .clone()
        }
    };
    assert_eq!(gate("production").await["passes"], true);
    let revoke = |key: &Signer, reason: &str| {
        app.req(Method::POST, &format!("/v1/keys/{}/revoke", key.keyid))
            .json(&json!({"reason": reason}))
            .send()
    };
    assert_eq!(
        revoke(&eval, "compromised").await.unwrap().status(),
        StatusCode::OK
    );
    let (status, body) = promote(&app, "production", v).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let d = detail(&body, "attestation_missing");
    let lost = d["attestation"]["not_counted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap();
    assert_eq!(lost["status"], "key_revoked");
    // Nor does the compromised key attest anything new.
    let r = app.attest("fraud", "scorer", v, &eval.envelope(&doc)).await;
    assert_eq!(error_code(r).await, "key_revoked");

    // A retired key: what it attested before still counts; nothing after.
    let successor = Signer::generate();
    successor.register(&app, "eval-bot", &["fraud"]).await;
    let before = evaluate(&app, &successor, v, &st, 0.97).await;
    assert_eq!(
        revoke(&successor, "retired").await.unwrap().status(),
        StatusCode::OK
    );
    let passes = gate("production").await;
    assert_eq!(passes["passes"], true, "{passes}");
    assert_eq!(promote(&app, "production", v).await.0, StatusCode::OK);
    let history: Value = get_json(&app, "/v1/models/fraud/scorer/aliases/production/history").await;
    let record = statement_of(&history["items"][0]["record"]);
    assert_eq!(
        record["predicate"]["signet"]["rules"]["attestations"][0]["attestation"],
        before.as_str()
    );
    let doc2 = attestation(&st, EVALUATION, json!({"metrics": {"accuracy": 0.98}}));
    let r = app
        .attest("fraud", "scorer", v, &successor.envelope(&doc2))
        .await;
    assert_eq!(error_code(r).await, "key_revoked");
}

async fn subjects_that_are_not_exactly_the_files_are_refused_and_nothing_is_kept(b: Backend) {
    let (app, ci, eval) = setup(b).await;
    let (v, st) = signed(
        &app,
        &ci,
        &[("model.bin", b"weights"), ("config.json", b"{}")],
    )
    .await;
    let good = attestation(&st, EVALUATION, json!({"metrics": {"accuracy": 0.95}}));
    let root = st["subject"][0]["digest"]["sha256"].as_str().unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut d = good.clone();
        f(&mut d);
        d
    };
    let hex0 = "00".repeat(32);
    let cases: Vec<(&str, Value)> = vec![
        (
            "a file's digest is wrong",
            with(&|d| d["subject"][0]["digest"]["sha256"] = json!(hex0)),
        ),
        (
            "a file is missing",
            with(&|d| {
                d["subject"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "a file is named twice",
            with(&|d| {
                let first = d["subject"][0].clone();
                d["subject"].as_array_mut().unwrap().push(first);
            }),
        ),
        (
            "a subject that is no file",
            with(&|d| {
                d["subject"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "extra.bin", "digest": {"sha256": "11".repeat(32)}}));
            }),
        ),
        (
            "a root digest that is not the version's",
            with(&|d| {
                d["subject"] = json!([{"name": "fraud/scorer", "digest": {"sha256": hex0}}]);
            }),
        ),
        (
            "a digest the registry never checked",
            with(&|d| {
                d["subject"][0]["digest"]["sha512"] = json!("ab".repeat(64));
            }),
        ),
        ("no subject", with(&|d| d["subject"] = json!([]))),
        (
            "an in-toto statement of another version",
            with(&|d| {
                d["_type"] = json!("https://in-toto.io/Statement/v0.1");
            }),
        ),
        (
            "a predicate that is not an object",
            with(&|d| d["predicate"] = json!([1])),
        ),
        (
            "a predicate type that is no URI",
            with(&|d| d["predicateType"] = json!("evaluation")),
        ),
        ("a field of no statement", with(&|d| d["extra"] = json!(1))),
    ];
    for (what, doc) in &cases {
        let r = app.attest("fraud", "scorer", v, &eval.envelope(doc)).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_attestation", "{what}");
    }
    // Not an in-toto payload, a body of no envelope, a draft version.
    let mut other_type = eval.envelope(&good);
    other_type["payloadType"] = json!("text/plain");
    let r = app.attest("fraud", "scorer", v, &other_type).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .attest("fraud", "scorer", v, &json!({"statement": good}))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.create_version("fraud", "scorer", json!({})).await;
    let r = app
        .attest("fraud", "scorer", v + 1, &eval.envelope(&good))
        .await;
    assert_eq!(error_code(r).await, "version_not_sealed");
    let list: Value = get_json(
        &app,
        &format!("/v1/models/fraud/scorer/versions/{v}/attestations"),
    )
    .await;
    assert_eq!(list["items"], json!([]), "nothing refused was kept");

    // Exactly the files, or the root digest, are accepted; the same document
    // once.
    let envelope = eval.envelope(&good);
    let r = app.attest("fraud", "scorer", v, &envelope).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap()["subjects"], "files");
    let r = app.attest("fraud", "scorer", v, &envelope).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let by_root = with(&|d| {
        d["subject"] = json!([{"name": "fraud/scorer", "digest": {"sha256": root}}]);
    });
    let r = app
        .attest("fraud", "scorer", v, &eval.envelope(&by_root))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap()["subjects"], "root");
}

async fn a_scan_with_a_critical_finding_holds_the_version_back(b: Backend) {
    let (app, ci, eval) = setup(b).await;
    let scanner = Signer::generate();
    scanner.register(&app, "scanner", &["fraud"]).await;
    set_policy(
        &app,
        json!({"staging": [
            {"predicate_type": SCAN, "signers": [scanner.keyid], "conditions": [NO_CRITICAL]},
            {"predicate_type": "https://cyclonedx.org/bom"}
        ]}),
    )
    .await;
    let (v, st) = signed(&app, &ci, &[("model.bin", b"weights")]).await;
    let scan = |findings: Value| attestation(&st, SCAN, json!({"findings": findings}));
    let bad = scan(
        json!([{"id": "PAIT-1", "severity": "low"}, {"id": "PAIT-2", "severity": "critical"}]),
    );
    let r = app
        .attest("fraud", "scorer", v, &scanner.envelope(&bad))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (status, body) = promote(&app, "staging", v).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Every unmet rule is reported: the scan's finding and the missing SBOM.
    let unmet = detail(&body, "attestation_unmet");
    assert_eq!(unmet["attestation"]["unmet"][0]["condition"], NO_CRITICAL);
    let missing = detail(&body, "attestation_missing");
    assert_eq!(
        missing["attestation"]["predicate_type"],
        "https://cyclonedx.org/bom"
    );
    // An SBOM present (no conditions) and a clean scan by the scanner: passes.
    let bom = attestation(
        &st,
        "https://cyclonedx.org/bom",
        json!({"bomFormat": "CycloneDX", "specVersion": "1.6"}),
    );
    let r = app.attest("fraud", "scorer", v, &eval.envelope(&bom)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, body) = promote(&app, "staging", v).await;
    assert!(body["error"]["details"].as_array().unwrap().len() == 1);
    let clean = scan(json!([{"id": "PAIT-1", "severity": "low"}]));
    // The clean scan by another key does not count: the rule names the
    // scanner by its key id.
    let r = app
        .attest("fraud", "scorer", v, &eval.envelope(&clean))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(promote(&app, "staging", v).await.0, StatusCode::CONFLICT);
    let r = app
        .attest("fraud", "scorer", v, &scanner.envelope(&clean))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(promote(&app, "staging", v).await.0, StatusCode::OK);
}

async fn a_rule_edited_between_two_promotions_is_the_rule_the_later_one_sees(b: Backend) {
    let (app, ci, eval) = setup(b).await;
    let (v1, st1) = signed(&app, &ci, &[("model.bin", b"v1")]).await;
    let (v2, st2) = signed(&app, &ci, &[("model.bin", b"v2")]).await;
    evaluate(&app, &eval, v1, &st1, 0.93).await;
    evaluate(&app, &eval, v2, &st2, 0.93).await;
    assert_eq!(promote(&app, "production", v1).await.0, StatusCode::OK);
    let stricter = "input.predicate.metrics.accuracy >= 0.95";
    set_policy(
        &app,
        json!({"production": [{
            "predicate_type": EVALUATION, "signers": ["eval-bot"], "conditions": [stricter]
        }]}),
    )
    .await;
    let (status, body) = promote(&app, "production", v2).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let d = detail(&body, "attestation_unmet");
    assert_eq!(d["attestation"]["unmet"][0]["condition"], stricter);
    // And back: the looser rule lets it through.
    set_policy(
        &app,
        json!({"production": [{"predicate_type": EVALUATION, "conditions": [ACCURACY]}]}),
    )
    .await;
    assert_eq!(promote(&app, "production", v2).await.0, StatusCode::OK);
}

async fn rules_that_are_not_rego_are_refused_and_the_policy_stays(b: Backend) {
    let (app, _, _) = setup(b).await;
    let before: Value = get_json(&app, "/v1/namespaces/fraud/policy").await;
    assert_eq!(
        before["attestations_required"]["production"][0]["conditions"][0],
        ACCURACY
    );
    let rule = |r: Value| json!({"attestations_required": {"production": [r]}});
    // Conditions that are not Rego that compiles (a builtin that would reach
    // the network is none): 422, the condition named.
    for condition in [
        "accuracy >=",
        "http.send({\"method\": \"get\", \"url\": \"http://169.254.169.254/\"})",
        "opa.runtime()",
        "input.predicate.accuracy >= 0.9 }\npackage other",
    ] {
        let body = rule(json!({"predicate_type": EVALUATION, "conditions": [condition]}));
        let r = app
            .req(Method::PUT, "/v1/namespaces/fraud/policy")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{condition}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "invalid_rule");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(condition),
            "the message names the condition: {e}"
        );
    }
    // Bounds any schema states: 400.
    let bad = [
        rule(json!({"predicate_type": EVALUATION, "conditions": [""]})),
        rule(json!({"predicate_type": EVALUATION, "conditions": ["  "]})),
        rule(json!({"predicate_type": "evaluation"})),
        rule(json!({"predicate_type": EVALUATION, "signers": [""]})),
        rule(json!({"predicate_type": EVALUATION, "unknown": true})),
        json!({"attestations_required": {"Not An Alias": [{"predicate_type": EVALUATION}]}}),
        json!({"attestations_required": {"production": vec![json!({"predicate_type": EVALUATION}); 17]}}),
    ];
    for body in bad {
        let r = app
            .req(Method::PUT, "/v1/namespaces/fraud/policy")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "invalid_request", "{body}");
    }
    let after: Value = get_json(&app, "/v1/namespaces/fraud/policy").await;
    assert_eq!(before, after);
}

/// The statement inside a DSSE envelope.
pub(crate) fn statement_of(envelope: &Value) -> Value {
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// Plain DSSE: the PAE of the envelope, and a signature over it by the key in
/// `pem`: Ed25519, or ECDSA P-256 (SHA-256, DER). Nothing of Signet's verifier.
fn dsse_verifies(envelope: &Value, pem: &str) -> bool {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    use p256::ecdsa::signature::Verifier as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let ty = envelope["payloadType"].as_str().unwrap();
    let mut pae = format!("DSSEv1 {} {} {} ", ty.len(), ty, payload.len()).into_bytes();
    pae.extend_from_slice(&payload);
    let sigs: Vec<Vec<u8>> = envelope["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| b64.decode(s["sig"].as_str().unwrap()).unwrap())
        .collect();
    if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
        return sigs.iter().any(|sig| {
            ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|sig| key.verify(&pae, &sig).is_ok())
        });
    }
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(pem).unwrap();
    sigs.iter().any(|sig| {
        p256::ecdsa::Signature::from_der(sig).is_ok_and(|sig| key.verify(&pae, &sig).is_ok())
    })
}

async fn promotion_records_verify_with_the_registry_key_by_plain_dsse(b: Backend) {
    let (app, ci, eval) = setup(b).await;
    let (v1, st1) = signed(&app, &ci, &[("model.bin", b"v1")]).await;
    let (v2, st2) = signed(&app, &ci, &[("model.bin", b"v2")]).await;
    evaluate(&app, &eval, v1, &st1, 0.93).await;
    let held = evaluate(&app, &eval, v2, &st2, 0.94).await;
    assert_eq!(promote(&app, "production", v1).await.0, StatusCode::OK);
    let r = app
        .req(Method::PUT, "/v1/models/fraud/scorer/aliases/production")
        .json(&json!({"version": v2, "reason": "retrained on November"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .req(
            Method::DELETE,
            "/v1/models/fraud/scorer/aliases/production?reason=rollback",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let key: Value = get_json(&app, "/v1/registry/key").await;
    // The embedded default makes an Ed25519 key; the PostgreSQL runs use a
    // P-256 key from a file, as an operator may: records verify with either.
    let alg = match b {
        Backend::Sqlite => "ed25519",
        Backend::Postgres => "ecdsa-p256",
    };
    assert_eq!(key["algorithm"], alg);
    assert_eq!(
        key["predicate_type"],
        "https://k8s.io/promo-tools/promotion/v1"
    );
    let pem = key["public_key"].as_str().unwrap();
    let history: Value = get_json(&app, "/v1/models/fraud/scorer/aliases/production/history").await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    // The removal has no record; each promotion has one, signed by the
    // registry's key.
    assert!(items[0].get("record").is_none());
    let record = &items[1]["record"];
    assert!(dsse_verifies(record, pem));
    assert!(dsse_verifies(&items[2]["record"], pem));
    assert_eq!(record["signatures"][0]["keyid"], key["keyid"]);
    // Not by another key, and not over other bytes.
    assert!(!dsse_verifies(record, &Signer::generate_p256().pem));
    assert!(!dsse_verifies(record, &Signer::generate().pem));
    let mut altered = record.clone();
    let mut st = statement_of(record);
    st["predicate"]["signet"]["version"] = json!(v1);
    altered["payload"] =
        json!(base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&st).unwrap()));
    assert!(!dsse_verifies(&altered, pem));

    // What it states: the version by its root digest, where it moved from
    // and to, by whom, why, and the rules that held.
    let st = statement_of(record);
    let root = st2["subject"][0]["digest"]["sha256"].as_str().unwrap();
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        st["predicateType"],
        "https://k8s.io/promo-tools/promotion/v1"
    );
    assert_eq!(st["subject"][0]["name"], "fraud/scorer");
    assert_eq!(st["subject"][0]["digest"]["sha256"], root);
    let p = &st["predicate"];
    assert_eq!(p["digest"], format!("sha256:{root}"));
    assert!(p["srcRef"].as_str().unwrap().ends_with("/fraud/scorer@2"));
    assert!(
        p["dstRef"]
            .as_str()
            .unwrap()
            .ends_with("/fraud/scorer@production")
    );
    assert!(p["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(p["builderId"].as_str().unwrap().contains("/signet@"));
    let s = &p["signet"];
    assert_eq!(s["alias"], "production");
    assert_eq!(s["version"], v2);
    assert_eq!(s["previousVersion"], v1);
    assert_eq!(s["by"], "admin");
    assert_eq!(s["reason"], "retrained on November");
    assert_eq!(s["rules"]["signatures"]["keys"], json!([ci.keyid]));
    assert_eq!(s["rules"]["attestations"][0]["attestation"], held.as_str());
    assert_eq!(s["rules"]["attestations"][0]["conditions"][0], ACCURACY);
    let first = statement_of(&items[2]["record"]);
    assert_eq!(first["predicate"]["signet"]["previousVersion"], Value::Null);
}

async fn the_client_attests_pulls_only_what_a_pinned_key_attested_and_checks_records(b: Backend) {
    use crate::cli::signet;
    let (app, ci, eval) = setup(b).await;
    let (v, _) = signed(&app, &ci, &[("model.bin", b"weights")]).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("eval.pem"), eval.private_pem()).unwrap();
    std::fs::write(dir.join("eval.pub"), &eval.pem).unwrap();
    std::fs::write(dir.join("ci.pub"), &ci.pem).unwrap();
    std::fs::write(
        dir.join("eval.json"),
        json!({"metrics": {"accuracy": 0.95}}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("list.json"), "[1]").unwrap();
    let env = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let target = format!("fraud/scorer@{v}");
    let run = |args: Vec<&str>| {
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let env = &env;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            signet(dir, &args, "", env).await
        }
    };

    // A predicate that is not a JSON object is refused here, before any call.
    let r = run(vec![
        "attest",
        &target,
        "--predicate-type",
        EVALUATION,
        "--predicate",
        "list.json",
        "--key",
        "eval.pem",
    ])
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run(vec![
        "attest",
        &target,
        "--predicate-type",
        EVALUATION,
        "--predicate",
        "eval.json",
        "--key",
        "eval.pem",
    ])
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(EVALUATION), "{}", r.stdout);
    let r = run(vec!["--json", "attestations", &target]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let listed: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(listed["items"][0]["keyid"], eval.keyid.as_str());

    // Pulled with the attestation checked against the pinned keys.
    let r = run(vec![
        "pull",
        &target,
        "out",
        "--trust-key",
        "ci.pub",
        "--trust-key",
        "eval.pub",
        "--require-attestation",
        EVALUATION,
    ])
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read(dir.join("out/model.bin")).unwrap(),
        b"weights"
    );
    // Not when the key that attested is not pinned, nor for a type nobody
    // attested: nothing lands.
    let r = run(vec![
        "pull",
        &target,
        "unpinned",
        "--trust-key",
        "ci.pub",
        "--require-attestation",
        EVALUATION,
    ])
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("signed by a pinned key"), "{}", r.stderr);
    assert!(!dir.join("unpinned").exists());
    let r = run(vec![
        "pull",
        &target,
        "unscanned",
        "--trust-key",
        "ci.pub",
        "--trust-key",
        "eval.pub",
        "--require-attestation",
        SCAN,
    ])
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(!dir.join("unscanned").exists());

    // The promotion's record checks against the registry's key, and not
    // against another.
    let r = run(vec!["promote", &target, "production"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(vec!["registry-key"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(dir.join("registry.pub"), &r.stdout).unwrap();
    let r = run(vec![
        "alias",
        "history",
        "fraud/scorer@production",
        "--registry-key",
        "registry.pub",
    ])
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("record verified"), "{}", r.stdout);
    let r = run(vec![
        "alias",
        "history",
        "fraud/scorer@production",
        "--registry-key",
        "ci.pub",
    ])
    .await;
    assert_eq!(r.code, 5, "{}", r.stdout);
    assert!(
        r.stderr.contains("no signature by the registry's key"),
        "{}",
        r.stderr
    );
}

/// Validates a BOM with the CycloneDX project's validator (PyPI's
/// cyclonedx-python-lib); its verdict.
async fn cyclonedx_verdict(bom: &Value) -> (bool, String) {
    use tokio::io::AsyncWriteExt;
    let python = match std::env::var("SIGNET_TEST_CYCLONEDX_PYTHON") {
        Ok(p) => p,
        Err(_) => crate::helpers::not_configured("SIGNET_TEST_CYCLONEDX_PYTHON"),
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cyclonedx_validate.py"
    );
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(bom.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn the_bom_validates_and_the_provenance_is_signed_by_the_registry(b: Backend) {
    if std::env::var("SIGNET_TEST_CYCLONEDX_PYTHON").is_err()
        && crate::helpers::postgres_opted_out()
    {
        return;
    }
    let (app, ci, eval) = setup(b).await;
    let mut lineage = crate::helpers::full_lineage();
    lineage["environment"]["frameworks"] = json!({"torch": "2.4.1", "transformers": "4.44"});
    lineage["data"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "holdout", "sha256": "ef".repeat(32), "uri": "s3://data/holdout"}));
    let (v, st) = app
        .sealed_version(
            "fraud",
            "scorer",
            lineage,
            &[("model.bin", b"weights"), ("tokenizer/vocab.txt", b"a b c")],
        )
        .await;
    let r = app.sign("fraud", "scorer", v, &ci.envelope(&st)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let attested = evaluate(&app, &eval, v, &st, 0.95).await;
    let root = st["subject"][0]["digest"]["sha256"].as_str().unwrap();

    let r = app
        .req(
            Method::GET,
            &format!("/v1/models/fraud/scorer/versions/{v}/bom"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/vnd.cyclonedx+json")
    );
    let bom: Value = r.json().await.unwrap();
    let (valid, verdict) = cyclonedx_verdict(&bom).await;
    assert!(valid, "{verdict}\n{bom:#}");
    // The validator is no rubber stamp: a broken hash fails it.
    let mut broken = bom.clone();
    broken["components"][0]["hashes"][0]["content"] = json!("not hex");
    assert!(!cyclonedx_verdict(&broken).await.0);

    assert_eq!(bom["specVersion"], "1.6");
    let components = bom["components"].as_array().unwrap();
    let model = &components[0];
    assert_eq!(model["type"], "machine-learning-model");
    assert_eq!(model["name"], "fraud/scorer");
    assert_eq!(model["hashes"][0]["content"], root);
    let files: Vec<(&str, &str)> = model["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap(),
                f["hashes"][0]["content"].as_str().unwrap(),
            )
        })
        .collect();
    let listed: Vec<(&str, &str)> = st["predicate"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["digest"].as_str().unwrap()))
        .collect();
    assert_eq!(files, listed);
    let of_type =
        |t: &str| -> Vec<&Value> { components.iter().filter(|c| c["type"] == t).collect() };
    let data = of_type("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["hashes"][0]["content"], "ef".repeat(32));
    assert_eq!(data[1]["externalReferences"][0]["url"], "s3://data/holdout");
    let frameworks: Vec<&str> = of_type("framework")
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(frameworks, ["torch", "transformers"]);
    assert_eq!(of_type("container")[0]["name"], "train:1.4");
    let refs = model["externalReferences"].as_array().unwrap();
    let of_ref = |t: &str| refs.iter().find(|r| r["type"] == t).unwrap();
    assert!(
        of_ref("digital-signature")["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/signatures/{}/bundle", ci.keyid))
    );
    assert!(
        of_ref("attestation")["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/attestations/{attested}"))
    );
    assert_eq!(of_ref("vcs")["url"], "https://git.example.com/fraud/scorer");

    // The provenance: signed by the registry's key, about exactly the files.
    let key: Value = get_json(&app, "/v1/registry/key").await;
    let envelope: Value = get_json(
        &app,
        &format!("/v1/models/fraud/scorer/versions/{v}/provenance"),
    )
    .await;
    assert!(dsse_verifies(
        &envelope,
        key["public_key"].as_str().unwrap()
    ));
    let p = statement_of(&envelope);
    assert_eq!(p["predicateType"], "https://slsa.dev/provenance/v1");
    let subjects: Vec<(&str, &str)> = p["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["digest"]["sha256"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(subjects, listed);
    let def = &p["predicate"]["buildDefinition"];
    assert_eq!(
        def["resolvedDependencies"][0]["digest"]["gitCommit"],
        "ab".repeat(20)
    );
    assert_eq!(def["resolvedDependencies"][2]["uri"], "s3://data/holdout");
    assert_eq!(def["externalParameters"]["model"], "fraud/scorer");
    // Without a CI identity, the registry says the build was declared.
    assert!(
        p["predicate"]["runDetails"]["builder"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/signet/declared")
    );

    // A draft has neither.
    app.create_version("fraud", "scorer", json!({})).await;
    for doc in ["bom", "provenance"] {
        let r = app
            .req(
                Method::GET,
                &format!("/v1/models/fraud/scorer/versions/{}/{doc}", v + 1),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(r).await, "version_not_sealed", "{doc}");
    }
}

async fn attestations_are_oci_referrers_beside_the_signature_while_they_count(b: Backend) {
    use crate::oci::{BUNDLE, basic};
    let (app, ci, eval) = setup(b).await;
    let (v, st) = signed(&app, &ci, &[("model.bin", b"weights")]).await;
    let id = evaluate(&app, &eval, v, &st, 0.95).await;
    let get = |path: String| {
        app.anon(Method::GET, &path)
            .header("Authorization", basic(&app.admin))
            .send()
    };
    let r = get(format!("/v2/fraud/scorer/manifests/v{v}"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let digest = r.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    let referrers = || async {
        let index: Value = get(format!("/v2/fraud/scorer/referrers/{digest}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        index["manifests"].as_array().unwrap().clone()
    };
    let listed = referrers().await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|m| m["artifactType"] == BUNDLE));
    let predicate = |m: &Value| m["annotations"]["dev.sigstore.bundle.predicateType"].clone();
    assert_eq!(
        predicate(&listed[0]),
        "https://model_signing/signature/v1.0"
    );
    assert_eq!(predicate(&listed[1]), EVALUATION);
    assert_eq!(
        listed[1]["annotations"]["dev.signet.keyid"],
        eval.keyid.as_str()
    );
    // The referrer's one layer is the attestation's bundle.
    let manifest: Value = get(format!(
        "/v2/fraud/scorer/manifests/{}",
        listed[1]["digest"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(manifest["subject"]["digest"], digest.as_str());
    let bundle: Value = get(format!(
        "/v2/fraud/scorer/blobs/{}",
        manifest["layers"][0]["digest"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let stored: Value = get_json(
        &app,
        &format!("/v1/models/fraud/scorer/versions/{v}/attestations/{id}"),
    )
    .await;
    assert_eq!(
        bundle["dsseEnvelope"]["payload"],
        stored["envelope"]["payload"]
    );
    // A compromised key's attestation is offered no longer.
    let r = app
        .req(Method::POST, &format!("/v1/keys/{}/revoke", eval.keyid))
        .json(&json!({"reason": "compromised"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let listed = referrers().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        predicate(&listed[0]),
        "https://model_signing/signature/v1.0"
    );
}
