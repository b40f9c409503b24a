//! Statement verifications per second on one core: a 16-file version's DSSE
//! envelope checked end to end by `signing::verify::verify` (envelope parse, PAE,
//! Ed25519 strict verification, statement parse and comparison).
//!
//! cargo bench --bench verify

use std::time::Instant;

use base64::Engine;
use chrono::Utc;
use ed25519_dalek::Signer as _;
use signet::names::{FilePath, ModelRef, Sha256, VersionNumber};
use signet::signing::keys::TrustedKey;
use signet::signing::statement::{self, Resource};
use signet::signing::verify::{Expected, verify};

fn main() {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
    let key = TrustedKey {
        keyid: signet::names::KeyId::parse(&"ab".repeat(32)).unwrap(),
        material: signet::names::KeyId::parse(&"ab".repeat(32)).unwrap(),
        name: "bench".into(),
        key: signet::signing::keys::VerifierKey::Ed25519(sk.verifying_key()),
        namespaces: vec![signet::kinds::BindingScope::parse("fraud").unwrap()],
        expires_at: None,
        revoked: None,
    };
    let mut resources: Vec<Resource> = (0..16)
        .map(|i| Resource {
            path: FilePath::parse(&format!("weights/shard-{i:02}.safetensors")).unwrap(),
            size: 1 << 30,
            sha256: Sha256::from_bytes([i as u8; 32]),
        })
        .collect();
    statement::sort_resources(&mut resources);
    let model = ModelRef::parse("fraud/scorer").unwrap();
    let lineage = serde_json::json!({"code": {"commit": "ab".repeat(20)}, "data": [{"sha256": "cd".repeat(32)}]});
    let version = VersionNumber::new(7).unwrap();
    let st = statement::build("signet", &model, version, &lineage, &resources);
    let payload = serde_json::to_vec(&st).unwrap();
    let ty = "application/vnd.in-toto+json";
    let pae = signet::signing::dsse::pae(ty, &payload);
    let b64 = base64::engine::general_purpose::STANDARD;
    let doc = serde_json::to_vec(&serde_json::json!({
        "payload": b64.encode(&payload),
        "payloadType": ty,
        "signatures": [{"keyid": "k", "sig": b64.encode(sk.sign(&pae).to_bytes())}]
    }))
    .unwrap();
    let expected = Expected::new("signet", &model, version, &lineage, &resources);
    let keys = [key];
    let now = Utc::now();
    assert!(verify(&doc, &keys, &expected, now, now).is_ok());

    let sig = ed25519_dalek::Signature::from_slice(&sk.sign(&pae).to_bytes()).unwrap();
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        assert!(keys[0].key.verifies(&pae, &sig.to_bytes()));
    }
    let raw = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..n {
        assert!(verify(&doc, &keys, &expected, now, now).is_ok());
    }
    let full = n as f64 / t.elapsed().as_secs_f64();
    println!(
        "statement of 16 files, envelope {} bytes, one thread",
        doc.len()
    );
    println!("ed25519 verify_strict alone: {raw:>9.0} /s");
    println!("full statement verification: {full:>9.0} /s");
}
