//! Quarantine: a dataset digest, a commit or a version that must not reach
//! production, with everything built from it through lineage.

use chrono::Utc;
use uuid::Uuid;

use super::Registry;
use super::lineage::CommitId;
use crate::auth::{Permit, Principal};
use crate::error::Result;
use crate::names::{ModelRef, Sha256, VersionNumber};
use crate::store::{Direction, LineageHit, LineageSeed, QuarantineRecord};

/// What a quarantine names.
#[derive(Debug, Clone)]
pub enum Target {
    Dataset(Sha256),
    Commit(CommitId),
    Version(ModelRef, VersionNumber),
}

impl Target {
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Dataset(_) => "dataset",
            Target::Commit(_) => "commit",
            Target::Version(..) => "version",
        }
    }

    /// The stored value: a digest, a commit id, or `namespace/model@version`.
    pub fn value(&self) -> String {
        match self {
            Target::Dataset(d) => d.to_hex(),
            Target::Commit(c) => c.as_str().to_owned(),
            Target::Version(m, v) => format!("{m}@{v}"),
        }
    }
}

impl Registry {
    /// Every version a quarantine of this kind and value blocks: the ones that name
    /// it directly, and all their descendants through `parents`.
    pub async fn affected(&self, kind: &str, value: &str) -> Result<Vec<LineageHit>> {
        let seed = match kind {
            "dataset" => LineageSeed::Dataset(value.to_owned()),
            "commit" => LineageSeed::Commit(value.to_owned()),
            _ => {
                let (model, v) = value.rsplit_once('@').unwrap_or((value, ""));
                let model = ModelRef::parse(model)?;
                match self.version(&model, VersionNumber::parse(v)?).await {
                    Ok(found) => LineageSeed::Version(found.id),
                    Err(crate::error::Error::NotFound) => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                }
            }
        };
        self.store.lineage(&seed, Direction::Descendants).await
    }

    pub async fn quarantine(
        &self,
        _: &Permit,
        by: &Principal,
        target: &Target,
        reason: String,
    ) -> Result<(QuarantineRecord, Vec<LineageHit>)> {
        if let Target::Version(m, v) = target {
            // A missing version is refused rather than quarantined by name.
            self.version(m, *v).await?;
        }
        let q = QuarantineRecord {
            id: Uuid::now_v7(),
            kind: target.kind().to_owned(),
            value: target.value(),
            reason,
            created_at: Utc::now(),
            created_by: by.name.clone(),
            lifted_at: None,
            lifted_by: None,
            lift_reason: None,
        };
        self.store.create_quarantine(&q).await?;
        let affected = self.affected(&q.kind, &q.value).await?;
        Ok((q, affected))
    }

    pub async fn lift_quarantine(
        &self,
        _: &Permit,
        by: &Principal,
        id: Uuid,
        reason: &str,
    ) -> Result<()> {
        self.store
            .lift_quarantine(id, &by.name, reason, Utc::now())
            .await
    }
}
