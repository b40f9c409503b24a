//! The contract's paths, built from typed values (every segment is a parsed
//! name, number or digest, so none needs escaping). The client builds every URL
//! it calls here; the server's routes are the same templates.

use crate::names::{AliasName, CommitId, FilePath, KeyId, ModelRef, Sha256, VersionNumber};

pub const WHOAMI: &str = "/v1/whoami";
pub const NAMESPACES: &str = "/v1/namespaces";
pub const MODELS: &str = "/v1/models";
pub const KEYS: &str = "/v1/keys";
pub const REGISTRY_KEY: &str = "/v1/registry/key";
pub const TOKENS: &str = "/v1/tokens";
pub const QUARANTINES: &str = "/v1/quarantines";
pub const AUDIT: &str = "/v1/audit";
pub const AUDIT_EXPORT: &str = "/v1/audit/export";
pub const AUDIT_VERIFY: &str = "/v1/audit/verify";
pub const AUDIT_LOG_CHECKPOINT: &str = "/v1/audit/log/checkpoint";
pub const AUDIT_LOG_KEY: &str = "/v1/audit/log/key";
pub const AUDIT_LOG_CONSISTENCY: &str = "/v1/audit/log/consistency";
pub const AUDIT_LOG_TILES: &str = "/v1/audit/log/tile";

/// `/v1/audit/events/{seq}/proof`: an event's inclusion proof.
pub fn audit_event_proof(seq: u64) -> String {
    format!("/v1/audit/events/{seq}/proof")
}

/// `/v1/models/{ns}/{model}`.
/// A trusted key, by its id.
pub fn key(keyid: &KeyId) -> String {
    format!("{KEYS}/{keyid}")
}

pub fn model(m: &ModelRef) -> String {
    format!("/v1/models/{}/{}", m.namespace, m.name)
}

/// `/v1/models/{ns}/{model}/versions`.
pub fn versions(m: &ModelRef) -> String {
    format!("{}/versions", model(m))
}

/// `/v1/models/{ns}/{model}/versions/{v}`.
pub fn version(m: &ModelRef, v: VersionNumber) -> String {
    format!("{}/{v}", versions(m))
}

/// The statement a signer signs.
pub fn statement(m: &ModelRef, v: VersionNumber) -> String {
    format!("{}/statement", version(m, v))
}

pub fn seal(m: &ModelRef, v: VersionNumber) -> String {
    format!("{}/seal", version(m, v))
}

/// A version's standing at the gate, per alias and for deployers.
pub fn gate(m: &ModelRef, v: VersionNumber) -> String {
    format!("{}/gate", version(m, v))
}

/// A version's attestations.
pub fn attestations(m: &ModelRef, v: VersionNumber) -> String {
    format!("{}/attestations", version(m, v))
}

/// A version's CycloneDX ML-BOM.
pub fn bom(m: &ModelRef, v: VersionNumber) -> String {
    format!("{}/bom", version(m, v))
}

/// A version's SLSA provenance, issued by the registry.
pub fn provenance(m: &ModelRef, v: VersionNumber) -> String {
    format!("{}/provenance", version(m, v))
}

/// One attestation of a version.
pub fn attestation(m: &ModelRef, v: VersionNumber, id: uuid::Uuid) -> String {
    format!("{}/{id}", attestations(m, v))
}

pub fn signatures(m: &ModelRef, v: VersionNumber) -> String {
    format!("{}/signatures", version(m, v))
}

/// A signature as stored, as a Sigstore bundle.
pub fn bundle(m: &ModelRef, v: VersionNumber, key: &KeyId) -> String {
    format!("{}/{key}/bundle", signatures(m, v))
}

pub fn file(m: &ModelRef, v: VersionNumber, path: &FilePath) -> String {
    format!("{}/files/{path}", version(m, v))
}

pub fn uploads(m: &ModelRef, v: VersionNumber) -> String {
    format!("{}/uploads", version(m, v))
}

pub fn alias(m: &ModelRef, a: &AliasName) -> String {
    format!("{}/aliases/{a}", model(m))
}

/// A version's ancestors and descendants.
pub fn lineage_of_version(m: &ModelRef, v: VersionNumber) -> String {
    format!("{}/lineage", version(m, v))
}

pub fn lineage_of_dataset(d: &Sha256) -> String {
    format!("/v1/lineage/datasets/{d}")
}

pub fn lineage_of_commit(c: &CommitId) -> String {
    format!("/v1/lineage/commits/{c}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_route_templates() {
        let m = ModelRef::parse("fraud/scorer").unwrap();
        let v = VersionNumber::new(3).unwrap();
        assert_eq!(version(&m, v), "/v1/models/fraud/scorer/versions/3");
        assert_eq!(
            file(&m, v, &FilePath::parse("a/b.bin").unwrap()),
            "/v1/models/fraud/scorer/versions/3/files/a/b.bin"
        );
        let a = AliasName::parse("production").unwrap();
        assert_eq!(alias(&m, &a), "/v1/models/fraud/scorer/aliases/production");
    }
}
