//! Quarantine: a dataset digest, a commit or a version that must not reach
//! production, with everything built from it through lineage.

use chrono::Utc;
use uuid::Uuid;

use super::{Provenance, visible};
use crate::auth::{
    Global, GlobalPermit, Manage, Principal, Read, ScopePermit, authorize, authorize_scope,
};
use crate::error::{Error, Result};
use crate::kinds::{BindingScope, QuarantineTarget};
use crate::names::{AliasName, ModelRef, Namespace, Reason, RequiredReason, VersionNumber};
use crate::page::{Page, Paged};
use crate::store::{Direction, LineageHit, LineageSeed, QuarantineRecord};

/// Leave to quarantine one target in a scope: `Manage` in every namespace of
/// the scope (`*` needs it globally), and for a version, in the version's own
/// namespace too.
pub struct QuarantinePermit {
    target: QuarantineTarget,
    scopes: Vec<ScopePermit<Manage>>,
}

impl QuarantinePermit {
    /// `namespaces` is the scope asked for. Without one, a version quarantine
    /// applies to the version's namespace, and a dataset or commit quarantine to
    /// every namespace the caller may manage (`*` for a global role).
    pub fn authorize(
        p: &Principal,
        target: QuarantineTarget,
        namespaces: Option<Vec<BindingScope>>,
    ) -> Result<Self> {
        if let Some(ns) = target.namespace() {
            authorize::<Manage>(p, ns)?;
        }
        let mut scope = match (namespaces, target.namespace()) {
            (Some(asked), _) => asked,
            (None, Some(ns)) => vec![BindingScope::Namespace(ns.clone())],
            (None, None) => default_scope(p),
        };
        scope.sort();
        scope.dedup();
        if scope.is_empty() {
            return Err(Error::forbidden());
        }
        let scopes = scope
            .iter()
            .map(|s| authorize_scope::<Manage>(p, s))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { target, scopes })
    }

    fn scope(&self) -> Vec<BindingScope> {
        self.scopes.iter().map(|p| p.scope().clone()).collect()
    }
}

/// Everywhere the principal may manage: `*` for a global role, otherwise each
/// namespace where it holds a role that manages.
fn default_scope(p: &Principal) -> Vec<BindingScope> {
    if p.may_globally::<Manage>(Global::All) {
        return vec![BindingScope::Global];
    }
    p.bindings()
        .iter()
        .filter_map(|b| b.scope.namespace())
        .filter(|ns| p.may::<Manage>(ns))
        .map(|ns| BindingScope::Namespace(ns.clone()))
        .collect()
}

/// Whether a quarantine of this scope applies to versions of `ns`.
pub fn covers(scope: &[BindingScope], ns: &Namespace) -> bool {
    scope.iter().any(|s| match s {
        BindingScope::Global => true,
        BindingScope::Namespace(n) => n == ns,
    })
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
        let version_id = match &permit.target {
            // A missing version is refused rather than quarantined by name.
            QuarantineTarget::Version(m, v) => Some(self.models.get_version(m, *v).await?.id),
            _ => None,
        };
        let scope = permit.scope();
        let first = &permit.scopes[0];
        let names: Vec<String> = scope.iter().map(ToString::to_string).collect();
        first.record("namespaces", names.into());
        let q = QuarantineRecord {
            id: Uuid::now_v7(),
            target: permit.target.clone(),
            scope,
            reason: reason.into_string(),
            created_at: Utc::now(),
            created_by: p.name().clone(),
            lifted_at: None,
            lifted_by: None,
            lift_reason: None,
        };
        first.record("quarantine", q.id.to_string().into());
        first.record("kind", q.target.kind().as_str().into());
        first.record("value", q.target.value().into());
        first.record("reason", q.reason.as_str().into());
        self.lineage
            .create_quarantine(&q, version_id, &first.pending())
            .await?;
        let affected: Vec<LineageHit> = visible(p, self.affected(&q.target).await?)
            .into_iter()
            .filter(|h| covers(&q.scope, &h.version.namespace))
            .collect();
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
                    q.scope.iter().any(|s| match s {
                        BindingScope::Global => true,
                        BindingScope::Namespace(ns) => p.may::<Read>(ns),
                    })
                })
                .collect(),
            next_cursor: paged.next_cursor,
        })
    }

    /// Lifts a quarantine; the lifting is recorded. Lifting restores trust
    /// wherever the quarantine applied, so it takes `Manage` in every namespace
    /// of its scope (`*`: globally).
    pub async fn lift(&self, p: &Principal, id: Uuid, reason: Reason) -> Result<()> {
        let q = self.lineage.get_quarantine(id).await?;
        let permits = q
            .scope
            .iter()
            .map(|s| authorize_scope::<Manage>(p, s))
            .collect::<Result<Vec<_>>>()?;
        let first = permits.first().ok_or_else(Error::forbidden)?;
        let names: Vec<String> = q.scope.iter().map(ToString::to_string).collect();
        first.record("namespaces", names.into());
        first.record("quarantine", id.to_string().into());
        if !reason.as_str().is_empty() {
            first.record("reason", reason.as_str().into());
        }
        self.lineage
            .lift_quarantine(id, p.name(), reason.as_str(), Utc::now(), &first.pending())
            .await
    }
}
