//! Garbage collection of blobs that no file of the registry references.
//!
//! An object becomes garbage when its upload was refused after completion, when a
//! crash struck between the upload and the database commit, or when a draft's file
//! was replaced or deleted. The grace period protects objects whose row is about to
//! be committed; objects still being written are invisible to listing (multipart
//! uploads appear only on completion), so they are never touched.

use futures::StreamExt;

use crate::blobs::{BlobKey, BlobStore};
use crate::error::Result;
use crate::store::BlobRefs;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    pub scanned: u64,
    pub deleted: u64,
    /// Resumable uploads that expired and were removed with their parts.
    pub expired_uploads: u64,
}

const BATCH: usize = 256;

/// Deletes every artifact object older than `grace` that no file row references.
pub async fn collect(
    store: &dyn BlobRefs,
    blobs: &BlobStore,
    grace: chrono::Duration,
) -> Result<GcReport> {
    let cutoff = chrono::Utc::now() - grace;
    let mut report = GcReport::default();
    let mut listing = blobs.list_artifacts();
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(item) = listing.next().await {
        let (id, modified) = item?;
        report.scanned += 1;
        if modified <= cutoff {
            batch.push(id);
        }
        if batch.len() >= BATCH {
            delete_unreferenced(store, blobs, &mut batch, &mut report).await?;
        }
    }
    delete_unreferenced(store, blobs, &mut batch, &mut report).await?;
    Ok(report)
}

async fn delete_unreferenced(
    store: &dyn BlobRefs,
    blobs: &BlobStore,
    batch: &mut Vec<uuid::Uuid>,
    report: &mut GcReport,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let referenced = store.referenced_blobs(batch).await?;
    for id in batch.drain(..) {
        if !referenced.contains(&id) {
            blobs.delete(BlobKey::Artifact(id)).await?;
            report.deleted += 1;
        }
    }
    Ok(())
}

/// A whole collection: expired resumable uploads with their parts first, then
/// every artifact object older than `grace` that no file references.
pub async fn run(
    refs: &dyn BlobRefs,
    uploads: &dyn crate::store::Uploads,
    blobs: &BlobStore,
    grace: chrono::Duration,
) -> Result<GcReport> {
    let expired_uploads = super::uploads::expire(uploads, blobs).await?;
    let report = collect(refs, blobs, grace).await?;
    Ok(GcReport {
        expired_uploads,
        ..report
    })
}

impl super::Registry {
    /// See [`run`].
    pub async fn collect_garbage(&self, grace: chrono::Duration) -> Result<GcReport> {
        run(&*self.refs, &*self.uploads, &self.blobs, grace).await
    }
}
