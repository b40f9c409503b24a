//! Statement verifications per second on one core, per algorithm: a 16-file
//! version's DSSE envelope checked end to end by `signing::verify::verify`
//! (envelope parse, PAE, signature verification, statement parse and
//! comparison), beside the bare signature check, for Ed25519, ECDSA P-256
//! (SHA-256) and ECDSA P-384 (SHA-384).
//!
//! cargo bench --bench verify

use std::time::Instant;

use base64::Engine;
use chrono::Utc;
use signet::names::{FilePath, KeyId, ModelRef, Sha256, VersionNumber};
use signet::signing::keys::{CheckEveryTime, TrustedKey, VerifierKey};
use signet::signing::statement::{self, Resource};
use signet::signing::verify::{Expected, Times, verify};

/// Signs bytes in the form of its key's algorithm.
type Sign = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A key pair of one algorithm: its verifier and a signing function.
fn key_pair(algorithm: &str) -> (VerifierKey, Sign) {
    use p256::ecdsa::signature::Signer as _;
    let mut seed = [0u8; 48];
    getrandom::fill(&mut seed).unwrap();
    match algorithm {
        "ed25519" => {
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed[..32].try_into().unwrap());
            (
                VerifierKey::Ed25519(sk.verifying_key()),
                Box::new(move |m| sk.sign(m).to_bytes().to_vec()),
            )
        }
        "ecdsa-p256" => {
            let sk = p256::ecdsa::SigningKey::from_slice(&seed[..32]).unwrap();
            (
                VerifierKey::P256(*sk.verifying_key()),
                Box::new(move |m| {
                    let s: p256::ecdsa::Signature = sk.sign(m);
                    s.to_der().as_bytes().to_vec()
                }),
            )
        }
        _ => {
            let sk = p384::ecdsa::SigningKey::from_slice(&seed).unwrap();
            (
                VerifierKey::P384(*sk.verifying_key()),
                Box::new(move |m| {
                    let s: p384::ecdsa::Signature = sk.sign(m);
                    s.to_der().as_bytes().to_vec()
                }),
            )
        }
    }
}

fn main() {
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
    let bound = statement::Bound {
        lineage: &lineage,
        provenance: None,
    };
    let st = statement::build("signet", &model, version, bound, &resources);
    let payload = serde_json::to_vec(&st).unwrap();
    let ty = "application/vnd.in-toto+json";
    let pae = signet::signing::dsse::pae(ty, &payload);
    let b64 = base64::engine::general_purpose::STANDARD;
    let expected = Expected::new("signet", &model, version, &lineage, &resources);
    let now = Utc::now();
    println!("statement of 16 files, one thread");
    for algorithm in ["ed25519", "ecdsa-p256", "ecdsa-p384"] {
        let (vk, sign) = key_pair(algorithm);
        let keys = [TrustedKey {
            keyid: KeyId::parse(&"ab".repeat(32)).unwrap(),
            material: KeyId::parse(&"ab".repeat(32)).unwrap(),
            name: "bench".into(),
            key: vk,
            namespaces: vec![signet::kinds::BindingScope::parse("fraud").unwrap()],
            expires_at: None,
            revoked: None,
        }];
        let sig = sign(&pae);
        let doc = serde_json::to_vec(&serde_json::json!({
            "payload": b64.encode(&payload),
            "payloadType": ty,
            "signatures": [{"keyid": "k", "sig": b64.encode(&sig)}]
        }))
        .unwrap();
        let at = Times {
            received_at: now,
            now,
        };
        assert!(verify(&doc, &keys, &expected, at, &CheckEveryTime).is_ok());
        let n = if algorithm == "ed25519" {
            20_000
        } else {
            5_000
        };
        let t = Instant::now();
        for _ in 0..n {
            assert!(keys[0].key.verifies(&pae, &sig));
        }
        let raw = n as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..n {
            assert!(verify(&doc, &keys, &expected, at, &CheckEveryTime).is_ok());
        }
        let full = n as f64 / t.elapsed().as_secs_f64();
        println!(
            "{algorithm:>10}: signature alone {raw:>8.0} /s, full statement verification {full:>8.0} /s (envelope {} bytes)",
            doc.len()
        );
    }
}
