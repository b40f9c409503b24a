//! Quarantine: a dataset digest, a commit or a version that must not reach
//! production, with everything built from it through lineage.

use chrono::Utc;
use uuid::Uuid;

use super::{Provenance, visible};
use crate::auth::{Global, GlobalPermit, Manage, Permit, Principal, authorize, authorize_global};
use crate::error::{Error, Result};
use crate::kinds::QuarantineTarget;
use crate::names::{AliasName, ModelRef, Reason, RequiredReason, VersionNumber};
use crate::page::{Page, Paged};
use crate::store::{Direction, LineageHit, LineageSeed, QuarantineRecord};

/// Leave to quarantine one target. A version quarantine belongs to its
/// namespace's maintainers; a dataset or commit quarantine only removes trust,
/// so any maintainer may impose one.
pub enum QuarantinePermit {
    Version(Permit<Manage>, ModelRef, VersionNumber),
    Anywhere(GlobalPermit<Manage>, QuarantineTarget),
}

impl QuarantinePermit {
    pub fn authorize(p: &Principal, target: QuarantineTarget) -> Result<Self> {
        Ok(match target {
            QuarantineTarget::Version(m, v) => {
                Self::Version(authorize::<Manage>(p, &m.namespace)?, m, v)
            }
            other => Self::Anywhere(authorize_global(p, Global::AnyNamespace)?, other),
        })
    }
}

/// An alias pointing at a version a quarantine blocks.
pub struct BlockedAlias {
    pub model: ModelRef,
    pub alias: AliasName,
    pub version: VersionNumber,
}

/// A quarantine just imposed, with what it blocks (as far as the caller sees).
pub struct Imposed {
    pub quarantine: QuarantineRecord,
    pub affected: Vec<LineageHit>,
    pub aliases: Vec<BlockedAlias>,
}

impl Provenance {
    /// Every version a quarantine blocks: the ones that name its target
    /// directly, and all their descendants through `parents`.
    async fn affected(&self, target: &QuarantineTarget) -> Result<Vec<LineageHit>> {
        let seed = match target {
            QuarantineTarget::Dataset(d) => LineageSeed::Dataset(*d),
            QuarantineTarget::Commit(c) => LineageSeed::Commit(c.clone()),
            QuarantineTarget::Version(m, v) => match self.models.get_version(m, *v).await {
                Ok(found) => LineageSeed::Version(found.id),
                Err(Error::NotFound) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            },
        };
        self.lineage.lineage(&seed, Direction::Descendants).await
    }

    pub async fn quarantine(
        &self,
        permit: QuarantinePermit,
        p: &Principal,
        reason: RequiredReason,
    ) -> Result<Imposed> {
        let (target, version_id, audit) = match &permit {
            QuarantinePermit::Version(permit, m, v) => {
                // A missing version is refused rather than quarantined by name.
                let found = self.models.get_version(m, *v).await?;
                let target = QuarantineTarget::Version(m.clone(), *v);
                (target, Some(found.id), permit.pending())
            }
            QuarantinePermit::Anywhere(permit, t) => (t.clone(), None, permit.pending()),
        };
        let q = QuarantineRecord {
            id: Uuid::now_v7(),
            target,
            reason: reason.into_string(),
            created_at: Utc::now(),
            created_by: p.name().clone(),
            lifted_at: None,
            lifted_by: None,
            lift_reason: None,
        };
        self.lineage
            .create_quarantine(&q, version_id, &audit)
            .await?;
        let affected = visible(p, self.affected(&q.target).await?);
        let aliases = self.aliases_on(&affected).await?;
        Ok(Imposed {
            quarantine: q,
            affected,
            aliases,
        })
    }

    /// Aliases currently pointing at one of `hits`.
    async fn aliases_on(&self, hits: &[LineageHit]) -> Result<Vec<BlockedAlias>> {
        let mut models: Vec<ModelRef> = hits.iter().map(|h| h.version.model_ref()).collect();
        models.sort_by_key(ToString::to_string);
        models.dedup();
        let mut out = Vec::new();
        for model in models {
            for (alias, version) in self.aliases.aliases_of(&model).await? {
                let blocked = hits
                    .iter()
                    .any(|h| h.version.model_ref() == model && h.version.version == version);
                if blocked {
                    out.push(BlockedAlias {
                        model: model.clone(),
                        alias,
                        version,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Quarantines, active and lifted; version quarantines only of namespaces
    /// the caller may read.
    pub async fn quarantines(
        &self,
        _: &GlobalPermit<Manage>,
        p: &Principal,
        page: &Page,
    ) -> Result<Paged<QuarantineRecord>> {
        let after = page.after::<Uuid>()?.unwrap_or(Uuid::nil());
        let rows = self.lineage.list_quarantines(after, page.limit()).await?;
        let paged = Paged::new(rows, page, |q| q.id.to_string());
        Ok(Paged {
            items: paged
                .items
                .into_iter()
                .filter(|q| {
                    q.target
                        .namespace()
                        .is_none_or(|ns| p.may::<crate::auth::Read>(ns))
                })
                .collect(),
            next_cursor: paged.next_cursor,
        })
    }

    /// Lifts a quarantine; the lifting is recorded. Dataset and commit
    /// quarantines restore trust in every namespace, so only admins lift them.
    pub async fn lift(&self, p: &Principal, id: Uuid, reason: Reason) -> Result<()> {
        let q = self.lineage.get_quarantine(id).await?;
        let audit = match q.target.namespace() {
            Some(ns) => authorize::<Manage>(p, ns)?.pending(),
            None => authorize_global::<Manage>(p, Global::All)?.pending(),
        };
        self.lineage
            .lift_quarantine(id, p.name(), reason.as_str(), Utc::now(), &audit)
            .await
    }
}
