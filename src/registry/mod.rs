//! The registry: namespaces, models, versions and their files.
//!
//! Dependency rule: handlers call [`Registry`] with a permit; it calls the store
//! capabilities it holds (namespaces, models, aliases for reading, blob
//! references), `blobs` (bytes) and `signing` (statements). Operations take the
//! namespace from their permit, so they cannot be reached for a namespace that
//! was not authorized.

mod files;

pub mod gc;
pub mod uploads;

use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{CreateNamespace, GlobalPermit, Permit, Principal, Publish, Read};
use crate::blobs::BlobStore;
use crate::error::{Error, Result};
use crate::limits::TransferFloor;
use crate::lineage::{Lineage, LineageBounds};
use crate::names::{AliasName, Description, ModelName, ModelRef, Namespace, VersionNumber};
use crate::page::{Page, Paged};
use crate::signing::statement::{self, Resource, sort_resources};
use crate::store::{
    Aliases, BlobRefs, Health, Models, Namespaces, NewVersion, Uploads, Visibility,
};

/// The records registry operations answer with.
pub use crate::store::{FileRecord, ModelRecord, NamespaceRecord, VersionEntry, VersionRecord};
pub use files::{Download, Presigned, RangeSpec};
pub use uploads::{AppendAt, Upload};
/// Bytes per committed part of a resumable upload.
pub const UPLOAD_PART: u64 = crate::blobs::PART;

/// What one version may hold, all configurable: file sizes and counts, and how
/// large its metadata and lineage may be (so neither can store artifacts).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_file_size: u64,
    pub max_files: usize,
    pub max_metadata_bytes: usize,
    pub lineage: LineageBounds,
    /// The least rate an upload body must keep up (none: no floor).
    pub upload_floor: Option<TransferFloor>,
    /// How long a resumable upload lives after its last part.
    pub upload_session_ttl: std::time::Duration,
}

/// The registry's domain service: one per process, shared by all requests.
pub struct Registry {
    namespaces: Arc<dyn Namespaces>,
    models: Arc<dyn Models>,
    aliases: Arc<dyn Aliases>,
    refs: Arc<dyn BlobRefs>,
    uploads: Arc<dyn Uploads>,
    health: Arc<dyn Health>,
    blobs: BlobStore,
    /// Requests of one resumable upload take turns.
    turns: uploads::Turns,
    /// The name this service signs statements for (`predicate.signet.registry`).
    name: String,
    bounds: Bounds,
}

/// The stores the registry uses.
pub struct RegistryStores {
    pub namespaces: Arc<dyn Namespaces>,
    pub models: Arc<dyn Models>,
    pub aliases: Arc<dyn Aliases>,
    pub refs: Arc<dyn BlobRefs>,
    pub uploads: Arc<dyn Uploads>,
    pub health: Arc<dyn Health>,
}

/// A model with where its aliases point.
pub struct ModelDetails {
    pub model: ModelRecord,
    pub aliases: Vec<(AliasName, VersionNumber)>,
}

/// A sealed version with the statement a signer signs.
pub struct Sealed {
    pub version: VersionRecord,
    pub files: Vec<FileRecord>,
    pub statement: Value,
}

impl Registry {
    pub fn new(stores: RegistryStores, blobs: BlobStore, name: String, bounds: Bounds) -> Self {
        Self {
            namespaces: stores.namespaces,
            models: stores.models,
            aliases: stores.aliases,
            refs: stores.refs,
            uploads: stores.uploads,
            health: stores.health,
            blobs,
            turns: Default::default(),
            name,
            bounds,
        }
    }

    /// The name statements are signed for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the metadata store and the blob store answer.
    /// The database connection pool at this moment (for the metrics).
    pub fn pool_usage(&self) -> crate::store::PoolUsage {
        self.health.pool_usage()
    }

    pub async fn ready(&self) -> Result<()> {
        let (db, blobs) = tokio::join!(self.health.ping(), self.blobs.ping());
        db?;
        blobs
    }

    pub async fn create_namespace(
        &self,
        permit: &GlobalPermit<CreateNamespace>,
        name: Namespace,
        description: Description,
    ) -> Result<NamespaceRecord> {
        let ns = NamespaceRecord {
            name,
            description: description.into_string(),
            created_at: Utc::now(),
            created_by: permit.by().clone(),
        };
        self.namespaces
            .create_namespace(&ns, &permit.pending())
            .await?;
        Ok(ns)
    }

    pub async fn namespace(&self, permit: &Permit<Read>) -> Result<NamespaceRecord> {
        let ns = permit.namespace();
        let found = self.namespaces.get_namespace(ns).await;
        found.map_err(|e| e.named(|| format!("namespace {ns}")))
    }

    /// Namespaces the principal may see.
    pub async fn namespaces(&self, p: &Principal, page: &Page) -> Result<Paged<NamespaceRecord>> {
        let items = self
            .namespaces
            .list_namespaces(&visibility(p), page.after_text(), page.limit())
            .await?;
        Ok(Paged::new(items, page, |n| n.name.to_string()))
    }

    pub async fn create_model(
        &self,
        permit: &Permit<Publish>,
        name: &ModelName,
        description: Description,
    ) -> Result<ModelRecord> {
        // The namespace was authorized, so it exists for this principal; a missing
        // one surfaces as NotFound from the foreign key.
        let m = ModelRecord {
            id: Uuid::now_v7(),
            namespace: permit.namespace().clone(),
            name: name.clone(),
            description: description.into_string(),
            created_at: Utc::now(),
            created_by: permit.by().clone(),
            latest_version: None,
        };
        self.models.create_model(&m, &permit.pending()).await?;
        Ok(m)
    }

    pub async fn model<A: crate::auth::Act>(
        &self,
        permit: &Permit<A>,
        name: &ModelName,
    ) -> Result<ModelDetails> {
        let model = permit.model(name);
        let found = self.models.get_model(&model).await;
        let record = found.map_err(|e| e.named(|| format!("model {model}")))?;
        let aliases = self.aliases.aliases_of(&model).await?;
        Ok(ModelDetails {
            model: record,
            aliases,
        })
    }

    /// Models the principal may read, in one namespace (its permit) or all.
    pub async fn models(
        &self,
        p: &Principal,
        namespace: Option<&Permit<Read>>,
        page: &Page,
    ) -> Result<Paged<ModelRecord>> {
        let after = page.after_text().split_once('/').unwrap_or(("", ""));
        let items = self
            .models
            .list_models(
                &visibility(p),
                namespace.map(Permit::namespace),
                after,
                page.limit(),
            )
            .await?;
        Ok(Paged::new(items, page, |m| {
            format!("{}/{}", m.namespace, m.name)
        }))
    }

    /// The models of this name in the namespaces the principal may see.
    pub async fn models_named(&self, p: &Principal, name: &ModelName) -> Result<Vec<ModelRecord>> {
        self.models
            .models_named(&visibility(p), name, i64::from(Page::MAX_LIMIT))
            .await
    }

    /// Creates a draft version. Parents must exist, be visible to the creator and
    /// be sealed: a draft parent could still change under its children, and since
    /// parents are sealed before children exist, lineage has no cycles.
    pub async fn create_version(
        &self,
        permit: &Permit<Publish>,
        by: &Principal,
        name: &ModelName,
        lineage: Lineage,
        metadata: Value,
    ) -> Result<VersionRecord> {
        if !metadata.is_object() {
            return Err(Error::invalid("metadata must be a JSON object"));
        }
        if has_nul(&metadata) {
            return Err(Error::invalid(
                "metadata strings and keys may not contain NUL",
            ));
        }
        let limit = self.bounds.max_metadata_bytes;
        if serde_json::to_vec(&metadata)
            .map_err(Error::internal)?
            .len()
            > limit
        {
            return Err(Error::invalid(format!(
                "metadata is limited to {limit} bytes of JSON"
            )));
        }
        let lineage = lineage
            .validated(&self.bounds.lineage)
            .map_err(Error::Invalid)?;
        let mut parent_ids = Vec::with_capacity(lineage.parents.len());
        for p in &lineage.parents {
            let missing = || {
                Error::InvalidLineage(format!(
                    "parent {}@{} does not exist or is not sealed",
                    p.model, p.version
                ))
            };
            if !by.may::<Read>(&p.model.namespace) {
                return Err(missing());
            }
            match self.models.get_version(&p.model, p.version).await {
                Ok(v) if v.is_sealed() => parent_ids.push(v.id),
                Ok(_) | Err(Error::NotFound) => return Err(missing()),
                Err(e) => return Err(e),
            }
        }
        let publication = by.publication();
        if let Some(p) = publication {
            let code = lineage.code.as_ref();
            p.bind(
                code.and_then(|c| c.repo.as_ref()).map(|r| r.as_str()),
                code.and_then(|c| c.commit.as_ref()).map(|c| c.as_str()),
            )
            .map_err(Error::LineageMismatch)?;
        }
        let new = NewVersion {
            id: Uuid::now_v7(),
            provenance: publication.map(|p| p.provenance()),
            code_commit: lineage.code.as_ref().and_then(|c| c.commit.clone()),
            datasets: lineage.data.iter().map(|d| d.sha256).collect(),
            parents: parent_ids,
            lineage: serde_json::to_value(&lineage).map_err(Error::internal)?,
            metadata,
            created_at: Utc::now(),
            created_by: permit.by().clone(),
        };
        self.models
            .create_version(&permit.model(name), &new, &permit.pending())
            .await
    }

    /// A model's versions, newest first. A model that does not exist answers
    /// `NotFound`, not an empty list.
    pub async fn versions<A: crate::auth::Act>(
        &self,
        permit: &Permit<A>,
        name: &ModelName,
        page: &Page,
    ) -> Result<Paged<VersionRecord>> {
        let model = permit.model(name);
        let before = page.after::<i64>()?.unwrap_or(i64::MAX);
        self.model_exists(&model).await?;
        let items = self
            .models
            .list_versions(&model, before, page.limit())
            .await?;
        Ok(Paged::new(items, page, |v| v.version.to_string()))
    }

    /// [`Registry::versions`], each with how many signatures it holds.
    pub async fn versions_signed(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        page: &Page,
    ) -> Result<Paged<(VersionRecord, i64)>> {
        let model = permit.model(name);
        let before = page.after::<i64>()?.unwrap_or(i64::MAX);
        let versions = self.versions(permit, name, page).await?;
        let counts: std::collections::HashMap<VersionNumber, i64> = self
            .models
            .signature_counts(&model, before, page.limit())
            .await?
            .into_iter()
            .collect();
        Ok(versions.map(|v| {
            let n = counts.get(&v.version).copied().unwrap_or(0);
            (v, n)
        }))
    }

    /// A version of a model in a namespace the caller holds a permit for.
    pub async fn version<A: crate::auth::Act>(
        &self,
        permit: &Permit<A>,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<VersionRecord> {
        let model = permit.model(name);
        match self.models.get_version(&model, number).await {
            Err(Error::NotFound) => Err(self.version_missing(&model, number).await),
            found => found,
        }
    }

    /// What is missing when a version is not found: its model, or the version.
    async fn version_missing(&self, model: &ModelRef, number: VersionNumber) -> Error {
        match self.model_exists(model).await {
            Ok(()) => Error::Missing(format!("version {model}@{number}")),
            Err(e) => e,
        }
    }

    /// A version with its files, the aliases that point at it, its signatures
    /// and the trust epoch, in one read.
    pub async fn version_entry<A: crate::auth::Act>(
        &self,
        permit: &Permit<A>,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<VersionEntry> {
        let model = permit.model(name);
        match self.models.get_version_entry(&model, number).await {
            Err(Error::NotFound) => Err(self.version_missing(&model, number).await),
            found => found,
        }
    }

    /// An error naming the model unless it exists.
    pub(crate) async fn model_exists(&self, model: &ModelRef) -> Result<()> {
        let found = self.models.get_model(model).await;
        found
            .map(drop)
            .map_err(|e| e.named(|| format!("model {model}")))
    }

    pub async fn files_of(&self, v: &VersionRecord) -> Result<Vec<FileRecord>> {
        self.models.files_of(v.id).await
    }

    /// Where the aliases of the version's model point that point at it.
    pub async fn aliases_at(&self, v: &VersionRecord) -> Result<Vec<AliasName>> {
        Ok(self
            .aliases
            .aliases_of(&v.model_ref())
            .await?
            .into_iter()
            .filter(|(_, n)| *n == v.version)
            .map(|(a, _)| a)
            .collect())
    }

    pub async fn seal(
        &self,
        permit: &Permit<Publish>,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<Sealed> {
        let v = self.version(permit, name, number).await?;
        if v.is_sealed() {
            return Err(Error::VersionSealed);
        }
        let root = |files: &[FileRecord]| statement::root_digest(&resources(files));
        permit.record("version", number.get().into());
        let version = self
            .models
            .seal_version(v.id, Utc::now(), &root, &permit.pending())
            .await?;
        let files = self.models.files_of(v.id).await?;
        let statement = self.statement_of(&version, &files)?;
        Ok(Sealed {
            version,
            files,
            statement,
        })
    }

    /// The unsigned statement of a sealed version: what a signer signs.
    pub async fn statement(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<Value> {
        let v = self.version(permit, name, number).await?;
        if !v.is_sealed() {
            return Err(Error::VersionNotSealed);
        }
        let files = self.models.files_of(v.id).await?;
        self.statement_of(&v, &files)
    }

    fn statement_of(&self, v: &VersionRecord, files: &[FileRecord]) -> Result<Value> {
        let sorted = resources(files);
        let bound = statement::Bound {
            lineage: &v.lineage.0,
            provenance: v.provenance.as_ref().map(|p| &p.0),
        };
        let st = statement::build(&self.name, &v.model_ref(), v.version, bound, &sorted);
        serde_json::to_value(&st).map_err(Error::internal)
    }
}

/// The namespaces a principal's listings may show.
fn visibility(p: &Principal) -> Visibility {
    if p.sees_all_namespaces() {
        Visibility::All
    } else {
        Visibility::MemberOf(p.name().clone())
    }
}

/// The sealed file set in statement order.
pub fn resources(files: &[FileRecord]) -> Vec<Resource> {
    let mut out: Vec<Resource> = files
        .iter()
        .map(|f| Resource {
            path: f.path.clone(),
            size: u64::try_from(f.size).unwrap_or_default(),
            sha256: f.sha256,
        })
        .collect();
    sort_resources(&mut out);
    out
}

/// Paths in statement order (for answers that list files).
pub fn sorted(mut files: Vec<FileRecord>) -> Vec<FileRecord> {
    files.sort_by(|a, b| a.path.cmp_components(&b.path));
    files
}

/// Whether a JSON value holds NUL in a string or a key (no database stores it).
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
