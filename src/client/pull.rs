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

use super::local::{hash_prefix, local_files, read_named_text, unverified};
use super::outcome::Done;
use super::progress::Progress;
use super::{Client, Exit, Failure, Target};
use crate::api::paths;
use crate::names::{KeyId, ModelRef, Sha256, VersionNumber};
use crate::signing::keys::{PublicKey, parse_public_key};
use crate::signing::pinned::{Claims, claims, verify_binding};
use crate::signing::statement::{Resource, root_digest};

/// The name of the signature beside the files.
pub const SIGNATURE_FILE: &str = "model.sig";

fn read_key(path: &Path) -> Result<PublicKey, Failure> {
    let pem = read_named_text(path)?;
    parse_public_key(&pem).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// `signet pull NS/MODEL@ALIAS_OR_VERSION DIR --trust-key PUB… [--jobs N]`.
pub async fn pull(
    client: &Client,
    target: &str,
    dir: &Path,
    trust: &[PathBuf],
    jobs: usize,
    show_progress: bool,
) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let keys = super::config::trusted_keys(trust)?
        .iter()
        .map(|p| read_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    let (parent, dest) = destination(dir)?;
    let number = client.resolve(&target).await?;
    let version = number;
    let model = target.model_ref();

    let (doc, claims, keyid) = pinned_signature(client, &keys, &model, number).await?;

    // Every file into a directory beside the destination, checked on arrival.
    // It is named after the signed root digest: a pull of the same version
    // that was interrupted resumes from what it left there.
    let root = root_digest(&claims.resources).to_hex();
    let staging = parent.join(format!(".{dest}.signet-pull-{}", &root[..16]));
    // A lie wastes what came; an interruption leaves it to resume from.
    let cleanup = |e: Failure| {
        if e.exit == Exit::VerificationFailed {
            let _ = std::fs::remove_dir_all(&staging);
        }
        e
    };
    std::fs::create_dir_all(&staging)
        .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", staging.display())))?;
    let total: u64 = claims.resources.iter().map(|r| r.size).sum();
    let progress = Progress::new(show_progress, total, "pull");
    futures::stream::iter(claims.resources.iter().map(Ok))
        .try_for_each_concurrent(jobs.max(1), |r| {
            fetch(
                client,
                paths::file(&model, number, &r.path),
                r,
                &staging,
                &progress,
            )
        })
        .await
        .map_err(cleanup)?;
    progress.finish();
    tokio::fs::write(staging.join(SIGNATURE_FILE), &doc)
        .await
        .map_err(|e| {
            cleanup(Failure::new(
                Exit::Failure,
                format!("{SIGNATURE_FILE}: {e}"),
            ))
        })?;
    // An empty directory at the destination is replaced; anything else stays.
    let _ = std::fs::remove_dir(dir);
    std::fs::rename(&staging, dir).map_err(|e| {
        cleanup(Failure::new(
            Exit::Failure,
            format!("{}: {e}", dir.display()),
        ))
    })?;
    Ok(Done {
        human: format!(
            "{model}@{version}: {} files, {total} bytes, signed by {keyid}, into {}",
            claims.resources.len(),
            dir.display()
        ),
        json: json!({
            "model": model.to_string(), "version": version, "registry": claims.registry,
            "keyid": keyid.to_string(), "files": claims.resources.len(), "bytes": total,
            "directory": dir,
        }),
    })
}

/// The signature of a pinned key over this model and version, fetched from the
/// registry (its bundle) and checked here: the first pinned key whose bundle
/// verifies and binds this model and version. Answers the bundle, what it
/// claims, and the key's id.
async fn pinned_signature(
    client: &Client,
    keys: &[PublicKey],
    model: &ModelRef,
    number: VersionNumber,
) -> Result<(Vec<u8>, Claims, KeyId), Failure> {
    let mut why = String::from("the registry holds no signature by a pinned key");
    for key in keys {
        let doc = match client
            .get_bytes(&paths::bundle(model, number, &key.id))
            .await
        {
            Ok(doc) => doc,
            Err(f) if f.exit == Exit::NotFoundOrDenied => continue,
            Err(f) => return Err(f),
        };
        let checked = claims(&doc).and_then(|c| {
            verify_binding(&doc, key, &c, model, number, &c.resources).map(|id| (c, id))
        });
        match checked {
            Ok((c, id)) => {
                if c.resources
                    .iter()
                    .any(|r| r.path.as_str() == SIGNATURE_FILE)
                {
                    return Err(unverified(format!(
                        "the version holds a file named {SIGNATURE_FILE}"
                    )));
                }
                return Ok((doc, c, id));
            }
            Err(r) => {
                why = format!(
                    "the signature offered for key {} fails: {}",
                    key.id,
                    r.code()
                )
            }
        }
    }
    Err(unverified(why))
}

/// The destination's parent and name; the destination must not exist, or be an
/// empty directory.
fn destination(dir: &Path) -> Result<(PathBuf, String), Failure> {
    if let Ok(mut entries) = std::fs::read_dir(dir)
        && entries.next().is_some()
    {
        return Err(Failure::usage(format!(
            "{} exists and is not empty",
            dir.display()
        )));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(Failure::usage(format!("{} exists", dir.display())));
    }
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

/// `signet verify DIR --key PUB [--signature FILE]`: offline, no registry.
pub fn verify_dir(dir: &Path, keys: &[PathBuf], signature: Option<&Path>) -> Result<Done, Failure> {
    let keys = super::config::trusted_keys(keys)?
        .iter()
        .map(|p| read_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    let sig_path = signature.map_or_else(|| dir.join(SIGNATURE_FILE), Path::to_path_buf);
    let doc = std::fs::read(&sig_path)
        .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", sig_path.display())))?;
    let claims: Claims =
        claims(&doc).map_err(|r| unverified(format!("{}: {}", sig_path.display(), r.code())))?;
    let files = local_files(dir, Some(&sig_path))?;
    let mut refused = Vec::new();
    let keyid = keys
        .iter()
        .find_map(|key| {
            match verify_binding(&doc, key, &claims, &claims.model, claims.version, &files) {
                Ok(id) => Some(id),
                Err(r) => {
                    refused.push(format!("{}: {}", key.id, r.code()));
                    None
                }
            }
        })
        .ok_or_else(|| {
            unverified(format!(
                "{} does not match what a trusted key signed ({})",
                dir.display(),
                refused.join(", ")
            ))
        })?;
    Ok(Done {
        human: format!(
            "verified: {}@{} of {} ({} files), signed by {keyid}",
            claims.model,
            claims.version.get(),
            claims.registry,
            files.len()
        ),
        json: json!({
            "model": claims.model.to_string(), "version": claims.version.get(),
            "registry": claims.registry, "keyid": keyid.to_string(), "files": files.len(),
        }),
    })
}
