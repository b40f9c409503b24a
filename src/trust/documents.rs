//! Documents the registry issues about a sealed version: its AI bill of
//! materials (CycloneDX 1.6 ML-BOM) and its SLSA provenance v1, built from
//! what it recorded (files, lineage, the CI identity of a trusted publisher,
//! signatures, attestations).

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::Trust;
use crate::api::paths;
use crate::auth::{Permit, Read};
use crate::error::{Error, Result};
use crate::names::{ModelName, VersionNumber};
use crate::signing::statement::STATEMENT_TYPE;
use crate::signing::verify::lineage_as_data;
use crate::store::{AttestationRecord, FileRecord, SignatureRecord, VersionRecord};

/// The predicate type of the provenance the registry issues.
pub const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v1";

/// The build type of that provenance: a version built as its lineage says.
pub const BUILD_TYPE: &str = "https://signet.dev/buildtypes/lineage/v1";

/// What a version's documents are built from.
struct Recorded<'a> {
    version: &'a VersionRecord,
    files: &'a [FileRecord],
    signatures: &'a [SignatureRecord],
    attestations: &'a [AttestationRecord],
    key_names: &'a dyn Fn(&str) -> String,
}

impl Trust {
    /// A sealed version's CycloneDX 1.6 ML-BOM: the model with its files'
    /// hashes, the datasets of its lineage as data components, its
    /// environment, and its signatures and attestations as external
    /// references.
    pub async fn bom(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<Value> {
        let v = self.registry.version(permit, name, number).await?;
        if !v.is_sealed() {
            return Err(Error::VersionNotSealed);
        }
        let files = self.registry.files_of(&v).await?;
        let signatures = self.keys.signatures_of(v.id).await?;
        let attestations = self.keys.attestations_of(v.id, None).await?;
        let keys = self.keys.all_keys().await?;
        let key_names = |id: &str| {
            keys.iter()
                .find(|k| k.keyid.as_str() == id)
                .map(|k| k.name.clone())
                .unwrap_or_default()
        };
        Ok(bom(&Recorded {
            version: &v,
            files: &files,
            signatures: &signatures,
            attestations: &attestations,
            key_names: &key_names,
        }))
    }

    /// A sealed version's SLSA provenance v1, built from its lineage and, when
    /// a trusted publisher created it, the CI identity of the job: an in-toto
    /// statement about its files in a DSSE envelope signed with the registry's
    /// key.
    pub async fn provenance(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<Value> {
        let signer = self.records.as_ref().ok_or(Error::RecordsUnavailable)?;
        let v = self.registry.version(permit, name, number).await?;
        if !v.is_sealed() {
            return Err(Error::VersionNotSealed);
        }
        let files = self.registry.files_of(&v).await?;
        let statement = provenance(&v, &files, signer.base());
        serde_json::from_str(&signer.envelope(&statement)).map_err(Error::internal)
    }
}

fn sha256(hex: impl std::fmt::Display) -> Value {
    json!([{"alg": "SHA-256", "content": hex.to_string()}])
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// The ML-BOM of a sealed version.
fn bom(r: &Recorded<'_>) -> Value {
    let v = r.version;
    let model = v.model_ref();
    let lineage = lineage_as_data(&v.lineage.0);
    let model_ref = format!("model:{model}@{}", v.version);
    let root = v.root_digest.map(|d| d.to_hex()).unwrap_or_default();

    let files: Vec<Value> = r
        .files
        .iter()
        .map(|f| {
            json!({
                "type": "file", "bom-ref": format!("file:{}", f.path),
                "name": f.path.as_str(), "hashes": sha256(f.sha256.to_hex()),
                "properties": [
                    {"name": "signet:size", "value": f.size.to_string()},
                    {"name": "signet:format", "value": f.format.as_str()},
                ],
            })
        })
        .collect();

    let mut refs = Vec::new();
    if let Some(repo) = text(&lineage["code"]["repo"]) {
        let mut vcs = json!({"type": "vcs", "url": repo});
        if let Some(commit) = text(&lineage["code"]["commit"]) {
            vcs["comment"] = json!(format!("commit {commit}"));
        }
        refs.push(vcs);
    }
    if let Some(url) = text(&lineage["run"]["url"]) {
        refs.push(json!({"type": "build-meta", "url": url, "comment": "the training run"}));
    }
    for s in r.signatures {
        let named = match (r.key_names)(s.keyid.as_str()) {
            n if n.is_empty() => s.keyid.to_string(),
            n => format!("{n} ({})", s.keyid),
        };
        refs.push(json!({
            "type": "digital-signature",
            "url": paths::bundle(&model, v.version, &s.keyid),
            "comment": format!("signature by key {named}, received {}",
                s.received_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        }));
    }
    for a in r.attestations {
        refs.push(json!({
            "type": "attestation",
            "url": paths::attestation(&model, v.version, a.id),
            "comment": format!("{} attestation by key {}", a.predicate_type, a.keyid),
        }));
    }

    let mut properties = vec![json!({"name": "signet:root_digest", "value": root})];
    if let Some(commit) = text(&lineage["code"]["commit"]) {
        properties.push(json!({"name": "signet:code.commit", "value": commit}));
    }
    if let Some(run) = text(&lineage["run"]["id"]) {
        properties.push(json!({"name": "signet:run.id", "value": run}));
    }
    let mut component = json!({
        "type": "machine-learning-model", "bom-ref": model_ref,
        "name": model.to_string(), "version": v.version.to_string(),
        "hashes": sha256(&root),
        "components": files,
        "properties": properties,
    });
    if !refs.is_empty() {
        component["externalReferences"] = json!(refs);
    }

    let mut components = Vec::new();
    for d in lineage["data"].as_array().into_iter().flatten() {
        let Some(digest) = text(&d["sha256"]) else {
            continue;
        };
        let name = text(&d["name"]).unwrap_or(digest);
        let mut c = json!({
            "type": "data", "bom-ref": format!("dataset:{digest}"), "name": name,
            "hashes": sha256(digest),
            "data": [{"type": "dataset", "name": name}],
        });
        if let Some(uri) = text(&d["uri"]) {
            c["externalReferences"] = json!([{"type": "distribution", "url": uri}]);
        }
        components.push(c);
    }
    for p in lineage["parents"].as_array().into_iter().flatten() {
        if let (Some(m), Some(n)) = (text(&p["model"]), p["version"].as_i64()) {
            components.push(json!({
                "type": "machine-learning-model", "bom-ref": format!("model:{m}@{n}"),
                "name": m, "version": n.to_string(),
                "description": "a model this version was built from (fine-tuned, distilled)",
            }));
        }
    }
    let env = &lineage["environment"];
    if let Some(image) = text(&env["image"]) {
        components
            .push(json!({"type": "container", "bom-ref": format!("image:{image}"), "name": image}));
    }
    if let Some(python) = text(&env["python"]) {
        components.push(json!({"type": "platform", "bom-ref": "platform:python", "name": "python", "version": python}));
    }
    if let Some(hw) = text(&env["hardware"]) {
        components.push(json!({"type": "device", "bom-ref": "device:training", "name": hw}));
    }
    for (name, version) in env["frameworks"].as_object().into_iter().flatten() {
        let version = version.as_str().unwrap_or_default();
        components.push(json!({
            "type": "framework", "bom-ref": format!("framework:{name}@{version}"),
            "name": name, "version": version,
        }));
    }
    // Each bom-ref once (two lineage entries may name one dataset).
    let mut seen = std::collections::BTreeSet::new();
    components.retain(|c| seen.insert(c["bom-ref"].to_string()));
    let depends: Vec<Value> = components.iter().map(|c| c["bom-ref"].clone()).collect();
    let mut dependencies = vec![json!({"ref": model_ref, "dependsOn": depends})];
    dependencies.extend(components.iter().map(|c| json!({"ref": c["bom-ref"]})));
    components.insert(0, component);
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "version": 1,
        "metadata": {
            "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            "tools": {"components": [{
                "type": "application", "name": "signet", "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "machine-learning-model", "bom-ref": format!("{model_ref}#subject"),
                "name": model.to_string(), "version": v.version.to_string(),
                "hashes": sha256(&root),
            },
        },
        "components": components,
        "dependencies": dependencies,
    })
}

/// The SLSA provenance v1 statement of a sealed version: its files as
/// subjects; as external parameters what the publisher declared (its
/// lineage) and, for a trusted publisher's job, the workflow that ran; the
/// code, datasets, parents and image as resolved dependencies; the CI
/// identity's issuer as the builder, else the registry (which vouches only
/// that it recorded what was declared).
fn provenance(v: &VersionRecord, files: &[FileRecord], base: &str) -> Value {
    let model = v.model_ref();
    let lineage = lineage_as_data(&v.lineage.0);
    let ci = v.provenance.as_ref().map(|p| &p.0);
    let subject: Vec<Value> = crate::registry::resources(files)
        .iter()
        .map(|f| json!({"name": f.path.as_str(), "digest": {"sha256": f.sha256.to_hex()}}))
        .collect();
    let mut deps = Vec::new();
    if let Some(commit) = text(&lineage["code"]["commit"]) {
        let uri = text(&lineage["code"]["repo"]).unwrap_or("");
        deps.push(json!({"uri": uri, "digest": {"gitCommit": commit}}));
    }
    for d in lineage["data"].as_array().into_iter().flatten() {
        let mut dep = json!({"digest": {"sha256": d["sha256"]}});
        if let Some(name) = text(&d["name"]) {
            dep["name"] = json!(name);
        }
        if let Some(uri) = text(&d["uri"]) {
            dep["uri"] = json!(uri);
        }
        deps.push(dep);
    }
    for p in lineage["parents"].as_array().into_iter().flatten() {
        if let (Some(m), Some(n)) = (text(&p["model"]), p["version"].as_i64()) {
            deps.push(json!({"uri": format!("{base}/{m}@{n}"), "name": "parent model"}));
        }
    }
    if let Some(image) = text(&lineage["environment"]["image"]) {
        deps.push(json!({"uri": image, "name": "training environment image"}));
    }
    let mut external = json!({"lineage": lineage, "model": model.to_string()});
    if let Some(ci) = ci {
        external["workflow"] = json!({
            "repository": ci["repository"], "ref": ci["ref"],
            "workflowRef": ci["workflow_ref"], "sha": ci["sha"],
        });
    }
    let builder = match ci.and_then(|c| text(&c["issuer"])) {
        Some(issuer) => issuer.to_owned(),
        None => format!("{base}/signet/declared"),
    };
    let mut metadata = json!({});
    if let Some(run) = ci
        .and_then(|c| text(&c["run_id"]))
        .or_else(|| text(&lineage["run"]["id"]))
    {
        metadata["invocationId"] = json!(run);
    }
    metadata["startedOn"] = json!(v.created_at.to_rfc3339_opts(SecondsFormat::Secs, true));
    if let Some(sealed) = v.sealed_at {
        metadata["finishedOn"] = json!(sealed.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": SLSA_PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {"registry": base, "version": v.version},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": builder},
                "metadata": metadata,
            },
        },
    })
}
