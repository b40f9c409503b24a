//! The transparency log from the client: a checkpoint fetched and checked
//! with the log key the auditor pinned, and the key the registry announces.

use std::path::Path;

use base64::Engine;
use serde_json::json;

use super::commands::signed_in;
use super::{Done, Exit, Failure};
use crate::api::{ConsistencyProof, InclusionProof, paths};
use crate::chain::ChainedEvent;
use crate::tlog::note::{Checkpoint, NoteVerifier};
use crate::tlog::{Frontier, Hash, leaf_hash};

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
    let hashes = decoded(&proof.hashes)?;
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

/// A proof's hashes, from base64.
fn decoded(hashes: &[String]) -> Result<Vec<Hash>, Failure> {
    hashes
        .iter()
        .map(|h| {
            base64::engine::general_purpose::STANDARD
                .decode(h)
                .ok()
                .and_then(|b| Hash::try_from(b).ok())
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            Failure::new(
                Exit::VerificationFailed,
                "the registry's proof holds a malformed hash",
            )
        })
}

/// `signet audit prove SEQ --log-key KEY [--namespace NS] [--size N]`: the
/// registry's inclusion proof of event SEQ, its checkpoint opened with the
/// pinned key, the proof checked here against the event's own line.
pub async fn prove(
    seq: u64,
    log_key: &str,
    namespace: Option<&str>,
    size: Option<u64>,
) -> Result<Done, Failure> {
    let key = pinned(log_key)?;
    let failed = |m: String| Failure::new(Exit::VerificationFailed, m);
    let mut query = Vec::new();
    if let Some(ns) = namespace {
        let ns = crate::names::Namespace::parse(ns)
            .map_err(|e| Failure::usage(format!("--namespace: {e}")))?;
        query.push(format!("namespace={ns}"));
    }
    if let Some(n) = size {
        query.push(format!("size={n}"));
    }
    let mut path = paths::audit_event_proof(seq);
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let proof: InclusionProof = signed_in()?.get(&path).await?;
    let c = key.open(&proof.checkpoint).map_err(|e| {
        failed(format!(
            "the proof's checkpoint does not check out with the pinned log key: {e}"
        ))
    })?;
    let event: ChainedEvent = serde_json::from_str(&proof.entry)
        .map_err(|_| failed("the proof's entry is not an access log event".into()))?;
    if c.size != proof.tree_size
        || proof.leaf_index != seq - 1
        || u64::try_from(event.event.seq) != Ok(seq)
        || size.is_some_and(|n| n != c.size)
    {
        return Err(failed(format!(
            "the proof is not of event {seq} in the signed tree of {} events",
            c.size
        )));
    }
    let hashes = decoded(&proof.hashes)?;
    let leaf = leaf_hash(proof.entry.as_bytes());
    if !crate::tlog::check_inclusion(seq - 1, c.size, &leaf, &hashes, &c.root) {
        return Err(failed(format!(
            "event {seq} as the registry shows it is not in the log: the tree of {} events \
             signed by {} does not hold it (edited, moved or never logged)",
            c.size,
            key.name()
        )));
    }
    Ok(Done {
        human: format!(
            "event {seq} is in the log: leaf {} of the tree of {} events signed by {}\n{}",
            seq - 1,
            c.size,
            key.name(),
            proof.entry
        ),
        json: json!({"ok": true, "seq": seq, "tree_size": c.size, "event": event}),
    })
}

/// `signet audit verify --file EXPORT --checkpoint FILE --log-key KEY`: the
/// tree rebuilt from a full export (every event from the first; an archive's
/// file and the export after it, concatenated) has the checkpoint's root.
pub fn export_matches(file: &Path, checkpoint: &Path, log_key: &str) -> Result<Done, Failure> {
    use std::io::BufRead;
    let key = pinned(log_key)?;
    let failed = |m: String| Failure::new(Exit::VerificationFailed, m);
    let note = std::fs::read_to_string(checkpoint)
        .map_err(|e| Failure::usage(format!("--checkpoint {}: {e}", checkpoint.display())))?;
    let c = key.open(&note).map_err(|e| {
        failed(format!(
            "{}: not a checkpoint of the pinned log key: {e}",
            checkpoint.display()
        ))
    })?;
    let reader = std::fs::File::open(file)
        .map(std::io::BufReader::new)
        .map_err(|e| Failure::usage(format!("--file {}: {e}", file.display())))?;
    let mut tree = Frontier::default();
    for line in reader.split(b'\n') {
        if tree.size() == c.size {
            break;
        }
        let line =
            line.map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", file.display())))?;
        let seq = serde_json::from_slice::<ChainedEvent>(&line)
            .map_err(|_| {
                failed(format!(
                    "{}: line {} is not an event",
                    file.display(),
                    tree.size() + 1
                ))
            })?
            .event
            .seq;
        if u64::try_from(seq) != Ok(tree.size() + 1) {
            return Err(failed(format!(
                "{}: event {} is where event {} should be (rebuilding the tree needs every \
                 event from the first, unfiltered: archive files first, then the export)",
                file.display(),
                seq,
                tree.size() + 1
            )));
        }
        tree.push(leaf_hash(&line));
    }
    if tree.size() < c.size {
        return Err(failed(format!(
            "{} holds {} events; the checkpoint is of {}",
            file.display(),
            tree.size(),
            c.size
        )));
    }
    if tree.root() != c.root {
        return Err(failed(format!(
            "{} does not match the checkpoint: its first {} events hash to another root than \
             the one {} signed (an event was edited, removed or reordered)",
            file.display(),
            c.size,
            key.name()
        )));
    }
    Ok(Done {
        human: format!(
            "the first {} events of {} are the tree {} signed",
            c.size,
            file.display(),
            key.name()
        ),
        json: json!({"ok": true, "size": c.size}),
    })
}
