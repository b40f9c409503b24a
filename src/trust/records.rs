//! Promotion records: on every promotion the registry signs, with its own
//! key, an in-toto statement of the promotion-record predicate (what moved
//! where, from which version, by whom, why, and which rules held), kept with
//! the move and verifiable with the registry's published key.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::names::{AliasName, ModelRef, PrincipalName, Sha256, VersionNumber};
use crate::signing::signer::PrivateKey;
use crate::signing::statement::STATEMENT_TYPE;

pub use crate::api::PROMOTION_PREDICATE;

/// The registry's own signing key and how its statements name it.
pub struct RecordSigner {
    key: PrivateKey,
    /// Who performs the promotions (`builderId`): the registry and Signet's
    /// version.
    builder_id: String,
    /// The registry's references start with this (`https://registry.example`).
    base: String,
}

/// The registry's published key.
pub struct RegistryKey {
    pub keyid: String,
    pub algorithm: crate::kinds::Algorithm,
    pub public_key: String,
}

/// What a promotion record states beside the move's time and the version the
/// alias left.
pub(super) struct Promotion<'a> {
    pub model: &'a ModelRef,
    pub version: VersionNumber,
    pub root: &'a Sha256,
    pub alias: &'a AliasName,
    pub by: &'a PrincipalName,
    pub reason: &'a str,
    pub held: &'a Value,
}

impl RecordSigner {
    /// `base`: the registry's public URL (or `https://<name>`).
    pub fn new(key: PrivateKey, base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        Self {
            key,
            builder_id: format!("{base}/signet@{}", env!("CARGO_PKG_VERSION")),
            base,
        }
    }

    /// Where the registry's references start (`https://registry.example`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A statement the registry makes, in a DSSE envelope signed with its key.
    pub(super) fn envelope(&self, statement: &Value) -> String {
        let payload = serde_json::to_vec(statement).expect("serializes");
        self.key.envelope(&payload).to_string()
    }

    pub fn published(&self) -> RegistryKey {
        let public_key = self.key.public_pem();
        let parsed = crate::signing::keys::parse_public_key(&public_key).expect("parses");
        RegistryKey {
            keyid: parsed.id.to_string(),
            algorithm: parsed.key.algorithm(),
            public_key,
        }
    }

    /// The statement of a promotion, and its DSSE envelope signed with the
    /// registry's key.
    pub(super) fn sign(
        &self,
        p: &Promotion<'_>,
        previous: Option<VersionNumber>,
        at: DateTime<Utc>,
    ) -> String {
        let root = p.root.to_hex();
        let st = json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": p.model.to_string(), "digest": {"sha256": root}}],
            "predicateType": PROMOTION_PREDICATE,
            "predicate": {
                "srcRef": format!("{}/{}@{}", self.base, p.model, p.version),
                "dstRef": format!("{}/{}@{}", self.base, p.model, p.alias),
                "digest": format!("sha256:{root}"),
                "timestamp": at.to_rfc3339_opts(SecondsFormat::Micros, true),
                "builderId": self.builder_id,
                "signet": {
                    "model": p.model.to_string(),
                    "alias": p.alias.as_str(),
                    "version": p.version,
                    "previousVersion": previous,
                    "by": p.by.as_str(),
                    "reason": p.reason,
                    "rules": p.held,
                },
            },
        });
        self.envelope(&st)
    }
}
