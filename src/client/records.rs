//! What the registry records, for auditors: `signet audit search | export |
//! verify` and `signet lineage dataset | commit | version`.
//!
//! An exported log verifies here, offline, with the server's own chain rule
//! (`audit::Verifier`): from its anchor (the hash before its first event, the
//! chain's start when that is event 1), every event in order, every hash
//! recomputed. A recorded anchor or head can be pinned, so a log rewritten
//! whole does not pass either.

use std::io::{BufRead, Write};
use std::path::Path;

use futures::StreamExt;
use serde_json::json;

use super::outcome::{Done, to_json};
use super::{Client, Exit, Failure, Target};
use crate::api::{LineageList, VerifyReport, VersionLineage, paths};
use crate::chain::{ChainedEvent, GENESIS, Verifier};
use crate::names::{CommitId, Sha256};

/// The filters of `GET /v1/audit`, as the flags give them.
#[derive(Debug, Default, Clone)]
pub struct AuditFilters {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub namespace: Option<String>,
    pub model: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl AuditFilters {
    fn query(&self) -> Vec<(&'static str, &str)> {
        [
            ("principal", &self.principal),
            ("action", &self.action),
            ("namespace", &self.namespace),
            ("model", &self.model),
            ("outcome", &self.outcome),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

fn with_query(path: &str, q: &[(&str, &str)]) -> String {
    if q.is_empty() {
        return path.to_owned();
    }
    let mut u = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in q {
        u.append_pair(k, v);
    }
    format!("{path}?{}", u.finish())
}

fn line(c: &ChainedEvent) -> String {
    let e = &c.event;
    format!(
        "{:>8} {} {:<12} {:<6} {} {} {}",
        e.seq,
        e.at,
        e.principal.as_deref().unwrap_or("-"),
        e.outcome,
        e.status,
        e.action,
        e.resource,
    )
}

/// `signet audit search [filters] [--limit N]`: the newest events first,
/// following the pages up to `limit`.
pub async fn search(client: &Client, f: &AuditFilters, limit: usize) -> Result<Done, Failure> {
    let path = with_query(paths::AUDIT, &f.query());
    let (events, more) = super::listing::listed::<ChainedEvent>(client, &path, limit).await?;
    Ok(Done {
        human: if events.is_empty() {
            "no events".into()
        } else {
            events.iter().map(line).collect::<Vec<_>>().join("\n")
        },
        json: json!({ "items": events, "more": more }),
    })
}

/// `signet audit export --out FILE [filters]`: the events as JSON Lines,
/// streamed into FILE (written beside it and renamed: never half a file).
pub async fn export(client: &Client, f: &AuditFilters, out: &Path) -> Result<Done, Failure> {
    let io = |e: std::io::Error| Failure::new(Exit::Failure, format!("{}: {e}", out.display()));
    if out.exists() {
        return Err(Failure::usage(format!("{} exists", out.display())));
    }
    let (mut body, _) = client
        .stream_from(&with_query(paths::AUDIT_EXPORT, &f.query()), 0)
        .await?;
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    let staged = out.with_file_name(format!(".{name}.signet-export"));
    let mut file = std::fs::File::create(&staged).map_err(io)?;
    let mut lines = 0u64;
    let written: Result<(), Failure> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            file.write_all(&chunk).map_err(io)?;
        }
        file.sync_all().map_err(io)?;
        std::fs::rename(&staged, out).map_err(io)
    }
    .await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    Ok(Done {
        human: format!("{lines} events written to {}", out.display()),
        json: json!({ "events": lines, "file": out }),
    })
}

/// `signet audit verify`: the registry's own check of the whole chain.
pub async fn verify_remote(client: &Client, namespace: Option<&str>) -> Result<Done, Failure> {
    let q: Vec<(&str, &str)> = namespace.map(|ns| ("namespace", ns)).into_iter().collect();
    let r: VerifyReport = client.get(&with_query(paths::AUDIT_VERIFY, &q)).await?;
    if !r.ok && r.namespace.is_some() {
        return Err(Failure::new(
            Exit::VerificationFailed,
            "the access log does not verify",
        ));
    }
    if !r.ok {
        return Err(Failure::new(
            Exit::VerificationFailed,
            format!(
                "the access log is broken at event {} ({} events checked)",
                r.first_bad_seq.unwrap_or_default(),
                r.checked
            ),
        ));
    }
    let human = match &r.namespace {
        Some(ns) => format!(
            "the access log verifies: head {} at {}, holding {} events of {ns}",
            r.head.hash, r.head.seq, r.checked
        ),
        None => format!(
            "the access log verifies: {} events, head {} at {}",
            r.checked, r.head.hash, r.head.seq
        ),
    };
    Ok(Done {
        human,
        json: to_json(&r),
    })
}

/// What an offline check may be held to beside the file itself.
#[derive(Debug, Default)]
pub struct Pins {
    /// The hash before the file's first event (a previous archive's last).
    pub anchor: Option<String>,
    /// The hash of the file's last event (a head recorded elsewhere).
    pub head: Option<String>,
}

/// `signet audit verify --file FILE [--anchor HASH] [--head HASH]`: checks an
/// export or an archive offline. The events may be in any order; they must be
/// one unbroken run of the chain.
pub fn verify_file(path: &Path, pins: &Pins) -> Result<Done, Failure> {
    let events = read_events(path)?;
    let Some(first) = events.first() else {
        return Err(Failure::new(
            Exit::VerificationFailed,
            format!("{} holds no event", path.display()),
        ));
    };
    let anchor_seq = first.event.seq - 1;
    let anchor = match (&pins.anchor, anchor_seq) {
        (Some(pinned), _) => pinned.clone(),
        (None, 0) => GENESIS.to_owned(),
        (None, _) => first.prev_hash.clone(),
    };
    let mut v = Verifier::new(anchor_seq, &anchor);
    let broken = |seq: i64, why: &str| {
        Failure::new(
            Exit::VerificationFailed,
            format!("{}: the chain breaks at event {seq}: {why}", path.display()),
        )
    };
    for e in &events {
        if let Err(seq) = v.feed(e) {
            let why = if e.event.seq != seq {
                "an event is missing (an export filtered or cut short does not verify as a chain)"
            } else if e.prev_hash != v.prev_hash {
                "it does not follow the event before it"
            } else {
                "its hash does not match its content"
            };
            return Err(broken(seq, why));
        }
    }
    if let Some(head) = &pins.head
        && *head != v.prev_hash
    {
        return Err(broken(
            v.expect_seq - 1,
            "the last event is not the head it was pinned to",
        ));
    }
    Ok(verified(path, pins, anchor_seq, &anchor, &v))
}

/// The events of an exported log, in chain order.
fn read_events(path: &Path) -> Result<Vec<ChainedEvent>, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    let mut events = Vec::new();
    for (n, l) in std::io::BufReader::new(file).lines().enumerate() {
        let l = l.map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", path.display())))?;
        if l.trim().is_empty() {
            continue;
        }
        let e: ChainedEvent = serde_json::from_str(&l).map_err(|e| {
            Failure::new(
                Exit::VerificationFailed,
                format!(
                    "{} line {}: not an event of the log: {e}",
                    path.display(),
                    n + 1
                ),
            )
        })?;
        events.push(e);
    }
    events.sort_by_key(|e| e.event.seq);
    Ok(events)
}

/// What a file that verifies from its anchor says.
fn verified(path: &Path, pins: &Pins, anchor_seq: i64, anchor: &str, v: &Verifier) -> Done {
    let from = if anchor_seq == 0 {
        "the chain's start".to_owned()
    } else {
        format!(
            "its anchor at event {anchor_seq} ({})",
            if pins.anchor.is_some() {
                "pinned"
            } else {
                "as the file states it: pin it with --anchor"
            }
        )
    };
    Done {
        human: format!(
            "{} verifies from {from}: events {}..{}, head {}",
            path.display(),
            anchor_seq + 1,
            v.expect_seq - 1,
            v.prev_hash
        ),
        json: json!({
            "ok": true,
            "checked": v.checked,
            "anchor": { "seq": anchor_seq, "hash": anchor, "pinned": pins.anchor.is_some() || anchor_seq == 0 },
            "head": { "seq": v.expect_seq - 1, "hash": v.prev_hash },
        }),
    }
}

/// `signet lineage dataset SHA256 | commit SHA | version NS/MODEL@V`.
pub async fn lineage(client: &Client, kind: &str, value: &str) -> Result<Done, Failure> {
    let usage = |e: crate::names::InvalidValue| Failure::usage(format!("{value:?}: {e}"));
    let (lists, json) = match kind {
        "dataset" => {
            let d = Sha256::parse(value.trim_start_matches("sha256:")).map_err(usage)?;
            let r: LineageList = client.get(&paths::lineage_of_dataset(&d)).await?;
            (vec![("items", r.items.clone())], to_json(&r))
        }
        "commit" => {
            let c = CommitId::parse(value).map_err(usage)?;
            let r: LineageList = client.get(&paths::lineage_of_commit(&c)).await?;
            (vec![("items", r.items.clone())], to_json(&r))
        }
        "version" => {
            let t = Target::parse(value)?;
            let v = client.resolve(&t).await?;
            let r: VersionLineage = client
                .get(&paths::lineage_of_version(&t.model_ref(), v))
                .await?;
            let lists = vec![
                ("ancestors", r.ancestors.clone()),
                ("descendants", r.descendants.clone()),
            ];
            (lists, to_json(&r))
        }
        other => return Err(Failure::usage(format!("unknown lineage query {other:?}"))),
    };
    let mut human = Vec::new();
    for (title, items) in lists {
        human.push(format!("{title}: {}", items.len()));
        for i in items {
            human.push(format!(
                "  {}/{}@{} {} (depth {})",
                i.namespace, i.model, i.version, i.state, i.depth,
            ));
        }
    }
    Ok(Done {
        human: human.join("\n"),
        json,
    })
}
