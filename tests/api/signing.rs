//! Signatures, trusted keys and the promotion gate.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, TestApp, error_code, full_lineage, safetensors_bytes};

crate::on_both_backends!(
    a_signed_version_is_promoted_and_pulled_by_a_deployer,
    forged_replayed_and_altered_signatures_are_refused,
    keys_out_of_scope_expired_or_unregistered_are_untrusted,
    a_compromised_key_stops_counting_for_past_signatures_too,
    a_retired_key_keeps_past_signatures_but_signs_nothing_new,
    min_signatures_counts_distinct_keys,
    promotion_refusals_list_every_reason,
    pickle_files_are_caught_by_their_bytes,
    a_signature_made_with_openssl_from_the_spec_is_accepted,
    concurrent_moves_of_one_alias_are_all_recorded_in_order,
    stored_signatures_come_back_byte_for_byte,
    a_maintainer_cannot_register_or_revoke_a_key_for_every_namespace,
);

async fn setup(b: Backend) -> (TestApp, Signer) {
    let app = TestApp::spawn(b).await;
    app.given_model().await;
    let signer = Signer::generate();
    let r = signer.register(&app, "ci-fraud", &["fraud"]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let key: Value = r.json().await.unwrap();
    assert_eq!(
        key["keyid"], signer.keyid,
        "keyid is the SHA-256 of the PEM text"
    );
    assert_eq!(key["algorithm"], "ed25519");
    (app, signer)
}

async fn a_signed_version_is_promoted_and_pulled_by_a_deployer(b: Backend) {
    let (app, signer) = setup(b).await;
    let weights = safetensors_bytes();
    let (v, statement) = app
        .sealed_version(
            "fraud",
            "scorer",
            full_lineage(),
            &[("model.safetensors", &weights)],
        )
        .await;

    let r = app
        .sign("fraud", "scorer", v, &signer.envelope(&statement))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(
        accepted,
        json!({"keyid": signer.keyid, "key_name": "ci-fraud", "status": "verified", "content_only": false})
    );

    let approver = app
        .member_token("release-manager", "fraud", "approver")
        .await;
    let r = app
        .anon(Method::PUT, "/v1/models/fraud/scorer/aliases/production")
        .bearer_auth(&approver)
        .json(&json!({"version": v, "reason": "weekly release"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let deployer = app.member_token("deploy-bot", "fraud", "deployer").await;
    let r = app
        .anon(Method::GET, "/v1/models/fraud/scorer/aliases/production")
        .bearer_auth(&deployer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let resolved: Value = r.json().await.unwrap();
    assert_eq!(resolved["version"], v);
    assert_eq!(resolved["verified"], true);
    assert_eq!(resolved["aliases"], json!(["production"]));
    assert_eq!(resolved["files"][0]["format"], "safetensors");
    assert_eq!(resolved["signatures"][0]["status"], "verified");
    let r = app
        .anon(
            Method::GET,
            &format!("/v1/models/fraud/scorer/versions/{v}/files/model.safetensors"),
        )
        .bearer_auth(&deployer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap()[..] == weights[..]);

    let model: Value = app
        .req(Method::GET, "/v1/models/fraud/scorer")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(model["aliases"], json!({"production": v}));
    let history: Value = app
        .req(
            Method::GET,
            "/v1/models/fraud/scorer/aliases/production/history",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"][0]["principal"], "release-manager");
    assert_eq!(history["items"][0]["reason"], "weekly release");
    assert_eq!(history["items"][0]["previous_version"], Value::Null);
}

async fn forged_replayed_and_altered_signatures_are_refused(b: Backend) {
    let (app, signer) = setup(b).await;
    let files: &[(&str, &[u8])] = &[("m.bin", b"weights-1")];
    let (v1, st1) = app
        .sealed_version("fraud", "scorer", full_lineage(), files)
        .await;
    let (v2, _) = app
        .sealed_version("fraud", "scorer", full_lineage(), files)
        .await;
    app.create_model("fraud", "other").await;
    let (o1, st_other) = app
        .sealed_version("fraud", "other", full_lineage(), files)
        .await;

    // Forged: the payload changed after signing, under the trusted key's id.
    let mut forged = signer.envelope(&st1);
    let mut tampered = st1.clone();
    tampered["predicate"]["signet"]["version"] = json!(v2);
    forged["payload"] = json!(base64_std(&serde_json::to_vec(&tampered).unwrap()));
    let r = app.sign("fraud", "scorer", v2, &forged).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "signature_invalid");
    let mut garbage = signer.envelope(&st1);
    garbage["signatures"][0]["sig"] = json!(base64_std(&[7u8; 64]));
    assert_eq!(
        error_code(app.sign("fraud", "scorer", v1, &garbage).await).await,
        "signature_invalid"
    );
    for bad in [
        json!({"payload": "x"}),
        json!({"dsseEnvelope": {"nope": 1}}),
    ] {
        let r = app.sign("fraud", "scorer", v1, &bad).await;
        assert_eq!(error_code(r).await, "signature_invalid", "{bad}");
    }
    // Not even a JSON object: refused like any other body that is not one.
    let r = app.sign("fraud", "scorer", v1, &json!([1, 2])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_request");

    // Replay: a valid signature of version 1 posted to version 2 (same bytes).
    let r = app
        .sign("fraud", "scorer", v2, &signer.envelope(&st1))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "statement_mismatch");
    // Another model's statement.
    let r = app
        .sign("fraud", "scorer", v1, &signer.envelope(&st_other))
        .await;
    assert_eq!(error_code(r).await, "statement_mismatch");

    // One file's digest changed, the lineage changed, another registry: all signed validly.
    let mut digest = st1.clone();
    digest["predicate"]["resources"][0]["digest"] = json!("00".repeat(32));
    let mut lineage = st1.clone();
    lineage["predicate"]["signet"]["lineage"]["data"][0]["sha256"] = json!("ee".repeat(32));
    let mut registry = st1.clone();
    registry["predicate"]["signet"]["registry"] = json!("another-registry");
    let mut size = st1.clone();
    size["predicate"]["resources"][0]["size"] = json!(1);
    for (what, st) in [
        ("digest", digest),
        ("lineage", lineage),
        ("registry", registry),
        ("size", size),
    ] {
        let r = app.sign("fraud", "scorer", v1, &signer.envelope(&st)).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        assert_eq!(error_code(r).await, "statement_mismatch", "{what}");
    }

    // Lineage is compared as data: reordered keys and empty sections still match.
    let mut reordered = st1.clone();
    let l = &mut reordered["predicate"]["signet"]["lineage"];
    l["run"] = json!({});
    l["parents"] = json!([]);
    l["code"] = json!({"commit": "ab".repeat(20), "repo": "https://git.example.com/fraud/scorer"});
    let r = app
        .sign("fraud", "scorer", v1, &signer.envelope(&reordered))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Nothing refused was kept.
    for (m, v) in [("scorer", v2), ("other", o1)] {
        let ver: Value = app.get_version("fraud", m, v).await.json().await.unwrap();
        assert_eq!(ver["signatures"], json!([]), "{m} {v}");
    }
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

async fn keys_out_of_scope_expired_or_unregistered_are_untrusted(b: Backend) {
    let (app, _) = setup(b).await;
    app.create_namespace("search").await;
    let (v, st) = app
        .sealed_version("fraud", "scorer", json!({}), &[("m.bin", b"w")])
        .await;

    let stranger = Signer::generate();
    let r = app
        .sign("fraud", "scorer", v, &stranger.envelope(&st))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "untrusted_key");

    let elsewhere = Signer::generate();
    elsewhere.register(&app, "ci-search", &["search"]).await;
    assert_eq!(
        error_code(
            app.sign("fraud", "scorer", v, &elsewhere.envelope(&st))
                .await
        )
        .await,
        "untrusted_key"
    );

    let expired = Signer::generate();
    let r = app.req(Method::POST, "/v1/keys").json(&json!({
        "name": "old", "public_key": expired.pem, "namespaces": ["fraud"], "expires_at": "2020-01-01T00:00:00Z"
    })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        error_code(app.sign("fraud", "scorer", v, &expired.envelope(&st)).await).await,
        "untrusted_key"
    );

    // A key registered for every namespace works here.
    let global = Signer::generate();
    global.register(&app, "release", &["*"]).await;
    assert_eq!(
        app.sign("fraud", "scorer", v, &global.envelope(&st))
            .await
            .status(),
        StatusCode::CREATED
    );

    // Registering the same key twice, or something that is not an Ed25519 key, is refused.
    assert_eq!(
        global.register(&app, "again", &["*"]).await.status(),
        StatusCode::CONFLICT
    );
    let r = app.req(Method::POST, "/v1/keys")
        .json(&json!({"name": "rsa", "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "namespaces": ["fraud"]}))
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn revoke(app: &TestApp, keyid: &str, reason: &str) -> Value {
    let r = app
        .req(Method::POST, &format!("/v1/keys/{keyid}/revoke"))
        .json(&json!({"reason": reason}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn a_compromised_key_stops_counting_for_past_signatures_too(b: Backend) {
    let (app, signer) = setup(b).await;
    let (v, st) = app
        .sealed_version("fraud", "scorer", full_lineage(), &[("m.bin", b"w")])
        .await;
    assert_eq!(
        app.sign("fraud", "scorer", v, &signer.envelope(&st))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.promote("fraud", "scorer", "production", v)
            .await
            .status(),
        StatusCode::OK
    );
    let deployer = app.member_token("deploy-bot", "fraud", "deployer").await;
    let pull = || {
        app.anon(
            Method::GET,
            &format!("/v1/models/fraud/scorer/versions/{v}/files/m.bin"),
        )
        .bearer_auth(&deployer)
        .send()
    };
    assert_eq!(pull().await.unwrap().status(), StatusCode::OK);

    let answer = revoke(&app, &signer.keyid, "compromised").await;
    assert_eq!(answer["key"]["revocation_reason"], "compromised");
    assert_eq!(
        answer["versions_lost_verification"],
        json!([{"namespace": "fraud", "model": "scorer", "version": v, "aliases": ["production"]}])
    );

    let r = pull().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "the next pull is refused"
    );
    assert_eq!(error_code(r).await, "version_not_verified");
    let r = app.promote("fraud", "scorer", "staging", v).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "promotion_refused");
    assert_eq!(body["error"]["reasons"], json!(["key_revoked"]));
    let ver: Value = app
        .get_version("fraud", "scorer", v)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ver["verified"], false);
    assert_eq!(ver["signatures"][0]["status"], "key_revoked");
    let (v2, st2) = app
        .sealed_version("fraud", "scorer", json!({}), &[("m.bin", b"x")])
        .await;
    assert_eq!(
        error_code(
            app.sign("fraud", "scorer", v2, &signer.envelope(&st2))
                .await
        )
        .await,
        "key_revoked"
    );
}

async fn a_retired_key_keeps_past_signatures_but_signs_nothing_new(b: Backend) {
    let (app, signer) = setup(b).await;
    let (v, st) = app
        .sealed_version("fraud", "scorer", full_lineage(), &[("m.bin", b"w")])
        .await;
    assert_eq!(
        app.sign("fraud", "scorer", v, &signer.envelope(&st))
            .await
            .status(),
        StatusCode::CREATED
    );

    let answer = revoke(&app, &signer.keyid, "retired").await;
    assert_eq!(answer["versions_lost_verification"], json!([]));

    assert_eq!(
        app.promote("fraud", "scorer", "production", v)
            .await
            .status(),
        StatusCode::OK
    );
    let deployer = app.member_token("deploy-bot", "fraud", "deployer").await;
    let r = app
        .anon(
            Method::GET,
            &format!("/v1/models/fraud/scorer/versions/{v}/files/m.bin"),
        )
        .bearer_auth(&deployer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (v2, st2) = app
        .sealed_version("fraud", "scorer", json!({}), &[("m.bin", b"x")])
        .await;
    let r = app
        .sign("fraud", "scorer", v2, &signer.envelope(&st2))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "key_revoked");
    // Retired can still be escalated to compromised, which then cancels the old signature.
    let answer = revoke(&app, &signer.keyid, "compromised").await;
    assert_eq!(answer["versions_lost_verification"][0]["version"], v);
    let r = app
        .req(Method::POST, &format!("/v1/keys/{}/revoke", signer.keyid))
        .json(&json!({"reason": "retired"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "no de-escalation");
}

async fn min_signatures_counts_distinct_keys(b: Backend) {
    let (app, a) = setup(b).await;
    let r = app
        .req(Method::PUT, "/v1/namespaces/fraud/policy")
        .json(&json!({"min_signatures": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (v, st) = app
        .sealed_version("fraud", "scorer", full_lineage(), &[("m.bin", b"w")])
        .await;
    assert_eq!(
        app.sign("fraud", "scorer", v, &a.envelope(&st))
            .await
            .status(),
        StatusCode::CREATED
    );
    let again = app.sign("fraud", "scorer", v, &a.envelope(&st)).await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "the same key counts once"
    );

    let r = app.promote("fraud", "scorer", "production", v).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["reasons"], json!(["insufficient_signatures"]));
    let ver: Value = app
        .get_version("fraud", "scorer", v)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ver["verified"], false);

    let second = Signer::generate();
    second.register(&app, "security-team", &["fraud"]).await;
    assert_eq!(
        app.sign("fraud", "scorer", v, &second.envelope(&st))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.promote("fraud", "scorer", "production", v)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn promotion_refusals_list_every_reason(b: Backend) {
    let (app, signer) = setup(b).await;
    let reasons = |r: reqwest::Response| async move {
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "promotion_refused");
        body["error"]["reasons"].clone()
    };
    let draft = app
        .create_version("fraud", "scorer", json!({}))
        .await
        .json::<Value>()
        .await
        .unwrap()["version"]
        .as_i64()
        .unwrap();
    app.put_file("fraud", "scorer", draft, "m.bin", b"w".to_vec(), None)
        .await;
    assert_eq!(
        reasons(app.promote("fraud", "scorer", "staging", draft).await).await,
        json!(["not_sealed"])
    );

    let (bare, st) = app
        .sealed_version(
            "fraud",
            "scorer",
            json!({"code": {"commit": "ab".repeat(20)}}),
            &[("m.bin", b"w")],
        )
        .await;
    assert_eq!(
        reasons(app.promote("fraud", "scorer", "staging", bare).await).await,
        json!(["unsigned"])
    );
    assert_eq!(
        reasons(app.promote("fraud", "scorer", "production", bare).await).await,
        json!(["lineage_incomplete", "unsigned"])
    );
    app.sign("fraud", "scorer", bare, &signer.envelope(&st))
        .await;
    assert_eq!(
        app.promote("fraud", "scorer", "staging", bare)
            .await
            .status(),
        StatusCode::OK,
        "staging needs no lineage"
    );
    assert_eq!(
        reasons(app.promote("fraud", "scorer", "production", bare).await).await,
        json!(["lineage_incomplete"])
    );
    let r = app
        .sign("fraud", "scorer", draft, &signer.envelope(&st))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "version_not_sealed");

    // Refusals leave the alias where it was; every move is in the history.
    let staging: Value = app
        .req(Method::GET, "/v1/models/fraud/scorer/aliases/staging")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(staging["version"], bare);
    assert_eq!(
        app.req(Method::GET, "/v1/models/fraud/scorer/aliases/production")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = app
        .req(
            Method::DELETE,
            "/v1/models/fraud/scorer/aliases/staging?reason=rollback",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.req(Method::GET, "/v1/models/fraud/scorer/aliases/staging")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let history: Value = app
        .req(
            Method::GET,
            "/v1/models/fraud/scorer/aliases/staging/history",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let moves: Vec<(Value, Value)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["version"].clone(), m["previous_version"].clone()))
        .collect();
    assert_eq!(
        moves,
        vec![(Value::Null, json!(bare)), (json!(bare), Value::Null)]
    );
    assert_eq!(history["items"][0]["reason"], "rollback");
}

async fn pickle_files_are_caught_by_their_bytes(b: Backend) {
    let (app, signer) = setup(b).await;
    let pickle: &[u8] =
        b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94.";
    let (ns, m, v) = (
        "fraud",
        "scorer",
        app.create_version("fraud", "scorer", json!({}))
            .await
            .json::<Value>()
            .await
            .unwrap()["version"]
            .as_i64()
            .unwrap(),
    );

    // Disguised as safetensors: refused at upload.
    let r = app
        .put_file(ns, m, v, "model.safetensors", pickle.to_vec(), None)
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "invalid_safetensors");
    // A malformed safetensors header (offsets past the end) is refused too.
    let mut bad = safetensors_bytes();
    bad.truncate(bad.len() - 4);
    assert_eq!(
        error_code(app.put_file(ns, m, v, "w.safetensors", bad, None).await).await,
        "invalid_safetensors"
    );
    let ver: Value = app.get_version(ns, m, v).await.json().await.unwrap();
    assert_eq!(ver["files"], json!([]));
    assert!(
        app.stored_objects().await.is_empty(),
        "refused files leave no blob"
    );

    // Under a neutral name, or inside a PyTorch zip archive, it is recorded as pickle.
    app.put_file(ns, m, v, "model.bin", pickle.to_vec(), None)
        .await;
    app.put_file(ns, m, v, "model.pt", torch_zip(pickle), None)
        .await;
    app.put_file(ns, m, v, "weights.safetensors", safetensors_bytes(), None)
        .await;
    let sealed: Value = app.seal(ns, m, v).await.json().await.unwrap();
    let formats: Vec<(&str, &str)> = sealed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["format"].as_str().unwrap()))
        .collect();
    assert_eq!(
        formats,
        vec![
            ("model.bin", "pickle"),
            ("model.pt", "pickle"),
            ("weights.safetensors", "safetensors")
        ]
    );
    assert_eq!(
        app.sign(ns, m, v, &signer.envelope(&sealed["statement"]))
            .await
            .status(),
        StatusCode::CREATED
    );
    let r = app.promote(ns, m, "staging", v).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["reasons"],
        json!(["unsafe_format"])
    );

    let r = app
        .req(Method::PUT, "/v1/namespaces/fraud/policy")
        .json(&json!({"allow_unsafe_formats": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.promote(ns, m, "staging", v).await.status(),
        StatusCode::OK
    );
}

/// A minimal stored (uncompressed) zip holding `archive/data.pkl`, as torch.save writes.
fn torch_zip(pickle: &[u8]) -> Vec<u8> {
    let name = b"archive/data.pkl";
    let mut crc = flate2::Crc::new();
    crc.update(pickle);
    let crc = crc.sum().to_le_bytes();
    let mut z = Vec::new();
    z.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    z.extend_from_slice(&crc);
    z.extend_from_slice(&(pickle.len() as u32).to_le_bytes());
    z.extend_from_slice(&(pickle.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name);
    z.extend_from_slice(pickle);
    let cd = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    z.extend_from_slice(&crc);
    z.extend_from_slice(&(pickle.len() as u32).to_le_bytes());
    z.extend_from_slice(&(pickle.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0u8; 12]);
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(name);
    let cd_len = z.len() as u32 - cd;
    z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

/// An independent implementation: a key made by `openssl genpkey`, the statement
/// written out by hand from `design.md`, the PAE by hand from the DSSE spec, the
/// signature by `openssl pkeyutl`. None of Signet's signing code is involved.
async fn a_signature_made_with_openssl_from_the_spec_is_accepted(b: Backend) {
    use sha2::Digest;
    let app = TestApp::spawn(b).await;
    app.given_model().await;
    let dir = tempfile::tempdir().unwrap();
    let sh = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    sh(&["genpkey", "-algorithm", "ed25519", "-out", "key.pem"]);
    let pem = String::from_utf8(sh(&["pkey", "-in", "key.pem", "-pubout"])).unwrap();
    let r = app
        .req(Method::POST, "/v1/keys")
        .json(&json!({"name": "openssl", "public_key": pem, "namespaces": ["fraud"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let keyid = r.json::<Value>().await.unwrap()["keyid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(keyid, hex::encode(sha2::Sha256::digest(pem.as_bytes())));

    let (a, b_txt) = (b"first file".to_vec(), b"second".to_vec());
    let lineage = json!({"code": {"commit": "12".repeat(20)}});
    let (v, _) = app
        .sealed_version(
            "fraud",
            "scorer",
            lineage.clone(),
            &[("b.txt", &b_txt), ("a/x.bin", &a)],
        )
        .await;
    let (da, db) = (sha2::Sha256::digest(&a), sha2::Sha256::digest(&b_txt));
    let root = hex::encode(sha2::Sha256::digest(
        [da.as_slice(), db.as_slice()].concat(),
    ));
    let statement = format!(
        concat!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"fraud/scorer","digest":{{"sha256":"{root}"}}}}],"#,
            r#""predicateType":"https://model_signing/signature/v1.0","predicate":{{"serialization":{{"method":"files","hash_type":"sha256","allow_symlinks":false,"ignore_paths":[]}},"#,
            r#""resources":[{{"name":"a/x.bin","algorithm":"sha256","digest":"{da}","size":10}},{{"name":"b.txt","algorithm":"sha256","digest":"{db}","size":6}}],"#,
            r#""signet":{{"registry":"signet-test","model":"fraud/scorer","version":{v},"lineage":{{"code":{{"commit":"{commit}"}}}}}}}}}}"#
        ),
        root = root,
        da = hex::encode(da),
        db = hex::encode(db),
        v = v,
        commit = "12".repeat(20)
    );
    let ty = "application/vnd.in-toto+json";
    let pae = format!(
        "DSSEv1 {} {} {} {}",
        ty.len(),
        ty,
        statement.len(),
        statement
    );
    std::fs::write(dir.path().join("pae.bin"), pae).unwrap();
    let sig = sh(&[
        "pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-in", "pae.bin",
    ]);
    let envelope = json!({
        "payload": base64_std(statement.as_bytes()),
        "payloadType": ty,
        "signatures": [{"keyid": keyid, "sig": base64_std(&sig)}]
    });
    // Sent inside a Sigstore bundle v0.3, as cosign-style tools emit.
    let bundle = json!({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {"publicKey": {"hint": keyid}}, "dsseEnvelope": envelope});
    let r = app.sign("fraud", "scorer", v, &bundle).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let ver: Value = app
        .get_version("fraud", "scorer", v)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ver["verified"], true);
}

async fn concurrent_moves_of_one_alias_are_all_recorded_in_order(b: Backend) {
    let (app, signer) = setup(b).await;
    let mut versions = Vec::new();
    for i in 0..2u8 {
        let (v, st) = app
            .sealed_version("fraud", "scorer", json!({}), &[("m.bin", &[i])])
            .await;
        app.sign("fraud", "scorer", v, &signer.envelope(&st)).await;
        versions.push(v);
    }
    let n = 16;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let req = app
                .req(Method::PUT, "/v1/models/fraud/scorer/aliases/champion")
                .json(&json!({"version": versions[i % 2], "reason": format!("move {i}")}));
            tokio::spawn(async move { req.send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let history: Value = app
        .req(
            Method::GET,
            "/v1/models/fraud/scorer/aliases/champion/history?limit=100",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), n, "no move lost");
    // Newest first: each move's previous version is the version the move before it set.
    for pair in items.windows(2) {
        assert_eq!(pair[0]["previous_version"], pair[1]["version"]);
    }
    assert_eq!(items[n - 1]["previous_version"], Value::Null);
    let now: Value = app
        .req(Method::GET, "/v1/models/fraud/scorer/aliases/champion")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["version"], items[0]["version"]);
}

async fn stored_signatures_come_back_byte_for_byte(b: Backend) {
    let (app, signer) = setup(b).await;
    let (v, st) = app
        .sealed_version("fraud", "scorer", json!({}), &[("m.bin", b"w")])
        .await;
    // Odd but valid formatting that a re-serializer would change.
    let env = signer.envelope(&st);
    let doc = format!(
        "{{ \"signatures\" : [ {{\"sig\":\"{}\", \"keyid\":\"{}\"}} ],\n  \"payloadType\":\"{}\", \"payload\":\"{}\" }}",
        env["signatures"][0]["sig"].as_str().unwrap(),
        signer.keyid,
        env["payloadType"].as_str().unwrap(),
        env["payload"].as_str().unwrap()
    );
    let r = app
        .req(
            Method::POST,
            &format!("/v1/models/fraud/scorer/versions/{v}/signatures"),
        )
        .header("content-type", "application/json")
        .body(doc.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let listed = app
        .req(
            Method::GET,
            &format!("/v1/models/fraud/scorer/versions/{v}/signatures"),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains(&doc), "the envelope is returned verbatim");
}

async fn a_maintainer_cannot_register_or_revoke_a_key_for_every_namespace(b: Backend) {
    let (app, _) = setup(b).await;
    let maria = app.member_token("maria", "fraud", "maintainer").await;
    let key = Signer::generate();
    let register = |namespaces: Value| {
        app.anon(Method::POST, "/v1/keys")
            .bearer_auth(&maria)
            .json(&json!({"name": "k", "public_key": key.pem, "namespaces": namespaces}))
            .send()
    };
    assert_eq!(
        register(json!(["*"])).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        register(json!(["fraud", "*"])).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.req(Method::GET, &format!("/v1/keys/{}", key.keyid))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    let global = Signer::generate();
    assert_eq!(
        global.register(&app, "release", &["*"]).await.status(),
        StatusCode::CREATED
    );
    let r = app
        .anon(Method::POST, &format!("/v1/keys/{}/revoke", global.keyid))
        .bearer_auth(&maria)
        .json(&json!({"reason": "compromised"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let k: Value = app
        .req(Method::GET, &format!("/v1/keys/{}", global.keyid))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        k["revoked_at"],
        Value::Null,
        "the refused revocation changed nothing"
    );
    // Her own namespace's keys are hers to manage.
    assert_eq!(
        register(json!(["fraud"])).await.unwrap().status(),
        StatusCode::CREATED
    );
}
