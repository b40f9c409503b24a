//! Appending to an upload session: the body received and hashed, its whole
//! parts stored and committed in batches, three stages at once.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::Digest;
use sha2::digest::common::hazmat::SerializableState;
use uuid::Uuid;

use super::*;

/// How long a stored part may wait for its commit.
const COMMIT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
/// How many stored bytes may wait for a commit.
const COMMIT_BYTES: u64 = 64 << 20;

/// Stored parts waiting for their commit.
#[derive(Default)]
struct Batch {
    /// Where the first starts (none: nothing waits).
    from: Option<u64>,
    /// Where the last ends.
    to: u64,
    parts: Vec<UploadPart>,
    /// The SHA-256 state at `to`.
    hash_state: Option<Vec<u8>>,
}

/// A stored part on its way to its commit.
struct Stored {
    from: u64,
    to: u64,
    part: UploadPart,
    hash_state: Vec<u8>,
}

/// A received part on its way to storage: the chunks it arrived in (not
/// copied into one buffer).
struct Received {
    from: u64,
    data: Vec<Bytes>,
    len: u64,
    hash_state: Vec<u8>,
    /// The file's SHA-256 chaining value at each block boundary inside the part
    /// and at its end.
    chain: Vec<u8>,
}

/// Where an append goes: a version's upload session, and the offset its bytes
/// start at, with the length the client declared (if it did).
pub struct AppendAt<'a> {
    pub model: &'a ModelName,
    pub version: VersionNumber,
    pub upload: Uuid,
    pub offset: u64,
    pub declared_len: Option<u64>,
}

/// The refusal of bytes past an upload's declared size.
fn too_many(size: u64) -> Error {
    Error::invalid(format!(
        "more bytes than the upload's declared size of {size}"
    ))
}

/// The receiving stage: the body, from `at` on, hashed as it arrives and cut
/// into whole parts, each handed on as it fills; a shorter last part only when
/// it ends the file. Pieces end at block boundaries (a part is whole blocks,
/// and parts start at part boundaries), where the hasher's chaining value is
/// kept.
async fn receive<S>(
    mut body: S,
    mut hasher: sha2::Sha256,
    mut at: u64,
    size: u64,
    parts: tokio::sync::mpsc::Sender<Received>,
) -> Result<()>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let (mut pieces, mut len, mut chain) = (Vec::new(), 0u64, Vec::new());
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk?;
        if at + len + chunk.len() as u64 > size {
            return Err(too_many(size));
        }
        while !chunk.is_empty() {
            let take = usize::try_from(BLOCK - len % BLOCK)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            let piece = chunk.split_to(take);
            hasher.update(&piece);
            len += piece.len() as u64;
            pieces.push(piece);
            if len.is_multiple_of(BLOCK) {
                chain.extend_from_slice(&chain_value(&hasher));
            }
            if len == PART {
                let part = Received {
                    from: at,
                    data: std::mem::take(&mut pieces),
                    len,
                    hash_state: hasher.serialize().to_vec(),
                    chain: std::mem::take(&mut chain),
                };
                at += PART;
                len = 0;
                if parts.send(part).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    if len > 0 && at + len == size {
        let part = Received {
            from: at,
            data: pieces,
            len,
            hash_state: hasher.serialize().to_vec(),
            chain,
        };
        let _ = parts.send(part).await;
    }
    Ok(())
}

impl Registry {
    /// Appends the bytes of `body` at `offset`, which must be the session's
    /// committed offset. Every whole part received is stored as it completes and
    /// committed within a second, so an interrupted request keeps what arrived
    /// whole; a tail shorter than a part is kept only when it ends the file. A
    /// declared length past the file's size is refused before anything is read.
    /// Answers the session as committed afterwards.
    pub async fn append_upload<S, E>(
        &self,
        permit: &Permit<Publish>,
        at: AppendAt<'_>,
        body: S,
    ) -> Result<Upload>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let v = self.version(permit, at.model, at.version).await?;
        if v.is_sealed() {
            return Err(Error::VersionSealed);
        }
        let _turn = self.turns.take(at.upload).await;
        let u = self.session(&v, at.upload).await?;
        if u.completed {
            return Err(Error::Conflict("the upload is already complete".into()));
        }
        permit.record("offset", serde_json::json!(at.offset));
        if at.offset != offset_of(&u) {
            return Err(Error::UploadOffsetMismatch {
                offset: offset_of(&u),
            });
        }
        let size = u64::try_from(u.size).map_err(Error::internal)?;
        if at
            .declared_len
            .is_some_and(|n| at.offset.saturating_add(n) > size)
        {
            return Err(too_many(size));
        }
        let hasher = resume_hash(&u)?;
        let body = floored(self.bounds.upload_floor, body);
        // Three stages at once: part n is committed while n + 1 is stored and
        // n + 2 arrives. Each stage owns the receiver of the one before it:
        // when a stage stops (an error), the one feeding it wakes and stops.
        let (received_tx, received_rx) = tokio::sync::mpsc::channel::<Received>(1);
        let (stored_tx, stored_rx) = tokio::sync::mpsc::unbounded_channel::<Stored>();
        let (received, stored, committed) = tokio::join!(
            receive(body, hasher, at.offset, size, received_tx),
            self.store_received(&u, received_rx, stored_tx),
            self.commit_stored(at.upload, stored_rx),
        );
        // What was stored before a failure is committed all the same.
        let committed = committed?;
        permit.record("committed", serde_json::json!(committed.committed));
        stored?;
        received?;
        Ok(committed)
    }

    /// The storing stage: each received part is stored, then handed on to be
    /// committed.
    async fn store_received(
        &self,
        u: &UploadRecord,
        mut received: tokio::sync::mpsc::Receiver<Received>,
        stored: tokio::sync::mpsc::UnboundedSender<Stored>,
    ) -> Result<()> {
        while let Some(p) = received.recv().await {
            let part = self.store_part(u, &p).await?;
            let done = Stored {
                from: p.from,
                to: p.from + p.len,
                part,
                hash_state: p.hash_state,
            };
            if stored.send(done).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// The committing stage: stored parts are committed together, a second
    /// after the first of them was stored or once 64 MiB wait, and when the
    /// request ends (a commit per part would make every 8 MiB wait for the
    /// database to reach the disk). Parts go on being received and stored while
    /// a commit waits for the database; what a broken request stored but did
    /// not commit is sent again. Answers the session as committed.
    async fn commit_stored(
        &self,
        id: Uuid,
        mut stored: tokio::sync::mpsc::UnboundedReceiver<Stored>,
    ) -> Result<Upload> {
        let mut batch = Batch::default();
        let mut due = tokio::time::Instant::now();
        loop {
            let next = if batch.from.is_none() {
                stored.recv().await
            } else {
                match tokio::time::timeout_at(due, stored.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        self.commit_parts(id, &mut batch).await?;
                        continue;
                    }
                }
            };
            let Some(p) = next else { break };
            if batch.from.is_none() {
                batch.from = Some(p.from);
                due = tokio::time::Instant::now() + COMMIT_AFTER;
            }
            batch.to = p.to;
            batch.parts.push(p.part);
            batch.hash_state = Some(p.hash_state);
            if batch.parts.len() as u64 * PART >= COMMIT_BYTES {
                self.commit_parts(id, &mut batch).await?;
            }
        }
        self.commit_parts(id, &mut batch).await?;
        self.uploads.get_upload(id).await
    }

    /// Stores one part; answers it for the commit that records it.
    async fn store_part(&self, u: &UploadRecord, p: &Received) -> Result<UploadPart> {
        let number = p.from / PART + 1;
        let etag = self
            .blobs
            .write_part(parts_of(u), number, p.from, p.data.clone())
            .await?;
        Ok(UploadPart {
            number: i64::try_from(number).map_err(Error::internal)?,
            etag,
            blocks: Vec::new(),
            chain: Some(p.chain.clone()),
        })
    }

    /// Records stored parts: the session moves on to the end of the last.
    async fn commit_parts(&self, id: Uuid, batch: &mut Batch) -> Result<()> {
        let (Some(from), Some(state)) = (batch.from, batch.hash_state.take()) else {
            return Ok(());
        };
        self.uploads
            .commit_parts(
                id,
                &PartCommit {
                    from: i64::try_from(from).map_err(Error::internal)?,
                    to: i64::try_from(batch.to).map_err(Error::internal)?,
                    parts: std::mem::take(&mut batch.parts),
                    hash_state: state,
                    expires_at: Utc::now().timestamp() + self.upload_ttl_secs(),
                },
            )
            .await?;
        batch.from = None;
        Ok(())
    }
}
