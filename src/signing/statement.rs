//! The in-toto Statement v1 with the OpenSSF Model Signing predicate, plus
//! Signet's `predicate.signet` binding (see `docs/design.md`, "What is signed").

use serde::Serialize;
use sha2::Digest;

use crate::names::{FilePath, ModelRef, Sha256, VersionNumber};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";

/// One file of a sealed version.
#[derive(Debug, Clone)]
pub struct Resource {
    pub path: FilePath,
    pub size: u64,
    pub sha256: Sha256,
}

/// Sorts resources into statement order: by path components, so `a/b` comes
/// before `a.txt`. Every signer and verifier must agree on this order, because the
/// root digest depends on it.
pub fn sort_resources(resources: &mut [Resource]) {
    resources.sort_by(|a, b| a.path.cmp_components(&b.path));
}

/// SHA-256 over the raw 32-byte digests of the resources, in statement order.
pub fn root_digest(sorted: &[Resource]) -> Sha256 {
    let mut h = sha2::Sha256::new();
    for r in sorted {
        h.update(r.sha256.as_bytes());
    }
    Sha256::from_bytes(h.finalize().into())
}

#[derive(Debug, Serialize)]
pub struct Statement<'a> {
    #[serde(rename = "_type")]
    pub type_: &'static str,
    pub subject: [Subject; 1],
    #[serde(rename = "predicateType")]
    pub predicate_type: &'static str,
    pub predicate: Predicate<'a>,
}

#[derive(Debug, Serialize)]
pub struct Subject {
    pub name: String,
    pub digest: SubjectDigest,
}

#[derive(Debug, Serialize)]
pub struct SubjectDigest {
    pub sha256: Sha256,
}

#[derive(Debug, Serialize)]
pub struct Predicate<'a> {
    pub serialization: Serialization,
    pub resources: Vec<ResourceEntry<'a>>,
    pub signet: SignetBinding<'a>,
}

#[derive(Debug, Serialize)]
pub struct Serialization {
    pub method: &'static str,
    pub hash_type: &'static str,
    pub allow_symlinks: bool,
    pub ignore_paths: [&'static str; 0],
}

/// How Signet's statements say the files were hashed: each file whole, with
/// SHA-256, no symlinks followed, nothing left out.
pub const SERIALIZATION: Serialization = Serialization {
    method: "files",
    hash_type: "sha256",
    allow_symlinks: false,
    ignore_paths: [],
};

#[derive(Debug, Serialize)]
pub struct ResourceEntry<'a> {
    pub name: &'a str,
    pub algorithm: &'static str,
    pub digest: Sha256,
    pub size: u64,
}

/// Binds the bytes to one registry, model, version and lineage, so a signature
/// cannot be replayed onto another version.
#[derive(Debug, Serialize)]
pub struct SignetBinding<'a> {
    pub registry: &'a str,
    pub model: String,
    pub version: VersionNumber,
    pub lineage: &'a serde_json::Value,
    /// The version's CI provenance, when a trusted publisher created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<&'a serde_json::Value>,
}

/// What a statement binds a version to besides its files: its lineage and,
/// when a trusted publisher created it, its CI provenance.
#[derive(Debug, Clone, Copy)]
pub struct Bound<'a> {
    pub lineage: &'a serde_json::Value,
    pub provenance: Option<&'a serde_json::Value>,
}

/// Builds the unsigned statement for a sealed version. `sorted` must be in
/// statement order (see [`sort_resources`]).
pub fn build<'a>(
    registry: &'a str,
    model: &ModelRef,
    version: VersionNumber,
    bound: Bound<'a>,
    sorted: &'a [Resource],
) -> Statement<'a> {
    Statement {
        type_: STATEMENT_TYPE,
        subject: [Subject {
            name: model.to_string(),
            digest: SubjectDigest {
                sha256: root_digest(sorted),
            },
        }],
        predicate_type: PREDICATE_TYPE,
        predicate: Predicate {
            serialization: SERIALIZATION,
            resources: sorted
                .iter()
                .map(|r| ResourceEntry {
                    name: r.path.as_str(),
                    algorithm: "sha256",
                    digest: r.sha256,
                    size: r.size,
                })
                .collect(),
            signet: SignetBinding {
                registry,
                model: model.to_string(),
                version,
                lineage: bound.lineage,
                provenance: bound.provenance,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str, byte: u8) -> Resource {
        Resource {
            path: FilePath::parse(path).unwrap(),
            size: 1,
            sha256: Sha256::from_bytes([byte; 32]),
        }
    }

    #[test]
    fn root_digest_follows_component_order() {
        let mut rs = vec![res("a.txt", 1), res("a/b", 2)];
        sort_resources(&mut rs);
        assert_eq!(rs[0].path.as_str(), "a/b");
        let mut cat = Vec::new();
        cat.extend_from_slice(&[2u8; 32]);
        cat.extend_from_slice(&[1u8; 32]);
        let expect: [u8; 32] = sha2::Sha256::digest(&cat).into();
        assert_eq!(root_digest(&rs), Sha256::from_bytes(expect));
    }
}
