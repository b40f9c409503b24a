//! A version's files: streamed in (hashed, format recognised), removed from a
//! draft, and opened for download (hashed again on the way out).

use std::ops::Range;

use bytes::Bytes;
use chrono::Utc;
use futures::Stream;
use futures::stream::BoxStream;

use super::Registry;
use crate::auth::{Permit, Publish};
use crate::blobs::{BlobKey, Blocks, Written};
use crate::error::{Error, Result};
use crate::formats::{self, Finding};
use crate::kinds::FileFormat;
use crate::limits::floored;
use crate::names::{FilePath, ModelName, Sha256, VersionNumber};
use crate::store::{FileRecord, VersionRecord};

/// An open download: the byte stream and what the headers need.
pub struct Download {
    pub body: BoxStream<'static, Result<Bytes>>,
    pub size: u64,
    pub sha256: Sha256,
    /// `Some((range, total))` for a partial answer.
    pub range: Option<(Range<u64>, u64)>,
}

impl Registry {
    /// Streams a file into a draft version.
    ///
    /// Order matters (no partially written artifact is ever visible): the blob is
    /// written, and checked against the declared digest and the size limit,
    /// first; only then does one transaction record the file. A failure at any
    /// point leaves at most an unreferenced blob, which is removed.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload<S, E>(
        &self,
        permit: &Permit<Publish>,
        name: &ModelName,
        number: VersionNumber,
        path: &FilePath,
        declared_len: Option<u64>,
        declared: Option<Sha256>,
        body: S,
    ) -> Result<FileRecord>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        path.check_portable()?;
        let limit = self.bounds.max_file_size;
        if declared_len.is_some_and(|n| n > limit) {
            return Err(Error::TooLarge { limit });
        }
        let v = self.version(permit, name, number).await?;
        if v.is_sealed() {
            return Err(Error::VersionSealed);
        }
        let body = floored(self.bounds.upload_floor, body);
        let written = self.blobs.write(body, limit, declared).await?;
        let recorded = self.record(permit, &v, path, &written).await;
        if recorded.is_err() {
            // Refused after the bytes were stored (bad format, sealed meanwhile,
            // path clash): the blob is ours alone, so remove it now, not via GC.
            let _ = self.blobs.delete(BlobKey::Artifact(written.id)).await;
        }
        recorded
    }

    /// Checks a stored upload's format and records it as the file at `path`.
    async fn record(
        &self,
        permit: &Permit<Publish>,
        v: &VersionRecord,
        path: &FilePath,
        written: &Written,
    ) -> Result<FileRecord> {
        let found = self.inspect(path, written).await?;
        let file = file_record(path, written, found)?;
        self.models
            .put_file(v.id, &file, self.bounds.max_files, &permit.pending())
            .await?;
        crate::metrics::uploaded(written.size);
        Ok(file)
    }

    /// Recognises a stored file's format from its structure (see `format`),
    /// reading it with random access on a blocking thread. A file named
    /// `.safetensors` must be one.
    pub(super) async fn inspect(&self, path: &FilePath, w: &Written) -> Result<Finding> {
        let mut reader = self.blobs.reader(w.id, w.size);
        let size = w.size;
        let found = tokio::task::spawn_blocking(move || formats::inspect(&mut reader, size))
            .await
            .map_err(Error::internal)?
            .map_err(|e| Error::Unavailable(e.into()))?;
        if path.as_str().ends_with(".safetensors") && found.format != FileFormat::Safetensors {
            return Err(Error::InvalidSafetensors);
        }
        Ok(found)
    }

    pub async fn delete_file(
        &self,
        permit: &Permit<Publish>,
        name: &ModelName,
        number: VersionNumber,
        path: &FilePath,
    ) -> Result<()> {
        let v = self.version(permit, name, number).await?;
        if v.is_sealed() {
            return Err(Error::VersionSealed);
        }
        self.models.delete_file(v.id, path, &permit.pending()).await
    }
}

/// Where a client may fetch a file's bytes straight from the object store.
pub struct Presigned {
    pub url: String,
    pub size: u64,
}

impl Registry {
    /// A presigned URL for one of `files`, living `ttl`: the client fetches
    /// (and checks) the bytes itself. `None` when the store cannot presign.
    pub async fn presign_file(
        &self,
        files: &[FileRecord],
        path: &FilePath,
        ttl: std::time::Duration,
    ) -> Result<Option<Presigned>> {
        let f = files
            .iter()
            .find(|f| &f.path == path)
            .ok_or_else(|| Error::Missing(format!("file {path}")))?;
        let size = u64::try_from(f.size).map_err(Error::internal)?;
        Ok(self
            .blobs
            .presigned_get(f.blob_id, ttl)
            .await?
            .map(|url| Presigned { url, size }))
    }

    /// Whether files can be handed out as presigned URLs (an S3 store).
    pub fn can_presign(&self) -> bool {
        self.blobs.can_presign()
    }
}

impl Registry {
    /// Opens one of `files` for download, checked on the way out: a whole file
    /// against its recorded digest as it streams (the last chunk is held until it
    /// matches), a range block by block against what was recorded of its blocks
    /// (`blobs::Blocks`) before any of its bytes leave. A file stored before
    /// either was recorded gets its chaining values once, after the whole file
    /// checks out.
    pub async fn open_file(
        &self,
        files: Vec<FileRecord>,
        path: &FilePath,
        range: Option<RangeSpec>,
    ) -> Result<Download> {
        let f = files
            .into_iter()
            .find(|f| &f.path == path)
            .ok_or_else(|| Error::Missing(format!("file {path}")))?;
        let size = u64::try_from(f.size).map_err(Error::internal)?;
        match range.map(|r| r.resolve(size)).transpose()? {
            Some(r) => {
                let blocks = match (f.sha256_chain, f.block_digests) {
                    (Some(values), _) => Blocks::Chain {
                        values,
                        sha256: f.sha256,
                    },
                    (None, Some(digests)) => Blocks::Digests(digests),
                    (None, None) => {
                        let values = self.blobs.chain_of(f.blob_id, size, f.sha256).await?;
                        self.models.record_chain(f.blob_id, &values).await?;
                        Blocks::Chain {
                            values,
                            sha256: f.sha256,
                        }
                    }
                };
                let body = self
                    .blobs
                    .read_range_verified(f.blob_id, r.clone(), size, blocks)
                    .await?;
                Ok(Download {
                    body,
                    size: r.end - r.start,
                    sha256: f.sha256,
                    range: Some((r, size)),
                })
            }
            None => {
                let body = self.blobs.read_verified(f.blob_id, size, f.sha256).await?;
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

/// The record of a stored, inspected file.
pub(super) fn file_record(
    path: &FilePath,
    written: &Written,
    found: Finding,
) -> Result<FileRecord> {
    Ok(FileRecord {
        path: path.clone(),
        size: i64::try_from(written.size).map_err(Error::internal)?,
        sha256: written.sha256,
        blob_id: written.id,
        created_at: Utc::now(),
        format: found.format,
        format_reason: found.reason,
        block_digests: None,
        sha256_chain: written.chain.clone(),
    })
}

/// One byte range as a client asked for it (`bytes=a-b`, `bytes=a-`, `bytes=-n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    FromTo(u64, u64),
    From(u64),
    Suffix(u64),
    /// `bytes=a-b` with `b < a`: selects nothing (never satisfiable).
    Inverted,
}

impl RangeSpec {
    /// Parses a `Range` header. `None` means "ignore it and send everything", which
    /// RFC 9110 allows for forms we do not serve (several ranges, other units).
    pub fn parse(header: &str) -> Option<Self> {
        Self::parse_strict(header).filter(|r| *r != RangeSpec::Inverted)
    }

    /// [`RangeSpec::parse`], but a range whose last byte comes before its
    /// first is kept, to be refused (416) as OCI registries do.
    pub fn parse_strict(header: &str) -> Option<Self> {
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
                (Some(_), Some(_)) => Some(RangeSpec::Inverted),
                _ => None,
            },
            (true, true) => None,
        }
    }

    /// The half-open byte range within a file of `size` bytes.
    pub fn resolve(self, size: u64) -> Result<Range<u64>> {
        let r = match self {
            RangeSpec::FromTo(a, b) => a..b.saturating_add(1).min(size),
            RangeSpec::From(a) => a..size,
            RangeSpec::Suffix(n) => size.saturating_sub(n)..size,
            RangeSpec::Inverted => 0..0,
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
        assert_eq!(RangeSpec::parse("bytes=5-2"), None);
        assert_eq!(
            RangeSpec::parse_strict("bytes=5-2"),
            Some(RangeSpec::Inverted)
        );
        assert!(RangeSpec::Inverted.resolve(10).is_err());
        assert_eq!(RangeSpec::FromTo(0, 99).resolve(10).unwrap(), 0..10);
        assert_eq!(RangeSpec::Suffix(3).resolve(10).unwrap(), 7..10);
        assert!(RangeSpec::From(10).resolve(10).is_err());
        assert!(RangeSpec::Suffix(0).resolve(10).is_err());
    }
}
