//! `signet attest`, `signet attestations`, and what `signet pull
//! --require-attestation` checks: attestations are in-toto statements about a
//! version's files, signed here and checked here against pinned keys.

use std::path::Path;

use reqwest::Method;

use super::commands::signed_in;
use super::local::read_private_key;
use super::outcome::{Done, to_json};
use super::{Failure, Target};
use crate::api::{
    AttestationAccepted, AttestationList, RegistryKeyView, StoredAttestation, VersionView, paths,
};
use crate::names::FilePath;
use crate::signing::attestation::valid_predicate_type;
use crate::signing::statement::STATEMENT_TYPE;

/// The in-toto statement of `predicate_type` about a version's files, each
/// named by its path and SHA-256, in statement order.
fn statement(v: &VersionView, predicate_type: &str, predicate: serde_json::Value) -> Vec<u8> {
    let mut files: Vec<_> = v.files.iter().collect();
    files.sort_by(
        |a, b| match (FilePath::parse(&a.path), FilePath::parse(&b.path)) {
            (Ok(a), Ok(b)) => a.cmp_components(&b),
            _ => a.path.cmp(&b.path),
        },
    );
    let subject: Vec<serde_json::Value> = files
        .iter()
        .map(|f| serde_json::json!({"name": f.path, "digest": {"sha256": f.sha256}}))
        .collect();
    let st = serde_json::json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    serde_json::to_vec(&st).expect("serializes")
}

/// `signet attest NS/MODEL@V --predicate-type T --predicate FILE --key KEY`.
pub async fn attest(
    target: &str,
    predicate_type: &str,
    predicate: &Path,
    key: &Path,
) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let version = target.version()?;
    if !valid_predicate_type(predicate_type) {
        return Err(Failure::usage(format!(
            "--predicate-type {predicate_type:?}: a URI of at most 256 characters \
             (https://signet.dev/attestations/evaluation/v1)"
        )));
    }
    let text = std::fs::read(predicate)
        .map_err(|e| Failure::usage(format!("--predicate {}: {e}", predicate.display())))?;
    let body: serde_json::Value = serde_json::from_slice(&text)
        .ok()
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| {
            Failure::usage(format!(
                "--predicate {}: not a JSON object",
                predicate.display()
            ))
        })?;
    let key = read_private_key(key)?;
    let client = signed_in()?;
    let model = target.model_ref();
    let v: VersionView = client.get(&paths::version(&model, version)).await?;
    let envelope = key.envelope(&statement(&v, predicate_type, body));
    let accepted: AttestationAccepted = client
        .exchange(
            Method::POST,
            &paths::attestations(&model, version),
            Some(&envelope),
        )
        .await?;
    Ok(Done {
        human: format!(
            "attested {model}@{version}: {} {} signed with key {}",
            accepted.predicate_type,
            accepted.id,
            key.keyid(),
        ),
        json: to_json(&accepted),
    })
}

/// `signet attestations NS/MODEL@V [--predicate-type T]`.
pub async fn list(target: &str, predicate_type: Option<&str>) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let version = target.version()?;
    let model = target.model_ref();
    let mut path = paths::attestations(&model, version);
    if let Some(t) = predicate_type {
        path.push_str(&format!("?predicate_type={}", super::listing::encode(t)));
    }
    let list: AttestationList = signed_in()?.get(&path).await?;
    let human = match list.items.is_empty() {
        true => format!("{model}@{version} has no attestations"),
        false => list
            .items
            .iter()
            .map(|a| {
                format!(
                    "{}  {}  key {}  {} by {}",
                    a.id,
                    a.predicate_type,
                    a.keyid.get(..12).unwrap_or(&a.keyid),
                    a.received_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    a.received_by
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    };
    Ok(Done {
        human,
        json: to_json(&list),
    })
}

/// `signet attestations NS/MODEL@V --id ID [--bundle]`.
pub async fn show(target: &str, id: uuid::Uuid, bundle: bool) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let version = target.version()?;
    let model = target.model_ref();
    let client = signed_in()?;
    let path = paths::attestation(&model, version, id);
    if bundle {
        let b: serde_json::Value = client.get(&format!("{path}/bundle")).await?;
        return Ok(Done {
            human: serde_json::to_string_pretty(&b).unwrap_or_default(),
            json: b,
        });
    }
    let a: StoredAttestation = client.get(&path).await?;
    let statement = crate::signing::dsse::parse(a.envelope.get().as_bytes())
        .ok()
        .and_then(|e| serde_json::from_slice::<serde_json::Value>(&e.payload).ok())
        .unwrap_or_default();
    Ok(Done {
        human: format!(
            "{}  {}  key {}  {} by {}\n{}",
            a.id,
            a.predicate_type,
            a.keyid,
            a.received_at.format("%Y-%m-%dT%H:%M:%SZ"),
            a.received_by,
            serde_json::to_string_pretty(&statement).unwrap_or_default()
        ),
        json: serde_json::json!({"attestation": a, "statement": statement}),
    })
}

/// `signet registry-key`.
pub async fn registry_key() -> Result<Done, Failure> {
    let k: RegistryKeyView = signed_in()?.get(paths::REGISTRY_KEY).await?;
    Ok(Done {
        human: k.public_key.trim_end().to_owned(),
        json: to_json(&k),
    })
}

/// A document the registry issues about a version.
pub enum Document {
    Bom,
    Provenance,
}

/// `signet bom|provenance NS/MODEL@V [--out FILE]`.
pub async fn document(target: &str, which: Document, out: Option<&Path>) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let version = target.version()?;
    let model = target.model_ref();
    let (path, what) = match which {
        Document::Bom => (paths::bom(&model, version), "CycloneDX ML-BOM"),
        Document::Provenance => (paths::provenance(&model, version), "SLSA provenance"),
    };
    let doc: serde_json::Value = signed_in()?.get(&path).await?;
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let human = match out {
        Some(file) => {
            std::fs::write(file, format!("{text}\n")).map_err(|e| {
                Failure::new(super::Exit::Failure, format!("{}: {e}", file.display()))
            })?;
            format!("the {what} of {model}@{version} is in {}", file.display())
        }
        None => text,
    };
    Ok(Done { human, json: doc })
}
