//! Namespaces, models, versions and their files.
//!
//! Dependency rule: handlers call [`Registry`]; it calls `store` (metadata),
//! `blobs` (bytes) and `signing` (statements). State-changing operations take a
//! [`Permit`], so they cannot be reached without an authorization decision.

pub mod format;
pub mod lineage;
pub mod promotion;
pub mod quarantine;
pub mod trust;

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use futures::Stream;
use futures::stream::BoxStream;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{self, Action, Permit, Principal, Resource};
use crate::blobs::BlobStore;
use crate::error::{Error, Result};
use crate::names::{FilePath, ModelRef, Namespace, Sha256, VersionNumber};
use crate::signing::statement;
use crate::store::{FileRecord, ModelRecord, NamespaceRecord, NewVersion, Store, VersionRecord};
use format::{Format, Sniff};
pub use lineage::Lineage;
use promotion::resources;

/// The registry's domain service: one per process, shared by all requests.
pub struct Registry {
    pub store: Arc<dyn Store>,
    pub blobs: BlobStore,
    /// The name this service signs statements for (`predicate.signet.registry`).
    pub name: String,
    pub max_file_size: u64,
}

/// Free-form version metadata is capped so it cannot be used to store artifacts.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// A sealed version with the statement a signer signs.
pub struct Sealed {
    pub version: VersionRecord,
    pub files: Vec<FileRecord>,
    pub statement: Value,
}

/// An open download: the byte stream and what the headers need.
pub struct Download {
    pub body: BoxStream<'static, Result<Bytes>>,
    pub size: u64,
    pub sha256: String,
    /// `Some((range, total))` for a partial answer.
    pub range: Option<(Range<u64>, u64)>,
}

impl Registry {
    pub async fn create_namespace(
        &self,
        _: &Permit,
        by: &Principal,
        name: &Namespace,
        description: String,
    ) -> Result<NamespaceRecord> {
        let ns = NamespaceRecord {
            name: name.to_string(),
            description,
            created_at: Utc::now(),
            created_by: by.name.clone(),
        };
        self.store.create_namespace(&ns).await?;
        Ok(ns)
    }

    pub async fn create_model(
        &self,
        _: &Permit,
        by: &Principal,
        model: &ModelRef,
        description: String,
    ) -> Result<ModelRecord> {
        // The namespace was authorized, so it exists for this principal; a missing
        // one surfaces as NotFound from the foreign key.
        let m = ModelRecord {
            id: Uuid::now_v7(),
            namespace: model.namespace.to_string(),
            name: model.name.to_string(),
            description,
            created_at: Utc::now(),
            created_by: by.name.clone(),
            latest_version: None,
        };
        self.store.create_model(&m).await?;
        Ok(m)
    }

    pub async fn model(&self, model: &ModelRef) -> Result<ModelRecord> {
        self.store
            .get_model(model.namespace.as_str(), model.name.as_str())
            .await
    }

    /// Creates a draft version. Parents must exist, be visible to the creator and
    /// be sealed: a draft parent could still change under its children, and
    /// since parents are sealed before children exist, lineage has no cycles.
    pub async fn create_version(
        &self,
        _: &Permit,
        by: &Principal,
        model: &ModelRef,
        lineage: Lineage,
        metadata: Value,
    ) -> Result<VersionRecord> {
        if !metadata.is_object() {
            return Err(Error::invalid("metadata must be a JSON object"));
        }
        if serde_json::to_vec(&metadata)
            .map_err(Error::internal)?
            .len()
            > MAX_METADATA_BYTES
        {
            return Err(Error::invalid("metadata is limited to 64 KiB"));
        }
        let mut parent_ids = Vec::with_capacity(lineage.parents.len());
        for p in &lineage.parents {
            let missing = || {
                Error::InvalidLineage(format!(
                    "parent {}@{} does not exist or is not sealed",
                    p.model, p.version
                ))
            };
            match auth::authorize(by, Action::Read, Resource::Namespace(&p.model.namespace)) {
                Ok(_) => {}
                Err(Error::NotFound | Error::Forbidden) => return Err(missing()),
                Err(e) => return Err(e),
            }
            match self.version(&p.model, p.version).await {
                Ok(v) if v.is_sealed() => parent_ids.push(v.id),
                Ok(_) | Err(Error::NotFound) => return Err(missing()),
                Err(e) => return Err(e),
            }
        }
        let new = NewVersion {
            id: Uuid::now_v7(),
            code_commit: lineage
                .code
                .as_ref()
                .and_then(|c| c.commit.as_ref())
                .map(|c| c.as_str().to_owned()),
            datasets: lineage.data.iter().map(|d| d.sha256.to_hex()).collect(),
            parents: parent_ids,
            lineage: serde_json::to_value(&lineage).map_err(Error::internal)?,
            metadata,
            created_at: Utc::now(),
            created_by: by.name.clone(),
        };
        self.store
            .create_version(model.namespace.as_str(), model.name.as_str(), &new)
            .await
    }

    pub async fn version(&self, model: &ModelRef, v: VersionNumber) -> Result<VersionRecord> {
        self.store
            .get_version(model.namespace.as_str(), model.name.as_str(), v.get())
            .await
    }

    /// Streams a file into a draft version.
    ///
    /// Order matters for invariant 4: the blob is written (and checked against the
    /// declared digest and size limit) first; only then does one transaction record
    /// the file. A failure at any point leaves at most an unreferenced blob for GC.
    pub async fn upload<S, E>(
        &self,
        _: &Permit,
        v: &VersionRecord,
        path: &FilePath,
        body: S,
        declared: Option<Sha256>,
    ) -> Result<FileRecord>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if v.is_sealed() {
            return Err(Error::VersionSealed);
        }
        let written = self.blobs.write(body, self.max_file_size, declared).await?;
        let recorded = self.record(v, path, &written).await;
        if recorded.is_err() {
            // Refused after the bytes were stored (bad format, sealed meanwhile, path
            // clash): the blob is ours alone, so remove it now rather than via GC.
            let _ = self
                .blobs
                .delete(crate::blobs::BlobKey::Artifact(written.id))
                .await;
        }
        recorded
    }

    /// Checks a stored upload's format and records it as the file at `path`.
    async fn record(
        &self,
        v: &VersionRecord,
        path: &FilePath,
        written: &crate::blobs::Written,
    ) -> Result<FileRecord> {
        let format = self.inspect(path, written).await?;
        let file = FileRecord {
            path: path.to_string(),
            size: i64::try_from(written.size).map_err(Error::internal)?,
            sha256: written.sha256.to_hex(),
            blob_id: written.id,
            created_at: Utc::now(),
            format: format.as_str().to_owned(),
        };
        self.store.put_file(v.id, &file).await?;
        crate::metrics::UPLOADED_BYTES.add(written.size);
        Ok(file)
    }

    /// Recognises a stored file's format from its bytes (head, and for zip archives
    /// the central directory). A file named `.safetensors` must be one.
    async fn inspect(&self, path: &FilePath, w: &crate::blobs::Written) -> Result<Format> {
        let head = self
            .blobs
            .read_bytes(w.id, 0..w.size.min(format::HEAD))
            .await?;
        let found = match format::sniff(&head, w.size) {
            Sniff::Known(f) => f,
            Sniff::Zip => {
                let tail = self
                    .blobs
                    .read_bytes(w.id, w.size.saturating_sub(format::TAIL)..w.size)
                    .await?;
                if format::zip_holds_pickle(&tail) {
                    Format::Pickle
                } else {
                    Format::Unknown
                }
            }
            Sniff::SafetensorsHeader(n) if n <= format::MAX_SAFETENSORS_HEADER => {
                let header = if 8 + n <= head.len() as u64 {
                    head.slice(8..8 + n as usize)
                } else {
                    self.blobs.read_bytes(w.id, 8..8 + n).await?
                };
                if format::safetensors_header_ok(&header, w.size) {
                    Format::Safetensors
                } else {
                    Format::Unknown
                }
            }
            Sniff::SafetensorsHeader(_) => Format::Unknown,
        };
        if path.as_str().ends_with(".safetensors") && found != Format::Safetensors {
            return Err(Error::InvalidSafetensors);
        }
        Ok(found)
    }

    pub async fn delete_file(&self, _: &Permit, v: &VersionRecord, path: &FilePath) -> Result<()> {
        if v.is_sealed() {
            return Err(Error::VersionSealed);
        }
        self.store.delete_file(v.id, path.as_str()).await
    }

    pub async fn seal(&self, _: &Permit, v: &VersionRecord) -> Result<Sealed> {
        if v.is_sealed() {
            return Err(Error::VersionSealed);
        }
        let root = |files: &[FileRecord]| match resources(files) {
            Ok(sorted) => statement::root_digest(&sorted).to_hex(),
            // Stored rows were validated on the way in; an unparsable one is a bug,
            // and an impossible digest makes every later signature check fail.
            Err(_) => String::new(),
        };
        let version = self.store.seal_version(v.id, Utc::now(), &root).await?;
        let files = self.store.files_of(v.id).await?;
        let statement = self.statement(&version, &files)?;
        Ok(Sealed {
            version,
            files,
            statement,
        })
    }

    /// The unsigned statement of a sealed version.
    pub fn statement(&self, v: &VersionRecord, files: &[FileRecord]) -> Result<Value> {
        let (model, sorted) = promotion::statement_inputs(v, files)?;
        let st = statement::build(
            &self.name,
            &model,
            VersionNumber::new(v.version)?,
            &v.lineage.0,
            &sorted,
        );
        serde_json::to_value(&st).map_err(Error::internal)
    }

    /// Opens a file for download. Whole-file reads are verified against the recorded
    /// digest as they stream; a range cannot be checked against a whole-file digest,
    /// so it is served as stored and the client checks the assembled file against
    /// `X-Checksum-Sha256`.
    pub async fn open_file(
        &self,
        files: Vec<FileRecord>,
        path: &FilePath,
        range: Option<RangeSpec>,
    ) -> Result<Download> {
        let f = files
            .into_iter()
            .find(|f| f.path == path.as_str())
            .ok_or(Error::NotFound)?;
        let size = u64::try_from(f.size).map_err(Error::internal)?;
        match range.map(|r| r.resolve(size)).transpose()? {
            Some(r) => {
                let body = self.blobs.read(f.blob_id, Some(r.clone())).await?;
                Ok(Download {
                    body,
                    size: r.end - r.start,
                    sha256: f.sha256,
                    range: Some((r, size)),
                })
            }
            None => {
                let digest = Sha256::parse(&f.sha256)?;
                let body = self.blobs.read_verified(f.blob_id, size, digest).await?;
                Ok(Download {
                    body,
                    size,
                    sha256: f.sha256,
                    range: None,
                })
            }
        }
    }
}

/// One byte range as a client asked for it (`bytes=a-b`, `bytes=a-`, `bytes=-n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    FromTo(u64, u64),
    From(u64),
    Suffix(u64),
}

impl RangeSpec {
    /// Parses a `Range` header. `None` means "ignore it and send everything", which
    /// RFC 9110 allows for forms we do not serve (several ranges, other units).
    pub fn parse(header: &str) -> Option<Self> {
        let spec = header.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        let num = |s: &str| s.trim().parse::<u64>().ok();
        match (a.trim().is_empty(), b.trim().is_empty()) {
            (true, false) => num(b).map(RangeSpec::Suffix),
            (false, true) => num(a).map(RangeSpec::From),
            (false, false) => match (num(a), num(b)) {
                (Some(a), Some(b)) if a <= b => Some(RangeSpec::FromTo(a, b)),
                _ => None,
            },
            (true, true) => None,
        }
    }

    /// The half-open byte range within a file of `size` bytes.
    fn resolve(self, size: u64) -> Result<Range<u64>> {
        let r = match self {
            RangeSpec::FromTo(a, b) => a..b.saturating_add(1).min(size),
            RangeSpec::From(a) => a..size,
            RangeSpec::Suffix(n) => size.saturating_sub(n)..size,
        };
        if r.start >= r.end {
            return Err(Error::RangeNotSatisfiable { size });
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_resolve() {
        assert_eq!(RangeSpec::parse("bytes=0-9"), Some(RangeSpec::FromTo(0, 9)));
        assert_eq!(RangeSpec::parse("bytes=5-"), Some(RangeSpec::From(5)));
        assert_eq!(RangeSpec::parse("bytes=-3"), Some(RangeSpec::Suffix(3)));
        assert_eq!(RangeSpec::parse("bytes=0-1,3-4"), None);
        assert_eq!(RangeSpec::parse("items=0-1"), None);
        assert_eq!(RangeSpec::FromTo(0, 99).resolve(10).unwrap(), 0..10);
        assert_eq!(RangeSpec::Suffix(3).resolve(10).unwrap(), 7..10);
        assert!(RangeSpec::From(10).resolve(10).is_err());
        assert!(RangeSpec::Suffix(0).resolve(10).is_err());
    }
}
