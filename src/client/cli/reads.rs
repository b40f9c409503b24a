//! The arguments of the commands that read: namespaces, models, versions and
//! their standing at the gate, aliases, signatures; and a draft's files.

use clap::Subcommand;

/// How many items a list shows at most (following the registry's pages).
pub(super) const LIMIT_HELP: &str = "At most this many items";

#[derive(Subcommand)]
pub enum NamespaceCommand {
    /// Create a namespace (a team's home); one that exists as asked is no
    /// failure.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// The namespaces you are a member of (all, for admins).
    List {
        #[arg(long, default_value_t = 100, help = LIMIT_HELP)]
        limit: usize,
    },
    Show {
        name: String,
    },
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Create a model: NAMESPACE/MODEL; one that exists as asked is no failure.
    Create {
        model: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// The models you may read, in one namespace or all.
    List {
        #[arg(long)]
        namespace: Option<String>,
        #[arg(long, default_value_t = 100, help = LIMIT_HELP)]
        limit: usize,
    },
    /// A model, its latest version and its aliases: NAMESPACE/MODEL.
    Show { model: String },
}

#[derive(Subcommand)]
pub enum VersionCommand {
    /// A model's versions, newest first: NAMESPACE/MODEL.
    List {
        model: String,
        #[arg(long, default_value_t = 100, help = LIMIT_HELP)]
        limit: usize,
    },
    /// A version (NAMESPACE/MODEL@VERSION or @ALIAS), its signatures, and its
    /// standing at the gate for each alias and for deployers, with every reason.
    Show { target: String },
}

#[derive(Subcommand)]
pub enum AliasCommand {
    /// A model's aliases and where they point: NAMESPACE/MODEL.
    List { model: String },
    /// The version an alias points at: NAMESPACE/MODEL@ALIAS.
    Show { target: String },
    /// Every move of an alias, newest first: NAMESPACE/MODEL@ALIAS.
    History {
        target: String,
        #[arg(long, default_value_t = 100, help = LIMIT_HELP)]
        limit: usize,
        /// The registry's public key (`signet registry-key` prints it): check
        /// here that each promotion's record is signed by it and states the
        /// move as listed.
        #[arg(long)]
        registry_key: Option<std::path::PathBuf>,
    },
    /// Remove an alias (recorded in its history): NAMESPACE/MODEL@ALIAS.
    Remove {
        target: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum SignatureCommand {
    /// A version's stored signatures: NAMESPACE/MODEL@VERSION.
    List { target: String },
}

#[derive(Subcommand)]
pub enum FileCommand {
    /// Remove a file from a draft version: NAMESPACE/MODEL@VERSION PATH.
    Delete { target: String, path: String },
}
