//! The transparency log from the client: a checkpoint fetched and checked
//! with the log key the auditor pinned, and the key the registry announces.

use std::path::Path;

use base64::Engine;
use serde_json::json;

use super::commands::signed_in;
use super::{Done, Exit, Failure};
use crate::api::{ConsistencyProof, paths};
use crate::tlog::note::{Checkpoint, NoteVerifier};

/// The pinned verifier key: a file holding it, or the key itself.
fn pinned(log_key: &str) -> Result<NoteVerifier, Failure> {
    let text = match std::fs::read_to_string(log_key) {
        Ok(t) => t,
        Err(_) if log_key.contains('+') => log_key.to_owned(),
        Err(e) => return Err(Failure::usage(format!("--log-key {log_key}: {e}"))),
    };
    NoteVerifier::parse(&text).map_err(|e| Failure::usage(format!("--log-key: {e}")))
}

/// The registry's latest checkpoint, opened with the pinned key.
async fn latest(
    client: &super::Client,
    key: &NoteVerifier,
) -> Result<(Checkpoint, String), Failure> {
    let bytes = client.get_bytes(paths::AUDIT_LOG_CHECKPOINT).await?;
    let note = String::from_utf8(bytes)
        .map_err(|_| Failure::new(Exit::VerificationFailed, "the checkpoint is not text"))?;
    let c = key.open(&note).map_err(|e| {
        Failure::new(
            Exit::VerificationFailed,
            format!("the registry's checkpoint does not check out with the pinned log key: {e}"),
        )
    })?;
    Ok((c, note))
}

/// `signet audit checkpoint --log-key KEY [--out FILE]`.
pub async fn checkpoint(log_key: &str, out: Option<&Path>) -> Result<Done, Failure> {
    let key = pinned(log_key)?;
    let (c, note) = latest(&signed_in()?, &key).await?;
    if let Some(path) = out {
        std::fs::write(path, &note)
            .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", path.display())))?;
    }
    let root = base64::engine::general_purpose::STANDARD.encode(c.root);
    Ok(Done {
        human: format!(
            "checkpoint of {} events, root {root}, signed by {}{}",
            c.size,
            key.name(),
            out.map(|p| format!(" (in {})", p.display()))
                .unwrap_or_default()
        ),
        json: json!({"origin": c.origin, "size": c.size, "root": root, "file": out}),
    })
}

/// `signet audit log-key`.
pub async fn log_key() -> Result<Done, Failure> {
    let bytes = signed_in()?.get_bytes(paths::AUDIT_LOG_KEY).await?;
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    NoteVerifier::parse(&text).map_err(|e| {
        Failure::new(
            Exit::Failure,
            format!("the registry's log key is malformed: {e}"),
        )
    })?;
    Ok(Done {
        human: text.clone(),
        json: json!({"log_key": text}),
    })
}

/// `signet audit verify --since OLD --log-key KEY`: the old checkpoint and the
/// registry's latest both open with the pinned key, and the registry's
/// consistency proof shows the old tree is a prefix of the new one.
pub async fn grew_since(since: &Path, log_key: &str) -> Result<Done, Failure> {
    let key = pinned(log_key)?;
    let failed = |m: String| Failure::new(Exit::VerificationFailed, m);
    let old_note = std::fs::read_to_string(since)
        .map_err(|e| Failure::usage(format!("--since {}: {e}", since.display())))?;
    let old = key.open(&old_note).map_err(|e| {
        failed(format!(
            "{}: not a checkpoint of the pinned log key: {e}",
            since.display()
        ))
    })?;
    let client = signed_in()?;
    let (new, _) = latest(&client, &key).await?;
    if new.size < old.size {
        return Err(failed(format!(
            "the log shrank: {} events then, {} now",
            old.size, new.size
        )));
    }
    let path = format!(
        "{}?from={}&to={}",
        paths::AUDIT_LOG_CONSISTENCY,
        old.size,
        new.size
    );
    let proof: ConsistencyProof = client.get(&path).await?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| {
            base64::engine::general_purpose::STANDARD
                .decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| failed("the consistency proof holds a malformed hash".into()))?;
    if !crate::tlog::check_consistency(old.size, new.size, &old.root, &new.root, &hashes) {
        return Err(failed(format!(
            "the log was rewritten: the tree of {} events is not a prefix of the tree of {}",
            old.size, new.size
        )));
    }
    Ok(Done {
        human: format!(
            "the log only grew: {} events at {}, {} now",
            old.size,
            since.display(),
            new.size
        ),
        json: json!({"ok": true, "from": old.size, "to": new.size}),
    })
}
