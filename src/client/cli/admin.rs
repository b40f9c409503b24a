//! The arguments of the commands that manage: tokens, members, policy, keys,
//! quarantines.

use clap::Subcommand;

use super::reads::LIMIT_HELP;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Register a public key for some namespaces (`*`: all, admins only).
    Register {
        /// The SPKI PEM public key file.
        public_key: std::path::PathBuf,
        #[arg(long = "namespace", required = true)]
        namespaces: Vec<String>,
        /// The key's name (default: the file's name without extension).
        #[arg(long)]
        name: Option<String>,
    },
    /// The keys trusted for namespaces you may read.
    List {
        #[arg(long, default_value_t = 100, help = LIMIT_HELP)]
        limit: usize,
    },
    Show {
        keyid: String,
    },
    /// Revoke a key: `compromised` (none of its signatures count, past ones
    /// too) or `retired` (it signs nothing new).
    Revoke {
        keyid: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Mint a token (for yourself, or as admin for anyone); the secret is
    /// printed once.
    Create {
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Your tokens (all, for admins), without their secrets.
    List {
        #[arg(long, default_value_t = 100, help = LIMIT_HELP)]
        limit: usize,
    },
    /// Revoke a token by its id; it stops working at once.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub enum PublisherCommand {
    /// Trust a CI identity to publish in a namespace without a stored token
    /// (creates or replaces NAMESPACE/NAME; a replacement ends the tokens
    /// its old form gave).
    Set {
        /// `NAMESPACE/NAME`.
        publisher: String,
        /// The identity provider, exactly as its tokens' `iss` reads.
        #[arg(long)]
        issuer: String,
        /// A claim the identity token must carry with exactly this value:
        /// `NAME=VALUE` (repeat).
        #[arg(long = "claim", required = true)]
        claims: Vec<String>,
        /// `publisher` and/or `approver` (repeat); default publisher.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Do not require a version's lineage to name the job's commit and
        /// repository.
        #[arg(long)]
        no_bind_commit: bool,
    },
    /// A namespace's trusted publishers.
    List { namespace: String },
    /// Stop trusting a CI identity; its tokens stop at once.
    Remove {
        /// `NAMESPACE/NAME`.
        publisher: String,
    },
}

#[derive(Subcommand)]
pub enum MemberCommand {
    /// A namespace's members and their roles.
    List {
        namespace: String,
        #[arg(long, default_value_t = 100, help = LIMIT_HELP)]
        limit: usize,
    },
    /// Give a principal exactly these roles in a namespace (maintainer,
    /// publisher, approver, deployer, auditor, reader).
    Set {
        namespace: String,
        principal: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Take every role of a principal in a namespace away.
    Remove {
        namespace: String,
        principal: String,
    },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// A namespace's promotion and pull policy, defaults filled in.
    Show { namespace: String },
    /// Replace a namespace's policy with the JSON object in FILE.
    Set {
        namespace: String,
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum QuarantineCommand {
    /// Quarantine a dataset digest, a commit or a version
    /// (`namespace/model@version`), and everything built from it.
    Place {
        /// `dataset`, `commit` or `version`.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        value: String,
        #[arg(long)]
        reason: String,
        /// Where it applies (repeat; `*` everywhere, global roles only).
        #[arg(long = "namespace")]
        namespaces: Vec<String>,
    },
    List {
        #[arg(long, default_value_t = 100, help = LIMIT_HELP)]
        limit: usize,
    },
    /// Lift a quarantine (recorded).
    Lift {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}
