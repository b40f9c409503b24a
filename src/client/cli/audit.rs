//! `signet audit …`: search, export and verify the access log, and its
//! transparency log's checkpoints and proofs.

use clap::Subcommand;

use super::super::{Done, Failure};

/// The filters of the access log.
#[derive(clap::Args)]
pub struct AuditFilterArgs {
    #[arg(long)]
    pub principal: Option<String>,
    /// `METHOD /route/{template}`, e.g. "PUT /v1/models/{ns}/{model}/aliases/{alias}".
    #[arg(long)]
    pub action: Option<String>,
    /// Required unless you audit every namespace (or --model names it).
    #[arg(long)]
    pub namespace: Option<String>,
    /// NAMESPACE/MODEL (its namespace is the one read).
    #[arg(long)]
    pub model: Option<String>,
    /// `allowed`, `denied` (access), `refused` (by the registry's policy:
    /// the gate, a deployer's pull) or `error`.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Events at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Events before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
}

impl From<AuditFilterArgs> for super::super::records::AuditFilters {
    fn from(a: AuditFilterArgs) -> Self {
        Self {
            principal: a.principal,
            action: a.action,
            namespace: a.namespace,
            model: a.model,
            outcome: a.outcome,
            since: a.since,
            until: a.until,
        }
    }
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Events matching the filters, newest first.
    Search {
        #[command(flatten)]
        filters: AuditFilterArgs,
        /// At most this many events.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// The events matching the filters as JSON Lines, into a new file, in
    /// chain order (oldest first; the last line is the newest).
    Export {
        #[command(flatten)]
        filters: AuditFilterArgs,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Verify the chain: the registry's whole log, or offline an exported or
    /// archived FILE from its anchor (unfiltered: every event in its range).
    /// A namespace's auditor names it: the registry verifies the whole chain
    /// and counts that namespace's events in it.
    Verify {
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        #[arg(long, conflicts_with = "file")]
        namespace: Option<String>,
        /// The hash before the file's first event (e.g. the last of the archive
        /// before it); without it, the file's own word (or the chain's start).
        #[arg(long, requires = "file")]
        anchor: Option<String>,
        /// The hash the file's last event must have (a head recorded elsewhere).
        #[arg(long, requires = "file")]
        head: Option<String>,
        /// Prove with the transparency log that the log only grew since this
        /// checkpoint (a file `audit checkpoint --out` wrote), both checked
        /// with the pinned `--log-key`.
        #[arg(long, conflicts_with_all = ["file", "namespace"], requires = "log_key")]
        since: Option<std::path::PathBuf>,
        /// With --file: rebuild the transparency log's tree from the file (a
        /// full export, or archive files and the export after them,
        /// concatenated) and compare its root with this checkpoint's, checked
        /// with the pinned `--log-key`.
        #[arg(long, requires_all = ["file", "log_key"])]
        checkpoint: Option<std::path::PathBuf>,
        /// The pinned log key (a file holding it, or the key itself), with
        /// --since or --checkpoint.
        #[arg(long)]
        log_key: Option<String>,
    },
    /// Prove that event SEQ is in the transparency log: the registry's
    /// inclusion proof checked here against the event's line and a
    /// checkpoint of the pinned log key. A namespace's auditor names it.
    Prove {
        #[arg(value_parser = clap::value_parser!(u64).range(1..))]
        seq: u64,
        #[arg(long)]
        log_key: String,
        #[arg(long)]
        namespace: Option<String>,
        /// The tree's size (a checkpoint the log published); the newest
        /// when absent.
        #[arg(long)]
        size: Option<u64>,
    },
    /// Fetch the transparency log's latest checkpoint and check it with the
    /// pinned log key (a file holding it, or the key itself); write it to
    /// FILE for later proofs.
    Checkpoint {
        #[arg(long)]
        log_key: String,
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// The registry's log verifier key, as it says it (compare it with the
    /// one its operator printed at start-up before pinning it).
    LogKey,
}

/// `signet audit …`.
pub(super) async fn run(command: AuditCommand) -> Result<Done, Failure> {
    match command {
        AuditCommand::Search { filters, limit } => {
            super::super::commands::audit_search(&filters.into(), limit).await
        }
        AuditCommand::Export { filters, out } => {
            super::super::commands::audit_export(&filters.into(), &out).await
        }
        AuditCommand::Verify {
            since: Some(since),
            log_key: Some(log_key),
            ..
        } => super::super::tlog::grew_since(&since, &log_key).await,
        AuditCommand::Verify {
            file: Some(file),
            checkpoint: Some(checkpoint),
            log_key: Some(log_key),
            ..
        } => super::super::tlog::export_matches(&file, &checkpoint, &log_key),
        AuditCommand::Verify {
            log_key: Some(_), ..
        } => Err(Failure::usage(
            "--log-key goes with --since or --checkpoint",
        )),
        AuditCommand::Verify {
            file,
            namespace,
            anchor,
            head,
            ..
        } => {
            let pins = super::super::records::Pins { anchor, head };
            super::super::commands::audit_verify(file.as_deref(), namespace.as_deref(), &pins).await
        }
        AuditCommand::Prove {
            seq,
            log_key,
            namespace,
            size,
        } => super::super::tlog::prove(seq, &log_key, namespace.as_deref(), size).await,
        AuditCommand::Checkpoint { log_key, out } => {
            super::super::tlog::checkpoint(&log_key, out.as_deref()).await
        }
        AuditCommand::LogKey => super::super::tlog::log_key().await,
    }
}
