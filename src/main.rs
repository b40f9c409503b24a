use std::time::Duration;

use clap::{Parser, Subcommand};
use signet::client::commands;
use signet::config::{LogFormat, ServeConfig, StorageConfig};
use signet::server;

/// Signet: a signed model registry, and its client.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Client commands: print the outcome as JSON on stdout (before the
    /// command: `signet --json pull …`).
    #[arg(long)]
    json: bool,
    /// Client commands: print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry service.
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations and exit (a Kubernetes Job or init
    /// container runs this before a rollout; `serve --no-migrate` then starts
    /// only on a migrated database). With --check, apply nothing: list what is
    /// pending and exit 3 if anything is.
    Migrate {
        #[command(flatten)]
        storage: StorageConfig,
        #[arg(long)]
        check: bool,
    },
    /// Remove blobs that no file references, older than the grace period.
    Gc {
        #[command(flatten)]
        storage: StorageConfig,
        /// Minimum age in seconds of a blob before it is removed.
        #[arg(long, env = "SIGNET_GC_GRACE_SECS", default_value_t = 86_400)]
        grace_secs: u64,
    },
    /// Retention: archive the access log up to an event as JSON Lines, then drop
    /// those events; the last archived event becomes the chain's anchor.
    AuditArchive {
        #[command(flatten)]
        storage: StorageConfig,
        /// Archive events up to and including this sequence number.
        #[arg(long)]
        through_seq: i64,
        /// The archive file to write (must not exist).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Client: save a registry's address and an API token (read from stdin or a
    /// prompt) for the other client commands.
    Login {
        #[arg(long)]
        server: String,
    },
    /// Client: forget the saved token.
    Logout,
    /// Client: make a signing key pair, NAME.key (PKCS#8 PEM, mode 0600) and
    /// NAME.pub (SPKI PEM).
    Keygen {
        /// `ecdsa-p256` (the default: the one algorithm `model_signing`,
        /// cosign and Rekor all verify) or `ed25519`.
        #[arg(long, default_value = "ecdsa-p256")]
        algorithm: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Client: namespaces (an admin's).
    Namespace {
        #[command(subcommand)]
        command: NamespaceCommand,
    },
    /// Client: models.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Client: signing keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Client: sign a sealed version's statement with a local key and upload the
    /// signature.
    Sign {
        /// NAMESPACE/MODEL@VERSION
        target: String,
        #[arg(long)]
        key: std::path::PathBuf,
    },
    /// Client: point an alias at a version (a refusal prints every reason).
    Promote {
        /// NAMESPACE/MODEL@VERSION
        target: String,
        alias: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Client: upload every file of DIR as a new version (each checked by its
    /// SHA-256), seal it, and with --sign sign its statement here.
    Push {
        dir: std::path::PathBuf,
        /// NAMESPACE/MODEL
        model: String,
        /// A JSON file with the version's lineage.
        #[arg(long)]
        lineage: Option<std::path::PathBuf>,
        /// A JSON file with the version's metadata.
        #[arg(long)]
        metadata: Option<std::path::PathBuf>,
        /// A private key (PKCS#8 PEM) to sign the sealed version with.
        #[arg(long)]
        sign: Option<std::path::PathBuf>,
        /// Files uploaded at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
    },
    /// Client: download a version verified against keys you pin, into DIR (with
    /// its signature as DIR/model.sig); nothing reaches DIR unless all verifies.
    Pull {
        /// NAMESPACE/MODEL@VERSION or NAMESPACE/MODEL@ALIAS
        target: String,
        dir: std::path::PathBuf,
        /// A public key you trust (SPKI PEM); repeat for several. Without
        /// one, the keys of the trust directory (`~/.config/signet/trust/*.pub`,
        /// or SIGNET_TRUST_DIR).
        #[arg(long = "trust-key")]
        trust_keys: Vec<std::path::PathBuf>,
        /// Files downloaded at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// Replace DIR even when it holds something other than a verified pull.
        #[arg(long)]
        force: bool,
        /// Keep the pull a redeploy replaces, as DIR.previous.
        #[arg(long)]
        keep_previous: bool,
    },
    /// Client, offline: check DIR against its signature and a key you trust.
    Verify {
        dir: std::path::PathBuf,
        /// A public key you trust; repeat for several. Without one, the keys of
        /// the trust directory.
        #[arg(long)]
        key: Vec<std::path::PathBuf>,
        /// The signature (default: DIR/model.sig).
        #[arg(long)]
        signature: Option<std::path::PathBuf>,
        /// Also ask the registry (signed in) whether it has revoked the key
        /// since: its word can make the check fail, never pass.
        #[arg(long)]
        online: bool,
    },
    /// Client: the access log: search it, export it, verify it (offline from
    /// an exported file).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Client: lineage: what was built from a dataset or a commit, and a
    /// version's ancestors and descendants.
    Lineage {
        #[command(subcommand)]
        command: LineageCommand,
    },
    /// Exit 0 when the operator's listener at ADDR answers /readyz with 200
    /// (container health checks).
    Healthcheck {
        #[arg(long, env = "SIGNET_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
        addr: String,
    },
}

/// The filters of the access log.
#[derive(clap::Args)]
struct AuditFilterArgs {
    #[arg(long)]
    principal: Option<String>,
    /// `METHOD /route/{template}`, e.g. "PUT /v1/models/{ns}/{model}/aliases/{alias}".
    #[arg(long)]
    action: Option<String>,
    /// Required unless you audit every namespace (or --model names it).
    #[arg(long)]
    namespace: Option<String>,
    /// NAMESPACE/MODEL (its namespace is the one read).
    #[arg(long)]
    model: Option<String>,
    /// `allowed`, `denied` (access), `refused` (by the registry's policy:
    /// the gate, a deployer's pull) or `error`.
    #[arg(long)]
    outcome: Option<String>,
    /// Events at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Events before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
}

impl From<AuditFilterArgs> for signet::client::records::AuditFilters {
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
enum AuditCommand {
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
    },
}

#[derive(Subcommand)]
enum LineageCommand {
    /// Versions trained on a dataset (its SHA-256), and what was built from them.
    Dataset { sha256: String },
    /// Versions built from a code commit.
    Commit { sha: String },
    /// A version's ancestors and descendants (NAMESPACE/MODEL@VERSION or @ALIAS).
    Version { target: String },
}

#[derive(Subcommand)]
enum NamespaceCommand {
    /// Create a namespace (a team's home).
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Create a model: NAMESPACE/MODEL.
    Create {
        model: String,
        #[arg(long)]
        description: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
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
}

/// A bare HTTP/1.1 GET, so the runtime image needs no curl.
async fn probe(addr: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = addr.replace("0.0.0.0", "127.0.0.1");
    let mut sock = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&addr),
    )
    .await??;
    sock.write_all(
        format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), sock.read_exact(&mut head)).await??;
    anyhow::ensure!(head.starts_with(b"HTTP/1.1 200"), "not ready");
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Cli::parse()).await {
        // What fails here is the operator's to fix (an address in use, a store
        // out of reach, a setting): one line, what, where and how, and no
        // backtrace. A bug panics, and the panic shows where.
        eprintln!("signet: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (json, quiet) = (cli.json, cli.quiet);
    match cli.command {
        Command::Serve(cfg) => server::start::serve(*cfg).await?,
        Command::Migrate { storage, check } => {
            signet::telemetry::init(LogFormat::Text)?;
            let pending = server::start::migrate(&storage, check).await?;
            let list = || {
                pending
                    .iter()
                    .map(|m| format!("  {m}\n"))
                    .collect::<String>()
            };
            match (check, pending.is_empty()) {
                (_, true) => println!("the database schema is up to date"),
                (true, false) => {
                    print!("{} migration(s) pending:\n{}", pending.len(), list());
                    std::process::exit(3);
                }
                (false, false) => print!("applied {} migration(s):\n{}", pending.len(), list()),
            }
        }
        Command::Gc {
            storage,
            grace_secs,
        } => {
            signet::telemetry::init(LogFormat::Text)?;
            let (store, blobs) = server::open_stores(&storage).await?;
            let grace = chrono::Duration::seconds(i64::try_from(grace_secs)?);
            let report = signet::registry::gc::run(&*store, &*store, &blobs, grace).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Healthcheck { addr } => probe(&addr).await?,
        Command::AuditArchive {
            storage,
            through_seq,
            out,
        } => {
            signet::telemetry::init(LogFormat::Text)?;
            let (store, _) = server::open_stores(&storage).await?;
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&out)
                .await?;
            let done = signet::audit::archive(&*store, through_seq, &mut file).await?;
            file.sync_all().await?;
            println!("{}", serde_json::to_string(&done)?);
        }
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&signet::http::openapi())?
            );
        }
        client => {
            // Progress bars only for a person watching.
            let bars = !json && !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let outcome = client_command(client, bars).await;
            std::process::exit(commands::report(outcome, json, quiet));
        }
    }
    Ok(())
}

/// `signet audit …`.
async fn audit_command(command: AuditCommand) -> Result<commands::Done, signet::client::Failure> {
    match command {
        AuditCommand::Search { filters, limit } => {
            commands::audit_search(&filters.into(), limit).await
        }
        AuditCommand::Export { filters, out } => {
            commands::audit_export(&filters.into(), &out).await
        }
        AuditCommand::Verify {
            file,
            namespace,
            anchor,
            head,
        } => {
            let pins = signet::client::records::Pins { anchor, head };
            commands::audit_verify(file.as_deref(), namespace.as_deref(), &pins).await
        }
    }
}

/// Runs one of the client's commands; its outcome decides the exit code.
async fn client_command(
    command: Command,
    bars: bool,
) -> Result<commands::Done, signet::client::Failure> {
    match command {
        Command::Login { server } => commands::login(&server).await,
        Command::Logout => commands::logout(),
        Command::Keygen { algorithm, out } => commands::keygen(&algorithm, &out),
        Command::Key {
            command:
                KeyCommand::Register {
                    public_key,
                    namespaces,
                    name,
                },
        } => commands::key_register(&public_key, &namespaces, name.as_deref()).await,
        Command::Sign { target, key } => commands::sign(&target, &key).await,
        Command::Push {
            dir,
            model,
            lineage,
            metadata,
            sign,
            jobs,
        } => {
            let options = signet::client::push::PushOptions {
                lineage: lineage.as_deref(),
                metadata: metadata.as_deref(),
                sign: sign.as_deref(),
                jobs,
                progress: bars,
            };
            commands::push(&dir, &model, &options).await
        }
        Command::Pull {
            target,
            dir,
            trust_keys,
            jobs,
            force,
            keep_previous,
        } => {
            let options = signet::client::pull::PullOptions {
                trust: &trust_keys,
                jobs,
                progress: bars,
                force,
                keep_previous,
            };
            commands::pull(&target, &dir, &options).await
        }
        Command::Verify {
            dir,
            key,
            signature,
            online,
        } => commands::verify(&dir, &key, signature.as_deref(), online).await,
        Command::Promote {
            target,
            alias,
            reason,
        } => commands::promote(&target, &alias, reason.as_deref()).await,
        Command::Namespace {
            command: NamespaceCommand::Create { name, description },
        } => commands::namespace_create(&name, description.as_deref()).await,
        Command::Model {
            command: ModelCommand::Create { model, description },
        } => commands::model_create(&model, description.as_deref()).await,
        Command::Audit { command } => audit_command(command).await,
        Command::Lineage { command } => match command {
            LineageCommand::Dataset { sha256 } => commands::lineage("dataset", &sha256).await,
            LineageCommand::Commit { sha } => commands::lineage("commit", &sha).await,
            LineageCommand::Version { target } => commands::lineage("version", &target).await,
        },
        Command::Serve(_)
        | Command::Migrate { .. }
        | Command::Gc { .. }
        | Command::AuditArchive { .. }
        | Command::Healthcheck { .. }
        | Command::Openapi => unreachable!("run() serves the server's commands"),
    }
}
