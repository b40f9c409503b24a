//! The transparency log from the client: a checkpoint fetched and checked
//! with the log key the auditor pinned, and the key the registry announces.

use std::path::Path;

use base64::Engine;
use serde_json::json;

use super::commands::signed_in;
use super::{Done, Exit, Failure};
use crate::api::paths;
use crate::tlog::note::NoteVerifier;

/// The pinned verifier key: a file holding it, or the key itself.
fn pinned(log_key: &str) -> Result<NoteVerifier, Failure> {
    let text = match std::fs::read_to_string(log_key) {
        Ok(t) => t,
        Err(_) if log_key.contains('+') => log_key.to_owned(),
        Err(e) => return Err(Failure::usage(format!("--log-key {log_key}: {e}"))),
    };
    NoteVerifier::parse(&text).map_err(|e| Failure::usage(format!("--log-key: {e}")))
}

/// `signet audit checkpoint --log-key KEY [--out FILE]`.
pub async fn checkpoint(log_key: &str, out: Option<&Path>) -> Result<Done, Failure> {
    let key = pinned(log_key)?;
    let bytes = signed_in()?.get_bytes(paths::AUDIT_LOG_CHECKPOINT).await?;
    let note = String::from_utf8(bytes)
        .map_err(|_| Failure::new(Exit::VerificationFailed, "the checkpoint is not text"))?;
    let c = key.open(&note).map_err(|e| {
        Failure::new(
            Exit::VerificationFailed,
            format!("the registry's checkpoint does not check out with the pinned log key: {e}"),
        )
    })?;
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
