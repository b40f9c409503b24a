//! What the console shows: for each page, one read that gathers what the page
//! renders from the registry, trust and provenance services, so a console
//! handler makes one call and renders the answer with a pure function.
//!
//! Dependency rule: above `registry`, `trust` and `lineage`, which it only
//! calls (each keeps its own rules); `http` calls it.

use std::sync::Arc;

pub use crate::audit::Scope as AuditScope;
use crate::audit::{Auditing, Head, Query, Scope};
use crate::auth::{
    Global, GlobalPermit, Manage, Principal, Read, ReadAudit, authorize, authorize_global,
};
pub use crate::chain::ChainedEvent;
use crate::error::{Error, Result};
use crate::kinds::QuarantineTarget;
use crate::lineage::Provenance;
use crate::lineage::QuarantineRecord;
use crate::names::{AliasName, CommitId, ModelName, ModelRef, Namespace, Sha256, VersionNumber};
use crate::page::{Page, Paged};
use crate::registry::ModelRecord;
use crate::registry::{ModelDetails, Registry};
use crate::trust::NamespacePolicy;
use crate::trust::ShownKey;
use crate::trust::{GatePanel, Trust};

/// The records the console's pages render, as the domain gives them.
pub use crate::lineage::{InputNode, Lineage, LineageGraph, LineageHit, VersionNode};
pub use crate::registry::{NamespaceRecord, VersionRecord};
pub use crate::trust::{AliasMove, SignatureStatus};

/// How many alias moves a model's page shows.
pub const HISTORY_SHOWN: u32 = 50;

/// The reads of the console's pages.
pub struct Catalog {
    registry: Arc<Registry>,
    trust: Arc<Trust>,
    provenance: Arc<Provenance>,
    auditing: Arc<Auditing>,
}

/// A namespace's page: the namespace, its promotion policy and a page of its
/// models.
pub struct NamespacePage {
    pub namespace: NamespaceRecord,
    pub policy: NamespacePolicy,
    pub models: Paged<ModelRecord>,
}

/// A key as the keys' page shows it: with the versions it signed that the
/// viewer may read.
pub struct KeyRow {
    pub key: ShownKey,
    pub signed: Vec<VersionRecord>,
}

/// A quarantine as its page shows it: with the versions built from its
/// dataset or commit that the viewer may read (at most `AFFECTED_SHOWN`), and
/// the aliases at each.
pub struct QuarantineRow {
    pub quarantine: QuarantineRecord,
    pub affected: Vec<(VersionRecord, Vec<AliasName>)>,
}

/// Versions listed beside each quarantine.
pub const AFFECTED_SHOWN: usize = 20;

/// The access log's page: the namespace read (an auditor of some namespaces
/// who names none reads the first of them), a page of its events, and the
/// chain's head for those who audit everything.
pub struct AuditPage {
    pub namespace: Option<Namespace>,
    pub events: Paged<ChainedEvent>,
    pub head: Option<Head>,
}

/// A version's page: its standing at each alias and, when it is quarantined,
/// its lineage graph (which shows where the quarantine comes from).
pub struct VersionPage {
    pub panel: GatePanel,
    /// Its lineage document, typed (none if a stored document no longer
    /// parses under today's rules).
    pub lineage: Option<Lineage>,
    pub graph: Option<LineageGraph>,
}

/// A model's page: the model and its aliases, a page of its versions with
/// their signature counts, and the latest moves of all its aliases.
pub struct ModelPage {
    pub details: ModelDetails,
    pub versions: Paged<(VersionRecord, i64)>,
    /// Newest first.
    pub history: Vec<AliasMove>,
}

/// What a search names.
pub enum Found {
    /// `ns/model@v`, or `ns/model@alias` resolved.
    Version(ModelRef, VersionNumber),
    /// `ns/model`.
    Model(ModelRef),
    /// A bare name that names only a namespace.
    Namespace(Namespace),
    /// Everything else: what matches, perhaps nothing.
    Matches(Matches),
}

/// The models of a bare name, and the versions built from a digest or commit.
#[derive(Default)]
pub struct Matches {
    pub models: Vec<ModelRef>,
    /// Versions trained or evaluated on the dataset the query names.
    pub dataset: Option<Vec<LineageHit>>,
    /// Versions built from the commit the query names.
    pub commit: Option<Vec<LineageHit>>,
}

impl Matches {
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
            && self.dataset.as_ref().is_none_or(Vec::is_empty)
            && self.commit.as_ref().is_none_or(Vec::is_empty)
    }
}

impl Catalog {
    pub fn new(
        registry: Arc<Registry>,
        trust: Arc<Trust>,
        provenance: Arc<Provenance>,
        auditing: Arc<Auditing>,
    ) -> Self {
        Self {
            registry,
            trust,
            provenance,
            auditing,
        }
    }

    pub async fn namespace_page(
        &self,
        p: &Principal,
        permit: &crate::auth::Permit<Read>,
        page: &Page,
    ) -> Result<NamespacePage> {
        Ok(NamespacePage {
            namespace: self.registry.namespace(permit).await?,
            policy: self.trust.policy(permit).await?,
            models: self.registry.models(p, Some(permit), page).await?,
        })
    }

    pub async fn keys_page(&self, p: &Principal, page: &Page) -> Result<Paged<KeyRow>> {
        let keys = self.trust.keys(p, page).await?;
        let mut signed = Vec::with_capacity(keys.items.len());
        for k in &keys.items {
            signed.push(self.trust.signed_by(p, &k.key.keyid).await?);
        }
        Ok(keys.zip(signed, |key, signed| KeyRow { key, signed }))
    }

    pub async fn quarantines_page(
        &self,
        permit: &GlobalPermit<Manage>,
        p: &Principal,
        page: &Page,
    ) -> Result<Paged<QuarantineRow>> {
        let list = self.provenance.quarantines(permit, p, page).await?;
        let mut affected = Vec::with_capacity(list.items.len());
        for q in &list.items {
            let hits = match &q.target {
                QuarantineTarget::Dataset(d) => self.provenance.by_dataset(p, *d).await?,
                QuarantineTarget::Commit(c) => self.provenance.by_commit(p, c.clone()).await?,
                QuarantineTarget::Version(..) => Vec::new(),
            };
            let mut at = Vec::new();
            for h in hits.into_iter().take(AFFECTED_SHOWN) {
                let aliases = self.registry.aliases_at(&h.version).await?;
                at.push((h.version, aliases));
            }
            affected.push(at);
        }
        Ok(list.zip(affected, |quarantine, affected| QuarantineRow {
            quarantine,
            affected,
        }))
    }

    /// The events of `namespace` (or, for an auditor of some namespaces who
    /// names none, of the first of them) that `q` asks for.
    pub async fn audit_page(
        &self,
        p: &Principal,
        namespace: Option<Namespace>,
        q: &Query,
        page: &Page,
    ) -> Result<AuditPage> {
        let everything = authorize_global::<ReadAudit>(p, Global::All).ok();
        let namespace = match (namespace, &everything) {
            (Some(ns), _) => Some(ns),
            (None, Some(_)) => None,
            (None, None) => Some(self.first_audited(p).await?),
        };
        let scope = Scope::of(p, namespace.as_ref(), None)?;
        let events = self.auditing.search(&scope, q, page).await?;
        let head = match &everything {
            Some(permit) => Some(self.auditing.head(permit).await?),
            None => None,
        };
        Ok(AuditPage {
            namespace,
            events,
            head,
        })
    }

    /// The first namespace whose log the principal may read.
    async fn first_audited(&self, p: &Principal) -> Result<Namespace> {
        let all = Page::parse(Some(Page::MAX_LIMIT), None)?;
        self.registry
            .namespaces(p, &all)
            .await?
            .items
            .into_iter()
            .map(|ns| ns.name)
            .find(|ns| p.may::<ReadAudit>(ns))
            .ok_or_else(Error::forbidden)
    }

    pub async fn version_page(
        &self,
        permit: &crate::auth::Permit<Read>,
        p: &Principal,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<VersionPage> {
        let panel = self.trust.gate_panel(permit, name, number).await?;
        let graph = match panel.details.quarantined {
            true => Some(self.provenance.graph(permit, p, name, number).await?),
            false => None,
        };
        let lineage = serde_json::from_value(panel.details.version.lineage.0.clone()).ok();
        Ok(VersionPage {
            panel,
            lineage,
            graph,
        })
    }

    pub async fn model_page(
        &self,
        permit: &crate::auth::Permit<Read>,
        name: &ModelName,
        page: &Page,
    ) -> Result<ModelPage> {
        let details = self.registry.model(permit, name).await?;
        let versions = self.registry.versions_signed(permit, name, page).await?;
        let recent = Page::parse(Some(HISTORY_SHOWN), None)?;
        let history = self
            .trust
            .alias_history(permit, name, None, &recent)
            .await?
            .items;
        Ok(ModelPage {
            details,
            versions,
            history,
        })
    }

    /// A model (`ns/model`, or a bare name in the namespaces the principal
    /// reads), a version (`ns/model@v` or `ns/model@alias`), a dataset digest
    /// or a commit; a bare name that matches nothing else may name a namespace.
    pub async fn search(&self, p: &Principal, q: &str) -> Result<Found> {
        let q = q.trim();
        let versioned = q
            .split_once('@')
            .and_then(|(model, at)| Some((ModelRef::parse(model).ok()?, at)));
        if let Some((m, at)) = versioned {
            let permit = authorize::<Read>(p, &m.namespace)?;
            // Where an alias points is all a redirect needs: no signature is
            // judged for it.
            let number = match VersionNumber::parse(at) {
                Ok(n) => n,
                Err(_) => {
                    let alias = AliasName::parse(at).map_err(Error::from)?;
                    let model = self.registry.model(&permit, &m.name).await?;
                    let at = model.aliases.into_iter().find(|(a, _)| *a == alias);
                    at.ok_or(Error::NotFound)?.1
                }
            };
            self.registry.version(&permit, &m.name, number).await?;
            return Ok(Found::Version(m, number));
        }
        if let Ok(m) = ModelRef::parse(q) {
            let permit = authorize::<Read>(p, &m.namespace)?;
            self.registry.model(&permit, &m.name).await?;
            return Ok(Found::Model(m));
        }
        let mut found = Matches::default();
        if let Ok(d) = Sha256::parse(q) {
            found.dataset = Some(self.provenance.by_dataset(p, d).await?);
        }
        if let Ok(c) = CommitId::parse(q) {
            found.commit = Some(self.provenance.by_commit(p, c).await?);
        }
        if let Ok(name) = ModelName::parse(q) {
            let models = self.registry.models_named(p, &name).await?;
            found.models = models
                .into_iter()
                .map(|m| ModelRef {
                    namespace: m.namespace,
                    name: m.name,
                })
                .collect();
        }
        let nothing = found.models.is_empty() && found.dataset.is_none() && found.commit.is_none();
        if nothing
            && let Some(permit) = Namespace::parse(q)
                .ok()
                .and_then(|ns| authorize::<Read>(p, &ns).ok())
            && self.registry.namespace(&permit).await.is_ok()
        {
            return Ok(Found::Namespace(permit.namespace().clone()));
        }
        Ok(Found::Matches(found))
    }
}
