//! Trust hardening: a key is its key material, whatever text it arrives in; weak
//! keys are refused.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, TestApp, bytes_of, error_code, full_lineage, sha256_hex};

crate::on_both_backends!(
    a_key_is_its_material_whatever_its_wrapping,
    a_key_revoked_as_compromised_never_returns,
    one_key_registered_twice_counts_once_and_falls_with_its_twin,
    weak_and_non_canonical_ed25519_keys_are_refused,
    key_listings_show_only_what_the_caller_can_read,
    every_file_of_a_version_can_be_written_to_disk_on_any_os,
    a_token_minted_with_a_token_cannot_outlive_it,
    signed_material_with_keys_twice_or_fields_unread_is_refused,
    no_alias_moves_onto_a_version_whose_trust_was_just_revoked,
    a_range_never_serves_bytes_that_do_not_match_their_block,
    a_file_stored_before_blocks_were_recorded_gets_them_once_checked,
    code_executing_files_are_found_whatever_their_disguise,
    a_namespace_may_refuse_files_of_no_known_format,
);

/// `pem`'s base64 re-wrapped at `width` columns, with CRLF line ends, a header
/// line and text around it: the same key, other bytes.
fn rewrapped(pem: &str, width: usize) -> String {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(width)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "ci signing key\r\n-----BEGIN PUBLIC KEY-----\r\nComment: rotated 2026\r\n{}\r\n-----END PUBLIC KEY-----\r\n\r\n",
        lines.join("\r\n")
    )
}

async fn register(app: &TestApp, name: &str, pem: &str) -> reqwest::Response {
    app.req(Method::POST, "/v1/keys")
        .json(&json!({"name": name, "public_key": pem, "namespaces": ["fraud"]}))
        .send()
        .await
        .unwrap()
}

async fn a_key_is_its_material_whatever_its_wrapping(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    let signer = Signer::generate();
    // Registered in an unusual wrapping, the key gets the id of its canonical
    // SPKI PEM: the key hint OpenSSF Model Signing computes for it.
    let r = register(&app, "ci", &rewrapped(&signer.pem, 40)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let key: Value = r.json().await.unwrap();
    assert_eq!(key["keyid"], sha256_hex(signer.pem.as_bytes()));
    assert_eq!(key["public_key"], signer.pem);

    for text in [
        signer.pem.clone(),
        rewrapped(&signer.pem, 64),
        rewrapped(&signer.pem, 76),
    ] {
        let again = register(&app, "ci-again", &text).await;
        assert_eq!(again.status(), StatusCode::CONFLICT, "{text:?}");
        assert_eq!(error_code(again).await, "conflict");
    }
    let keys: Value = app
        .req(Method::GET, "/v1/keys")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
}

async fn a_key_revoked_as_compromised_never_returns(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    app.create_model("fraud", "scorer").await;
    let signer = Signer::generate();
    assert_eq!(
        register(&app, "ci", &signer.pem).await.status(),
        StatusCode::CREATED
    );
    let r = app
        .req(Method::POST, &format!("/v1/keys/{}/revoke", signer.keyid))
        .json(&json!({"reason": "compromised"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let back = register(&app, "ci-rotated", &rewrapped(&signer.pem, 48)).await;
    assert_eq!(back.status(), StatusCode::CONFLICT);
    let body: Value = back.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("compromised"),
        "{body}"
    );
    // And the key still signs nothing.
    let (v, st) = app
        .sealed_version("fraud", "scorer", full_lineage(), &[("m.bin", b"w")])
        .await;
    let r = app.sign("fraud", "scorer", v, &signer.envelope(&st)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "key_revoked");
}

/// A key registered twice before registrations were refused (here: a row as an
/// older Signet wrote it, keyed by the hash of other text) is one signer: its two
/// signatures do not satisfy `min_signatures: 2`, and compromising one
/// registration compromises the other.
async fn one_key_registered_twice_counts_once_and_falls_with_its_twin(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    app.create_model("fraud", "scorer").await;
    let signer = Signer::generate();
    assert_eq!(
        register(&app, "ci", &signer.pem).await.status(),
        StatusCode::CREATED
    );
    let legacy_text = rewrapped(&signer.pem, 32).replace("\r\n", "\n");
    let legacy_id = sha256_hex(legacy_text.as_bytes());
    app.sql(&format!(
        "INSERT INTO keys (keyid, name, algorithm, public_key, namespaces, created_at, created_by) \
         VALUES ('{legacy_id}', 'ci-legacy', 'ed25519', '{legacy_text}', '[\"fraud\"]', \
         '2026-01-01T00:00:00Z', 'admin')"
    ))
    .await;
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
    for hint in [signer.keyid.as_str(), legacy_id.as_str()] {
        let r = app
            .sign("fraud", "scorer", v, &signer.hinting(hint).envelope(&st))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "hint {hint}");
    }
    let r = app.promote("fraud", "scorer", "staging", v).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["reasons"], json!(["insufficient_signatures"]));

    // Compromising the new registration cancels the legacy one's signature too.
    app.req(Method::POST, &format!("/v1/keys/{}/revoke", signer.keyid))
        .json(&json!({"reason": "compromised"}))
        .send()
        .await
        .unwrap();
    let view: Value = app
        .get_version("fraud", "scorer", v)
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = view["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["key_revoked", "key_revoked"]);
}

/// SPKI PEM of an Ed25519 "key" with these 32 point bytes.
fn pem_of(point: [u8; 32]) -> String {
    use base64::Engine;
    let mut der = hex::decode("302a300506032b6570032100").unwrap();
    der.extend_from_slice(&point);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
}

async fn weak_and_non_canonical_ed25519_keys_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut order_two = [0xffu8; 32];
    order_two[0] = 0xec;
    order_two[31] = 0x7f;
    // y = p + 1 spells the identity's y = 1 another way; y = p + 3 would be a
    // non-canonical spelling of y = 3 if that is a point: try them all.
    let mut cases = vec![identity, order_two];
    for k in 0u8..19 {
        let mut y = [0xffu8; 32];
        y[0] = 0xed + k;
        y[31] = 0x7f;
        cases.push(y);
    }
    let mut refused_weak = 0;
    for point in cases {
        let r = register(&app, "weak", &pem_of(point)).await;
        match r.status() {
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(error_code(r).await, "weak_key");
                refused_weak += 1;
            }
            // Not a point on the curve at all: unreadable, also refused.
            StatusCode::BAD_REQUEST => assert_eq!(error_code(r).await, "invalid_request"),
            other => panic!("point {} was accepted: {other}", hex::encode(point)),
        }
    }
    assert!(
        refused_weak >= 3,
        "only {refused_weak} weak keys recognised"
    );
    let keys: Value = app
        .req(Method::GET, "/v1/keys")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(keys["items"].as_array().unwrap().is_empty());
    // Each refusal is in the access log.
    let log: Value = app
        .req(Method::GET, "/v1/audit?action=POST%20/v1/keys&limit=1000")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let logged_422 = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == 422)
        .count();
    assert_eq!(logged_422, refused_weak);
}

async fn key_listings_show_only_what_the_caller_can_read(b: Backend) {
    let app = TestApp::spawn(b).await;
    for ns in ["fraud", "search"] {
        app.create_namespace(ns).await;
    }
    let (fraud_only, both, global) = (Signer::generate(), Signer::generate(), Signer::generate());
    fraud_only.register(&app, "fraud-ci", &["fraud"]).await;
    both.register(&app, "shared-ci", &["fraud", "search"]).await;
    global.register(&app, "release", &["*"]).await;
    let reader = app.member_token("rita", "search", "reader").await;
    let maintainer = app.member_token("max", "search", "maintainer").await;
    let list = |token: String| {
        let app = &app;
        async move {
            let v: Value = app
                .anon(Method::GET, "/v1/keys")
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["items"].as_array().unwrap().clone()
        }
    };

    let seen = list(reader.clone()).await;
    let names: Vec<&str> = seen.iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(seen.len(), 2, "{names:?}");
    assert!(
        !names.contains(&"fraud-ci"),
        "a search reader saw fraud's key"
    );
    let shared = seen.iter().find(|k| k["name"] == "shared-ci").unwrap();
    assert_eq!(
        shared["namespaces"],
        json!(["search"]),
        "fraud leaked through a shared key"
    );
    assert!(
        seen.iter().all(|k| k["created_by"].is_null()),
        "a reader saw who registered keys"
    );

    let managed = list(maintainer).await;
    let shared = managed.iter().find(|k| k["name"] == "shared-ci").unwrap();
    assert_eq!(shared["created_by"], "admin");
    let global_key = managed.iter().find(|k| k["name"] == "release").unwrap();
    assert!(
        global_key["created_by"].is_null(),
        "only admins manage `*` keys"
    );

    // A key the caller cannot see is missing, not forbidden, by id too.
    let r = app
        .anon(Method::GET, &format!("/v1/keys/{}", fraud_only.keyid))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .anon(
            Method::POST,
            &format!("/v1/keys/{}/revoke", fraud_only.keyid),
        )
        .bearer_auth(&reader)
        .json(&json!({"reason": "compromised"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn every_file_of_a_version_can_be_written_to_disk_on_any_os(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    for path in ["Model.bin", "weights/Shard-1.bin"] {
        let r = app
            .put_file(&ns, &model, v, path, b"w".to_vec(), None)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    }
    let stored = app.stored_objects().await.len();
    // Another spelling of a file or of a directory on a case-insensitive disk.
    for path in [
        "model.bin",
        "MODEL.BIN",
        "Weights/shard-2.bin",
        "weights/shard-1.BIN",
    ] {
        let r = app
            .put_file(&ns, &model, v, path, b"x".to_vec(), None)
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{path}");
        assert_eq!(error_code(r).await, "conflict");
    }
    // Names Windows cannot hold.
    for path in [
        "CON",
        "nul.txt",
        "weights/com1.bin",
        "Lpt9",
        "aux/x.bin",
        "a.",
        "dir./x.bin",
    ] {
        let r = app
            .put_file(&ns, &model, v, path, b"x".to_vec(), None)
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(error_code(r).await, "invalid_request");
    }
    assert_eq!(
        app.stored_objects().await.len(),
        stored,
        "a refused upload left bytes behind"
    );
    let view: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    let paths: Vec<&str> = view["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["Model.bin", "weights/Shard-1.bin"]);
    // Replacing a file under its own spelling is still allowed.
    let r = app
        .put_file(&ns, &model, v, "Model.bin", b"w2".to_vec(), None)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn a_token_minted_with_a_token_cannot_outlive_it(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    let t1 = app.member_token("alice", "fraud", "reader").await;
    let mint = |with: String, days: u32| {
        let app = &app;
        async move {
            let r = app
                .anon(Method::POST, "/v1/tokens")
                .bearer_auth(with)
                .json(&json!({"principal": "alice", "expires_in_days": days}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()
        }
    };
    let tokens = || async {
        let v: Value = app
            .req(Method::GET, "/v1/tokens?principal=alice")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["items"].as_array().unwrap().clone()
    };
    let first = tokens().await[0].clone();
    let t2 = mint(t1.clone(), 365).await;
    assert!(
        t2["expires_at"].as_str().unwrap() <= first["expires_at"].as_str().unwrap(),
        "a child token outlives its parent: {t2} vs {first}"
    );
    let t3 = mint(t2["token"].as_str().unwrap().to_owned(), 30).await;
    // An admin's token for alice stands on its own.
    let own = app.mint("alice").await;
    for t in [
        &t1,
        t2["token"].as_str().unwrap(),
        t3["token"].as_str().unwrap(),
        &own,
    ] {
        assert_eq!(app.status_as("/v1/whoami", t).await, StatusCode::OK);
    }

    let r = app
        .req(
            Method::DELETE,
            &format!("/v1/tokens/{}", first["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for t in [
        &t1,
        t2["token"].as_str().unwrap(),
        t3["token"].as_str().unwrap(),
    ] {
        assert_eq!(
            app.status_as("/v1/whoami", t).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.status_as("/v1/whoami", &own).await,
        StatusCode::OK,
        "an independent token fell too"
    );

    let listed = tokens().await;
    let by_id = |id: &Value| listed.iter().find(|t| &t["id"] == id).unwrap().clone();
    assert_eq!(by_id(&t2["id"])["parent_id"], first["id"]);
    assert_eq!(by_id(&t3["id"])["parent_id"], t2["id"]);
    for child in [&t2, &t3] {
        assert_eq!(by_id(&child["id"])["revoked_with"], first["id"]);
    }
    assert_eq!(by_id(&first["id"])["revoked_with"], Value::Null);
    let log: Value = app
        .req(Method::GET, "/v1/audit?action=DELETE%20/v1/tokens/%7Bid%7D")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let detail: Value = serde_json::from_str(log["items"][0]["detail"].as_str().unwrap()).unwrap();
    let mut cascaded: Vec<&str> = detail["revoked_with_it"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    cascaded.sort();
    let mut expected = [t2["id"].as_str().unwrap(), t3["id"].as_str().unwrap()];
    expected.sort();
    assert_eq!(cascaded, expected);
}

/// Every way a statement could say more than Signet reads: a key twice (where a
/// parser keeping the first would see another version), fields nobody checks,
/// another serialization.
async fn signed_material_with_keys_twice_or_fields_unread_is_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    app.create_model("fraud", "scorer").await;
    let signer = Signer::generate();
    signer.register(&app, "ci", &["fraud"]).await;
    let (v, st) = app
        .sealed_version("fraud", "scorer", full_lineage(), &[("m.bin", b"w")])
        .await;
    let text = serde_json::to_string(&st).unwrap();
    let version = format!("\"version\":{v}");
    assert!(text.contains(&version));
    let edited = |f: &dyn Fn(&mut Value)| {
        let mut s = st.clone();
        f(&mut s);
        serde_json::to_vec(&s).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "version twice",
            text.replacen(&version, &format!("\"version\":{},{version}", v + 1), 1)
                .into_bytes(),
        ),
        (
            "subject twice",
            text.replacen("\"subject\":", "\"subject\":[],\"subject\":", 1)
                .into_bytes(),
        ),
        (
            "an extra top-level field",
            edited(&|s| s["note"] = json!("x")),
        ),
        (
            "an extra predicate field",
            edited(&|s| s["predicate"]["extra"] = json!(1)),
        ),
        (
            "an extra signet field",
            edited(&|s| s["predicate"]["signet"]["approved"] = json!(true)),
        ),
        (
            "an extra resource field",
            edited(&|s| s["predicate"]["resources"][0]["mode"] = json!("0755")),
        ),
        (
            "an extra subject field",
            edited(&|s| s["subject"][0]["uri"] = json!("https://x")),
        ),
        (
            "symlinks allowed",
            edited(&|s| s["predicate"]["serialization"]["allow_symlinks"] = json!(true)),
        ),
        (
            "paths ignored",
            edited(&|s| s["predicate"]["serialization"]["ignore_paths"] = json!(["m.bin"])),
        ),
        (
            "another hash",
            edited(&|s| s["predicate"]["serialization"]["hash_type"] = json!("blake3")),
        ),
        (
            "a serialization field more",
            edited(&|s| s["predicate"]["serialization"]["shard_size"] = json!(1)),
        ),
    ];
    for (case, payload) in cases {
        let r = app
            .sign("fraud", "scorer", v, &signer.envelope_over(&payload))
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{case}");
        assert_eq!(error_code(r).await, "statement_mismatch", "{case}");
    }

    // An envelope naming a field twice is malformed, whatever it carries.
    let good = signer.envelope(&st);
    let doubled = format!(
        "{{\"payload\":\"e30=\",\"payload\":{},\"payloadType\":{},\"signatures\":{}}}",
        good["payload"], good["payloadType"], good["signatures"]
    );
    let r = app
        .req(
            Method::POST,
            "/v1/models/fraud/scorer/versions/1/signatures",
        )
        .header("Content-Type", "application/json")
        .body(doubled)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "signature_invalid");
    // The statement as served still signs.
    let r = app.sign("fraud", "scorer", v, &good).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Promotions race revocations of the key that signed the version. Whichever
/// wins, the record is consistent: a move that happened precedes the revocation
/// (and the revocation reports the alias it left on an unverified version); a
/// move that did not happen was refused for the revoked key.
async fn no_alias_moves_onto_a_version_whose_trust_was_just_revoked(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    app.create_model("fraud", "scorer").await;
    let (mut moved, mut refused) = (0, 0);
    for round in 0..12 {
        let signer = Signer::generate();
        signer
            .register(&app, &format!("ci-{round}"), &["fraud"])
            .await;
        let (v, st) = app
            .sealed_version(
                "fraud",
                "scorer",
                full_lineage(),
                &[("m.bin", &[round as u8])],
            )
            .await;
        assert_eq!(
            app.sign("fraud", "scorer", v, &signer.envelope(&st))
                .await
                .status(),
            StatusCode::CREATED
        );
        let revoke = app
            .req(Method::POST, &format!("/v1/keys/{}/revoke", signer.keyid))
            .json(&json!({"reason": "compromised"}))
            .send();
        let (promoted, revoked) =
            tokio::join!(app.promote("fraud", "scorer", "production", v), revoke);
        let revoked: Value = revoked.unwrap().json().await.unwrap();
        let revoked_at = revoked["key"]["revoked_at"].as_str().unwrap().to_owned();
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
        let last = &history["items"][0];
        let lost = &revoked["versions_lost_verification"];
        if promoted.status() == StatusCode::OK {
            moved += 1;
            assert_eq!(last["version"], v);
            let at = last["at"].as_str().unwrap();
            let (at, rev) = (
                chrono::DateTime::parse_from_rfc3339(at).unwrap(),
                chrono::DateTime::parse_from_rfc3339(&revoked_at).unwrap(),
            );
            assert!(
                at <= rev,
                "round {round}: moved at {at}, after the revocation at {rev}"
            );
            assert_eq!(lost[0]["version"], v, "round {round}: {revoked}");
            assert_eq!(lost[0]["aliases"], json!(["production"]), "round {round}");
        } else {
            refused += 1;
            assert_eq!(promoted.status(), StatusCode::CONFLICT);
            let body: Value = promoted.json().await.unwrap();
            assert_eq!(
                body["error"]["reasons"],
                json!(["key_revoked"]),
                "round {round}"
            );
            assert_ne!(last["version"], v, "round {round}: refused, yet moved");
        }
    }
    assert_eq!(moved + refused, 12);
}

const MIB: usize = 1 << 20;

/// Overwrites the one stored object of `app` with `bytes` (sabotage).
async fn overwrite_stored(app: &TestApp, index: usize, bytes: Vec<u8>) {
    use object_store::ObjectStoreExt;
    let objects = app.stored_objects().await;
    app.raw
        .put(&objects[index], object_store::PutPayload::from(bytes))
        .await
        .unwrap();
}

async fn range(
    app: &TestApp,
    ns: &str,
    model: &str,
    v: i64,
    path: &str,
    spec: &str,
) -> reqwest::Response {
    app.req(
        Method::GET,
        &format!("/v1/models/{ns}/{model}/versions/{v}/files/{path}"),
    )
    .header("Range", spec)
    .send()
    .await
    .unwrap()
}

async fn a_range_never_serves_bytes_that_do_not_match_their_block(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let bytes = bytes_of(9 * MIB + 100, 9);
    let r = app
        .put_file(&ns, &model, v, "m.bin", bytes.clone(), None)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut tampered = bytes.clone();
    tampered[5 * MIB] ^= 0x01; // inside the second 4 MiB block
    overwrite_stored(&app, 0, tampered).await;

    // Every range touching the altered block ends in an error, whatever its form.
    for spec in [
        "bytes=0-".to_owned(),
        format!("bytes={}-{}", 4 * MIB, 4 * MIB + 10),
        format!("bytes={}-{}", 5 * MIB, 5 * MIB),
        format!("bytes={}-", 3 * MIB),
        format!("bytes=-{}", 5 * MIB),
        format!("bytes=0-{}", 9 * MIB),
    ] {
        // When the altered block comes first the answer is an error of its
        // own, before any byte; otherwise the answer is cut off.
        let answer = app
            .req(
                Method::GET,
                &format!("/v1/models/{ns}/{model}/versions/{v}/files/m.bin"),
            )
            .header("Range", &spec)
            .send()
            .await
            .unwrap();
        if answer.status() == StatusCode::INTERNAL_SERVER_ERROR {
            let err: Value = answer.json().await.unwrap();
            assert_eq!(err["error"]["code"], "integrity_failure", "{spec}");
            continue;
        }
        assert_eq!(answer.status(), StatusCode::PARTIAL_CONTENT, "{spec}");
        assert!(
            answer.bytes().await.is_err(),
            "{spec}: a tampered range was served in full"
        );
    }
    let failures = || async {
        app.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix("signet_integrity_failures_total "))
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let before = failures().await;
    let first_block_altered = format!("bytes={}-{}", 4 * MIB, 4 * MIB + 10);
    let r = range(&app, &ns, &model, v, "m.bin", &first_block_altered).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_code(r).await, "integrity_failure");
    assert!(failures().await > before, "counted");
    // Ranges within blocks that still match are served, exactly.
    for (spec, want) in [
        ("bytes=0-99".to_owned(), &bytes[..100]),
        (
            format!("bytes={}-{}", 8 * MIB, 8 * MIB + 99),
            &bytes[8 * MIB..8 * MIB + 100],
        ),
        ("bytes=-10".to_owned(), &bytes[bytes.len() - 10..]),
    ] {
        let r = range(&app, &ns, &model, v, "m.bin", &spec).await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{spec}");
        assert_eq!(r.bytes().await.unwrap(), want, "{spec}");
    }
}

async fn a_file_stored_before_blocks_were_recorded_gets_them_once_checked(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let good = bytes_of(5 * MIB, 1);
    let bad = bytes_of(5 * MIB, 2);
    app.put_file(&ns, &model, v, "good.bin", good.clone(), None)
        .await;
    app.put_file(&ns, &model, v, "bad.bin", bad.clone(), None)
        .await;
    // As an older Signet stored them: nothing recorded of their blocks.
    app.sql("UPDATE files SET block_digests = NULL, sha256_chain = NULL")
        .await;
    let objects = app.stored_objects().await;
    let version = app
        .store
        .get_version(
            &signet::names::ModelRef::parse(&format!("{ns}/{model}")).unwrap(),
            signet::names::VersionNumber::new(v).unwrap(),
        )
        .await
        .unwrap();
    let files = app.store.files_of(version.id).await.unwrap();
    let bad_blob = files
        .iter()
        .find(|f| f.path.as_str() == "bad.bin")
        .unwrap()
        .blob_id;
    let bad_index = objects
        .iter()
        .position(|o| o.as_ref().contains(&bad_blob.simple().to_string()))
        .unwrap();
    let mut tampered = bad.clone();
    tampered[10] ^= 0x01;
    overwrite_stored(&app, bad_index, tampered).await;

    // The altered legacy file: the whole-file check fails before any byte.
    let r = range(&app, &ns, &model, v, "bad.bin", "bytes=4194304-4194310").await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_code(r).await, "integrity_failure");
    // The intact one: served, and its blocks recorded for next time.
    let r = range(&app, &ns, &model, v, "good.bin", "bytes=4194304-4194310").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap(), &good[4 * MIB..4 * MIB + 7]);
    let files = app.store.files_of(version.id).await.unwrap();
    let recorded = |p: &str| {
        files
            .iter()
            .find(|f| f.path.as_str() == p)
            .unwrap()
            .sha256_chain
            .clone()
    };
    // Two blocks: the chaining value at the boundary between them.
    assert_eq!(recorded("good.bin").map(|d| d.len()), Some(32));
    assert_eq!(recorded("bad.bin"), None);
}

/// `os.system('id')` as a protocol 4 pickle without its PROTO header.
const HEADLESS_PICKLE: &[u8] =
    b"\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.";
/// The same as protocol 0 text.
const TEXT_PICKLE: &[u8] = b"cos\nsystem\n(S'id'\ntR.";

fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

async fn code_executing_files_are_found_whatever_their_disguise(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    app.create_model("fraud", "scorer").await;
    let signer = Signer::generate();
    signer.register(&app, "ci", &["fraud"]).await;
    let mut polyglot = crate::helpers::safetensors_bytes();
    polyglot.extend_from_slice(&zip_with(&[("data.pkl", HEADLESS_PICKLE)]));
    let mut torch_like = zip_with(&[
        ("archive/data.pkl", TEXT_PICKLE),
        ("archive/data/0", &vec![0u8; 3 << 20]),
    ]);
    torch_like.extend(vec![0u8; 100_000]); // and junk after the archive
    let disguises: Vec<(&str, Vec<u8>)> = vec![
        ("protocol-0.bin", TEXT_PICKLE.to_vec()),
        ("headless.bin", HEADLESS_PICKLE.to_vec()),
        ("model.pt", torch_like),
        ("model.joblib", gzipped(HEADLESS_PICKLE)),
        ("weights.bin", polyglot),
        (
            "nested.zip",
            zip_with(&[("inner.zip", &zip_with(&[("x", TEXT_PICKLE)]))]),
        ),
    ];
    for (path, bytes) in disguises {
        let (v, st) = app
            .sealed_version("fraud", "scorer", full_lineage(), &[(path, &bytes)])
            .await;
        let view: Value = app
            .get_version("fraud", "scorer", v)
            .await
            .json()
            .await
            .unwrap();
        let file = &view["files"][0];
        assert_eq!(file["format"], "pickle", "{path}: {file}");
        assert!(
            !file["format_reason"].as_str().unwrap().is_empty(),
            "{path}"
        );
        assert_eq!(view["unsafe_formats"], true, "{path}");
        app.sign("fraud", "scorer", v, &signer.envelope(&st)).await;
        let r = app.promote("fraud", "scorer", "staging", v).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["reasons"], json!(["unsafe_format"]), "{path}");
    }
}

async fn a_namespace_may_refuse_files_of_no_known_format(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    app.create_model("fraud", "scorer").await;
    let signer = Signer::generate();
    signer.register(&app, "ci", &["fraud"]).await;
    let (v, st) = app
        .sealed_version(
            "fraud",
            "scorer",
            full_lineage(),
            &[
                ("m.safetensors", &crate::helpers::safetensors_bytes()),
                ("notes.bin", b"hello world"),
            ],
        )
        .await;
    app.sign("fraud", "scorer", v, &signer.envelope(&st)).await;
    let policy = |unknown: &str| {
        app.req(Method::PUT, "/v1/namespaces/fraud/policy")
            .json(&json!({"unknown_formats": unknown}))
            .send()
    };
    assert_eq!(policy("deny").await.unwrap().status(), StatusCode::OK);
    let r = app.promote("fraud", "scorer", "staging", v).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["reasons"], json!(["unknown_format"]));
    assert_eq!(policy("allow").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        app.promote("fraud", "scorer", "staging", v).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        policy("sometimes").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    // A model's JSON configuration is a known, safe format: `deny` is usable
    // for a model that ships a config.json and a tokenizer.json.
    let (v2, st2) = app
        .sealed_version(
            "fraud",
            "scorer",
            full_lineage(),
            &[
                ("m.safetensors", &crate::helpers::safetensors_bytes()),
                ("config.json", br#"{"architectures": ["BertModel"]}"#),
                ("tokenizer.json", b"{\"model\": {\"vocab\": {\"a\": 0}}}\n"),
            ],
        )
        .await;
    app.sign("fraud", "scorer", v2, &signer.envelope(&st2))
        .await;
    let shown: Value = app
        .get_version("fraud", "scorer", v2)
        .await
        .json()
        .await
        .unwrap();
    let formats: Vec<&str> = shown["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["json", "safetensors", "json"]);
    assert_eq!(policy("deny").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        app.promote("fraud", "scorer", "staging", v2).await.status(),
        StatusCode::OK
    );
}
