//! ECDSA keys, and interoperability with OpenSSF Model Signing: a directory
//! pulled from Signet verifies with `model_signing verify key` against the
//! bundle Signet serves, and stops verifying when one byte changes.

use std::path::Path;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, TestApp, error_code};

crate::on_both_backends!(
    ecdsa_p256_and_p384_keys_sign_versions,
    keys_and_signatures_of_unsupported_algorithms_are_named_as_such,
    model_signing_verifies_a_directory_pulled_from_signet,
    a_model_signing_bundle_is_a_content_only_signature,
    content_only_statements_are_checked_like_any_other,
);

/// The `model_signing` command, installed by `scripts/test.sh`; `None` only
/// when the run opted out of external servers and tools
/// (`SIGNET_TEST_BACKENDS=sqlite`).
pub(crate) fn model_signing() -> Option<String> {
    match std::env::var("SIGNET_TEST_MODEL_SIGNING") {
        Ok(path) => Some(path),
        Err(_) if crate::helpers::postgres_opted_out() => None,
        Err(_) => crate::helpers::not_configured("SIGNET_TEST_MODEL_SIGNING"),
    }
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

async fn ecdsa_p256_and_p384_keys_sign_versions(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let (v, statement) = app
        .sealed_version(&ns, &model, json!({}), &[("model.bin", b"weights")])
        .await;
    for (signer, algorithm) in [
        (Signer::generate_p256(), "ecdsa-p256"),
        (Signer::generate_p384(), "ecdsa-p384"),
    ] {
        let r = signer.register(&app, algorithm, &[&ns]).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let key: Value = r.json().await.unwrap();
        assert_eq!(key["algorithm"], algorithm);
        // The keyid is OMS's key hint: SHA-256 of the canonical SPKI PEM.
        assert_eq!(key["keyid"], signer.keyid);
        // A signature by another key of the same curve does not count.
        let stranger = match algorithm {
            "ecdsa-p256" => Signer::generate_p256(),
            _ => Signer::generate_p384(),
        };
        let forged = stranger.hinting(&signer.keyid).envelope(&statement);
        let r = app.sign(&ns, &model, v, &forged).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_code(r).await, "signature_invalid");
        let r = app.sign(&ns, &model, v, &signer.envelope(&statement)).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{algorithm}");
        let ok: Value = r.json().await.unwrap();
        assert_eq!(ok["status"], "verified");
    }
    let view: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    let statuses: Vec<&Value> = view["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["status"])
        .collect();
    assert_eq!(statuses, [&json!("verified"), &json!("verified")], "{view}");
    assert_eq!(view["verified"], true);
}

async fn keys_and_signatures_of_unsupported_algorithms_are_named_as_such(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let (v, statement) = app
        .sealed_version(&ns, &model, json!({}), &[("model.bin", b"weights")])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("p521.key");
    let key = key.to_str().unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-521",
        "-out",
        key,
    ]);
    let public = String::from_utf8(openssl(&["pkey", "-in", key, "-pubout"])).unwrap();
    let r = app
        .req(Method::POST, "/v1/keys")
        .json(&json!({"name": "p521", "public_key": public, "namespaces": [ns]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "unsupported_algorithm");
    // A P-521 signature: no registered key could have made it, and the answer
    // says why rather than `untrusted_key`.
    let payload = serde_json::to_vec(&statement).unwrap();
    let ty = "application/vnd.in-toto+json";
    let mut pae = format!("DSSEv1 {} {} {} ", ty.len(), ty, payload.len()).into_bytes();
    pae.extend_from_slice(&payload);
    let msg = dir.path().join("pae");
    std::fs::write(&msg, &pae).unwrap();
    let sig = openssl(&["dgst", "-sha512", "-sign", key, msg.to_str().unwrap()]);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let env = json!({"payload": b64.encode(&payload), "payloadType": ty,
        "signatures": [{"keyid": "p521", "sig": b64.encode(sig)}]});
    let r = app.sign(&ns, &model, v, &env).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "unsupported_algorithm");
}

/// Writes every file of a version under `dir`, as a deployer pulls it.
async fn pull(app: &TestApp, ns: &str, model: &str, v: i64, dir: &Path) {
    let view: Value = app.get_version(ns, model, v).await.json().await.unwrap();
    for f in view["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let bytes = app
            .get_file(ns, model, v, path)
            .await
            .bytes()
            .await
            .unwrap();
        let to = dir.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
}

pub(crate) fn verify_with_model_signing(
    tool: &str,
    signature: &Path,
    public_key: &Path,
    dir: &Path,
) -> (bool, String) {
    let out = Command::new(tool)
        .args(["verify", "key", "--signature"])
        .arg(signature)
        .arg("--public_key")
        .arg(public_key)
        .arg(dir)
        .output()
        .expect("model_signing runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn model_signing_verifies_a_directory_pulled_from_signet(b: Backend) {
    let Some(tool) = model_signing() else {
        return;
    };
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let files: &[(&str, &[u8])] = &[
        ("model.safetensors", &crate::helpers::safetensors_bytes()),
        ("config/tokenizer.json", b"{\"vocab\": 3}"),
        ("config/a.txt", b"notes"),
    ];
    let (v, statement) = app.sealed_version(&ns, &model, json!({}), files).await;
    let signer = Signer::generate_p256();
    assert_eq!(
        signer.register(&app, "ci", &[&ns]).await.status(),
        StatusCode::CREATED
    );
    // Another key signs too: the bundle for our key must put ours first.
    let other = Signer::generate_p256();
    assert_eq!(
        other.register(&app, "other", &[&ns]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.sign(&ns, &model, v, &signer.envelope(&statement))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.sign(&ns, &model, v, &other.envelope(&statement))
            .await
            .status(),
        StatusCode::CREATED
    );

    let r = app
        .req(
            Method::GET,
            &format!(
                "/v1/models/{ns}/{model}/versions/{v}/signatures/{}/bundle",
                signer.keyid
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    let bundle: Value = r.json().await.unwrap();
    assert_eq!(
        bundle["verificationMaterial"]["publicKey"]["hint"],
        signer.keyid
    );

    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join(&model);
    pull(&app, &ns, &model, v, &dir).await;
    let sig = work.path().join("model.sig");
    std::fs::write(&sig, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let public = work.path().join("key.pub");
    std::fs::write(&public, &signer.pem).unwrap();
    let (ok, out) = verify_with_model_signing(&tool, &sig, &public, &dir);
    assert!(ok, "model_signing refused a pulled directory: {out}");

    // The wrong key is refused.
    let stranger = work.path().join("stranger.pub");
    std::fs::write(&stranger, &other.pem).unwrap();
    let (ok, out) = verify_with_model_signing(&tool, &sig, &stranger, &dir);
    assert!(!ok, "model_signing accepted another key: {out}");

    // One byte changed in one file: refused.
    let target = dir.join("config/a.txt");
    let mut bytes = std::fs::read(&target).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&target, bytes).unwrap();
    let (ok, out) = verify_with_model_signing(&tool, &sig, &public, &dir);
    assert!(!ok, "model_signing accepted a changed file: {out}");

    // No bundle for a key that did not sign, or in a namespace one cannot see.
    let unsigned = Signer::generate_p256();
    let r = app
        .req(
            Method::GET,
            &format!(
                "/v1/models/{ns}/{model}/versions/{v}/signatures/{}/bundle",
                unsigned.keyid
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.create_namespace("elsewhere").await.status(),
        StatusCode::CREATED
    );
    let outsider = app.member_token("mallory", "elsewhere", "reader").await;
    let r = app
        .anon(
            Method::GET,
            &format!(
                "/v1/models/{ns}/{model}/versions/{v}/signatures/{}/bundle",
                signer.keyid
            ),
        )
        .bearer_auth(outsider)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Signs `dir` with `model_signing sign key` and returns the bundle.
fn sign_with_model_signing(tool: &str, private_key: &Path, dir: &Path, out: &Path) -> Value {
    let run = Command::new(tool)
        .args(["sign", "key", "--private_key"])
        .arg(private_key)
        .arg("--signature")
        .arg(out)
        .arg(dir)
        .output()
        .expect("model_signing runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

/// A P-256 key pair as model_signing takes it: (private key file, public PEM).
fn ec_key(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(format!("{name}.pem"));
    let k = key.to_str().unwrap();
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        k,
    ]);
    let public = String::from_utf8(openssl(&["pkey", "-in", k, "-pubout"])).unwrap();
    (key, public)
}

async fn a_model_signing_bundle_is_a_content_only_signature(b: Backend) {
    let Some(tool) = model_signing() else {
        return;
    };
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let files: &[(&str, &[u8])] = &[("a.txt", b"hello"), ("config/c.json", b"{\"x\": 1}")];
    let (v1, _) = app
        .sealed_version(&ns, &model, crate::helpers::full_lineage(), files)
        .await;
    // Another version with the same files and other lineage.
    let (v2, _) = app.sealed_version(&ns, &model, json!({}), files).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("m");
    for (path, bytes) in files {
        std::fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
        std::fs::write(dir.join(path), bytes).unwrap();
    }
    let (key, public) = ec_key(work.path(), "ci");
    let r = app
        .req(Method::POST, "/v1/keys")
        .json(&json!({"name": "oms", "public_key": public, "namespaces": [ns]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let keyid = r.json::<Value>().await.unwrap()["keyid"]
        .as_str()
        .unwrap()
        .to_owned();
    let bundle = sign_with_model_signing(&tool, &key, &dir, &work.path().join("model.sig"));
    assert_eq!(
        bundle["verificationMaterial"]["publicKey"]["hint"],
        keyid.as_str()
    );

    // Accepted, and shown, as content-only.
    let r = app.sign(&ns, &model, v1, &bundle).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ok: Value = r.json().await.unwrap();
    assert_eq!(ok["content_only"], true);
    let view: Value = app.get_version(&ns, &model, v1).await.json().await.unwrap();
    assert_eq!(view["signatures"][0]["content_only"], true);
    assert_eq!(view["signatures"][0]["status"], "verified");
    // It does not make the version pullable by deployers, nor promotable where
    // the policy does not accept content-only signatures (the default).
    assert_eq!(view["verified"], false);
    let r = app.promote(&ns, &model, "staging", v1).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let refused: Value = r.json().await.unwrap();
    assert_eq!(refused["error"]["reasons"], json!(["content_only"]));

    // Replayed onto another version with the same files: it binds only the
    // bytes, so it verifies there too, and counts no more than on the first.
    let r = app.sign(&ns, &model, v2, &bundle).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app.promote(&ns, &model, "staging", v2).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Where the policy accepts it, it counts for that alias only.
    let r = app
        .req(Method::PUT, &format!("/v1/namespaces/{ns}/policy"))
        .json(&json!({"content_only_aliases": ["staging"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.promote(&ns, &model, "staging", v1).await.status(),
        StatusCode::OK
    );
    let r = app.promote(&ns, &model, "production", v1).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // A bundle over other bytes, by an unregistered key, without its media
    // type, or naming another key, is refused with the reason.
    std::fs::write(dir.join("a.txt"), b"hellO").unwrap();
    let tampered = sign_with_model_signing(&tool, &key, &dir, &work.path().join("t.sig"));
    std::fs::write(dir.join("a.txt"), b"hello").unwrap();
    let (stranger_key, _) = ec_key(work.path(), "stranger");
    let stranger = sign_with_model_signing(&tool, &stranger_key, &dir, &work.path().join("s.sig"));
    let mut untyped = bundle.clone();
    untyped.as_object_mut().unwrap().remove("mediaType");
    let mut misnamed = bundle.clone();
    let other = Signer::generate_p256();
    assert_eq!(
        other.register(&app, "other", &[&ns]).await.status(),
        StatusCode::CREATED
    );
    misnamed["verificationMaterial"]["publicKey"]["hint"] = json!(other.keyid);
    for (doc, code) in [
        (tampered, "statement_mismatch"),
        (stranger, "untrusted_key"),
        (untyped, "unsupported_bundle"),
        (misnamed, "key_hint_mismatch"),
    ] {
        let (v3, _) = app.sealed_version(&ns, &model, json!({}), files).await;
        let r = app.sign(&ns, &model, v3, &doc).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        assert_eq!(error_code(r).await, code);
    }
}

/// Content-only statements signed here (no model_signing needed): other
/// serializations are named as such, a single file may go by its base name, and
/// the subject must be the resources' root.
async fn content_only_statements_are_checked_like_any_other(b: Backend) {
    use sha2::Digest;
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let bytes = b"weights".as_slice();
    let (v, _) = app
        .sealed_version(&ns, &model, json!({}), &[("weights/model.bin", bytes)])
        .await;
    let signer = Signer::generate_p256();
    assert_eq!(
        signer.register(&app, "ci", &[&ns]).await.status(),
        StatusCode::CREATED
    );
    let digest = crate::helpers::sha256_hex(bytes);
    let root = hex::encode(sha2::Sha256::digest(hex::decode(&digest).unwrap()));
    let statement = |name: &str, method: &str, hash: &str, subject: &str| {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "model.bin", "digest": {"sha256": subject}}],
            "predicateType": "https://model_signing/signature/v1.0",
            "predicate": {
                "serialization": {"method": method, "hash_type": hash, "allow_symlinks": false, "ignore_paths": []},
                "resources": [{"algorithm": "sha256", "name": name, "digest": digest}],
            },
        })
    };
    for (st, expect) in [
        (
            statement("model.bin", "files", "blake3", &root),
            Err("unsupported_serialization"),
        ),
        (
            statement("model.bin", "shards", "sha256", &root),
            Err("unsupported_serialization"),
        ),
        (
            statement("model.bin", "files", "sha256", &"00".repeat(32)),
            Err("statement_mismatch"),
        ),
        (
            statement("other.bin", "files", "sha256", &root),
            Err("statement_mismatch"),
        ),
        (statement("model.bin", "files", "sha256", &root), Ok(())),
    ] {
        let r = app.sign(&ns, &model, v, &signer.envelope(&st)).await;
        match expect {
            Ok(()) => {
                assert_eq!(r.status(), StatusCode::CREATED);
                assert_eq!(r.json::<Value>().await.unwrap()["content_only"], true);
            }
            Err(code) => {
                assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{code}");
                assert_eq!(error_code(r).await, code);
            }
        }
    }
}
