//! `signet pull` and `signet verify`: a deployer trusts the keys it pins, not
//! the server. A pull verifies the signature locally, fetches every file the
//! signed statement lists into a directory beside the destination, checks
//! each file's size and SHA-256 against the statement while it arrives, and
//! only then moves the whole directory into place, with the signature beside
//! the files as `model.sig`. Any lie ends the pull with nothing at the
//! destination.

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};

use serde_json::json;
use sha2::Digest;

use super::local::{hash_prefix, read_key, unverified};
use super::outcome::Done;
use super::place::{self, Found};
use super::progress::Progress;
use super::{At, Client, Exit, Failure, Target};
use crate::api::{VersionView, paths};
use crate::names::{KeyId, ModelRef, Sha256, VersionNumber};
use crate::signing::keys::PublicKey;
use crate::signing::pinned::{Claims, claims, verify_binding};
use crate::signing::statement::{Resource, root_digest};

pub use super::local::SIGNATURE_FILE;

/// How a pull runs and lands.
pub struct PullOptions<'a> {
    /// Pinned public keys (none: the trust directory's).
    pub trust: &'a [PathBuf],
    /// Files downloaded at once.
    pub jobs: usize,
    pub progress: bool,
    /// Replace a destination that holds something other than a verified pull.
    pub force: bool,
    /// Keep the pull a redeploy replaces, as `DIR.previous`.
    pub keep_previous: bool,
    /// Predicate types of which an attestation signed by a pinned key must
    /// be stored.
    pub attestations: &'a [String],
}

/// `signet pull NS/MODEL@ALIAS_OR_VERSION DIR --trust-key PUB… [--jobs N]`.
pub async fn pull(
    client: &Client,
    target: &str,
    dir: &Path,
    o: &PullOptions<'_>,
) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let keys = super::config::trusted_keys(o.trust)?
        .iter()
        .map(|p| read_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    let (parent, dest) = destination(dir)?;
    let number = client.resolve(&target).await?;
    let model = target.model_ref();
    let asked = match &target.at {
        At::Alias(a) => format!("{model}@{a} → {number}"),
        At::Version(_) => format!("{model}@{number}"),
    };

    let (doc, claims, keyid) = pinned_signature(client, &keys, &model, number).await?;
    let mut attested = Vec::new();
    for t in o.attestations {
        let (id, by) =
            super::attested::pinned_attestation(client, &keys, &claims, (&model, number), t)
                .await?;
        attested.push(json!({"predicate_type": t, "id": id, "keyid": by.to_string()}));
    }
    let root = root_digest(&claims.resources);
    let found = place::inspect(dir, &keys, &model, number, &root)?;
    let replaced = match &found {
        Found::Same => {
            return Ok(Done {
                human: format!("already at {model}@{number} ({asked}) in {}", dir.display()),
                json: json!({
                    "model": model.to_string(), "version": number, "keyid": keyid.to_string(),
                    "directory": dir, "unchanged": true,
                }),
            });
        }
        Found::Other if !o.force => {
            return Err(Failure::usage(format!(
                "{} holds something other than a verified pull; --force replaces it",
                dir.display()
            )));
        }
        Found::Pulled(was) => Some(was.clone()),
        Found::Other => Some("files not pulled by signet".to_owned()),
        Found::Nothing => None,
    };

    // Every file into a directory beside the destination, checked on arrival.
    // It is named after the signed root digest: a pull of the same version
    // that was interrupted resumes from what it left there.
    let staging = parent.join(format!(".{dest}.signet-pull-{}", &root.to_hex()[..16]));
    fetch_all(client, &claims, &doc, &staging, (&model, number), o).await?;
    let kept = place::swap_in(&staging, dir, replaced.is_some(), o.keep_previous)?;
    let total: u64 = claims.resources.iter().map(|r| r.size).sum();
    let mut human = format!(
        "{asked}: {} files, {total} bytes, signed by {keyid}, into {}",
        claims.resources.len(),
        dir.display()
    );
    if let Some(was) = &replaced {
        human.push_str(&format!(" (replacing {was})"));
    }
    Ok(Done {
        human,
        json: json!({
            "model": model.to_string(), "version": number, "registry": claims.registry,
            "keyid": keyid.to_string(), "files": claims.resources.len(), "bytes": total,
            "directory": dir, "replaced": replaced, "previous": kept,
            "attestations": attested,
        }),
    })
}

/// Fetches every file the signed statement lists into `staging`, checked on
/// arrival, with the signature beside them. A lie wastes what came; an
/// interruption leaves it to resume from.
async fn fetch_all(
    client: &Client,
    claims: &Claims,
    doc: &[u8],
    staging: &Path,
    (model, number): (&ModelRef, VersionNumber),
    o: &PullOptions<'_>,
) -> Result<(), Failure> {
    let cleanup = |e: Failure| {
        if e.exit == Exit::VerificationFailed {
            let _ = std::fs::remove_dir_all(staging);
        }
        e
    };
    std::fs::create_dir_all(staging)
        .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", staging.display())))?;
    let total: u64 = claims.resources.iter().map(|r| r.size).sum();
    let progress = Progress::new(o.progress, total, "pull");
    futures::stream::iter(claims.resources.iter().map(Ok))
        .try_for_each_concurrent(o.jobs.max(1), |r| {
            fetch(
                client,
                paths::file(model, number, &r.path),
                r,
                staging,
                &progress,
            )
        })
        .await
        .map_err(cleanup)?;
    progress.finish();
    tokio::fs::write(staging.join(SIGNATURE_FILE), doc)
        .await
        .map_err(|e| {
            cleanup(Failure::new(
                Exit::Failure,
                format!("{SIGNATURE_FILE}: {e}"),
            ))
        })
}

/// The signature of a pinned key over this model and version, fetched from the
/// registry (its bundle) and checked here: the first pinned key whose bundle
/// verifies and binds this model and version, and whose signature the
/// registry's revocations do not cancel. Answers the bundle, what it claims,
/// and the key's id.
async fn pinned_signature(
    client: &Client,
    keys: &[PublicKey],
    model: &ModelRef,
    number: VersionNumber,
) -> Result<(Vec<u8>, Claims, KeyId), Failure> {
    let mut why = Vec::new();
    for key in keys {
        let doc = match client
            .get_bytes(&paths::bundle(model, number, &key.id))
            .await
        {
            Ok(doc) => doc,
            Err(f)
                if f.exit == Exit::NotFoundOrDenied && f.code.as_deref() == Some("not_found") =>
            {
                continue;
            }
            Err(f) => return Err(f),
        };
        let checked = claims(&doc).and_then(|c| {
            verify_binding(&doc, key, &c, model, number, &c.resources).map(|id| (c, id))
        });
        let (c, id) = match checked {
            Ok(found) => found,
            Err(r) => {
                why.push(format!(
                    "the signature offered for key {} fails: {}",
                    key.id,
                    r.code()
                ));
                continue;
            }
        };
        if c.resources
            .iter()
            .any(|r| r.path.as_str() == SIGNATURE_FILE)
        {
            return Err(unverified(format!(
                "the version holds a file named {SIGNATURE_FILE}"
            )));
        }
        match super::revocation::cancelled(client, &id, model, number).await? {
            None => return Ok((doc, c, id)),
            Some(revoked) => why.push(revoked),
        }
    }
    if why.is_empty() {
        return Err(unverified(
            no_pinned_signature(client, keys, model, number).await?,
        ));
    }
    Err(unverified(why.join("; ")))
}

/// Who signed the version, when none of the pinned keys did.
async fn no_pinned_signature(
    client: &Client,
    keys: &[PublicKey],
    model: &ModelRef,
    number: VersionNumber,
) -> Result<String, Failure> {
    let v: VersionView = client.get(&paths::version(model, number)).await?;
    let signers: Vec<String> = v
        .signatures
        .iter()
        .map(|s| match s.key_name.as_str() {
            "" => s.keyid.to_string(),
            name => format!("{name} ({})", s.keyid),
        })
        .collect();
    let pinned: Vec<String> = keys.iter().map(|k| k.id.to_string()).collect();
    Ok(match signers.is_empty() {
        true => format!(
            "{model}@{number} is not signed; pinned: {}",
            pinned.join(", ")
        ),
        false => format!(
            "no pinned key signed {model}@{number}: signed by {}; pinned: {}",
            signers.join(", "),
            pinned.join(", ")
        ),
    })
}

/// The destination's parent and name.
fn destination(dir: &Path) -> Result<(PathBuf, String), Failure> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Failure::usage(format!("{}: not a directory name", dir.display())))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// Downloads one file into `staging`, checking its size and digest against the
/// signed statement as it arrives. What an interrupted pull left of it is kept
/// (its bytes are hashed again) and the rest asked for with `Range`.
async fn fetch(
    client: &Client,
    url: String,
    r: &Resource,
    staging: &Path,
    progress: &Progress,
) -> Result<(), Failure> {
    let bar = progress.file(r.path.as_str(), r.size);
    let path = staging.join(r.path.as_str());
    let io = |e: std::io::Error| Failure::new(Exit::Failure, format!("{}: {e}", path.display()));
    if let Some(p) = path.parent() {
        tokio::fs::create_dir_all(p).await.map_err(io)?;
    }
    let (kept, hasher) = match kept_of(&path, r).map_err(io)? {
        Some(part) => part,
        None => {
            bar.advance(r.size);
            bar.finish();
            return Ok(());
        }
    };
    let (body, ranged) = client.stream_from(&url, kept).await?;
    let (file, so_far) = if ranged {
        bar.advance(kept);
        let f = std::fs::OpenOptions::new().append(true).open(&path);
        (f.map_err(io)?, (hasher, kept))
    } else {
        let f = std::fs::File::create(&path);
        (f.map_err(io)?, (sha2::Sha256::new(), 0))
    };
    let (file, (hasher, seen)) = receive(body, r, file, so_far, &bar).await?;
    let digest = Sha256::from_bytes(hasher.finalize().into());
    if seen != r.size || digest != r.sha256 {
        return Err(unverified(format!(
            "{}: the bytes served are not the ones signed",
            r.path.as_str()
        )));
    }
    bar.finish();
    tokio::task::spawn_blocking(move || file.sync_all())
        .await
        .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", path.display())))?
        .map_err(io)
}

/// What an earlier pull left of the file: its length and the hash state of
/// its bytes, to go on from (none left: from the start); `None` when it is
/// already whole and right.
fn kept_of(path: &Path, r: &Resource) -> std::io::Result<Option<(u64, sha2::Sha256)>> {
    let (kept, hasher) = match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() <= r.size => hash_prefix(path)?,
        _ => (0, sha2::Sha256::new()),
    };
    if kept == r.size {
        if Sha256::from_bytes(hasher.clone().finalize().into()) == r.sha256 {
            return Ok(None);
        }
        // Whole but wrong: fetched again from the start.
        return Ok(Some((0, sha2::Sha256::new())));
    }
    Ok(Some((kept, hasher)))
}

/// Receives the rest of a file into `file`: what arrives is hashed here and
/// written by a thread of its own, 1 MiB at a time (the chunks as they came,
/// without copying them into one buffer), so hashing goes on while a write
/// waits for the disk. What arrived is written even when the transfer breaks,
/// for the next attempt to go on from. Answers the file, and the hash state
/// and count of every byte it holds.
async fn receive(
    mut body: futures::stream::BoxStream<'static, Result<bytes::Bytes, Failure>>,
    r: &Resource,
    file: std::fs::File,
    (mut hasher, mut seen): (sha2::Sha256, u64),
    bar: &super::progress::FileBar,
) -> Result<(std::fs::File, (sha2::Sha256, u64)), Failure> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<bytes::Bytes>>(WRITES_QUEUED);
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = file;
        while let Some(batch) = rx.blocking_recv() {
            crate::vectored::write_chunks(&mut file, &batch)?;
        }
        Ok::<_, std::io::Error>(file)
    });
    let (mut batch, mut batched) = (Vec::new(), 0);
    let received = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            if seen > r.size {
                return Err(unverified(format!(
                    "{}: more bytes than the signed statement says",
                    r.path.as_str()
                )));
            }
            hasher.update(&chunk);
            bar.advance(chunk.len() as u64);
            batched += chunk.len();
            batch.push(chunk);
            if batched >= WRITE_BATCH {
                batched = 0;
                if tx.send(std::mem::take(&mut batch)).await.is_err() {
                    break;
                }
            }
        }
        Ok(())
    }
    .await;
    if !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
    drop(tx);
    let failed = |e: String| Failure::new(Exit::Failure, format!("{}: {e}", r.path.as_str()));
    let file = writer
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(e.to_string()))?;
    received?;
    Ok((file, (hasher, seen)))
}

/// Batches of a download waiting for their write: what the receiving side
/// may run ahead of the disk by.
const WRITES_QUEUED: usize = 4;

/// Bytes of a download written to its file at once.
const WRITE_BATCH: usize = 1 << 20;
