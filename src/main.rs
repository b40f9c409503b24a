use std::time::Duration;

use clap::{Parser, Subcommand};
use signet::client::cli::ClientCommand;
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
    /// The client's commands.
    #[command(flatten)]
    Client(ClientCommand),
    /// Exit 0 when the operator's listener at ADDR answers /readyz with 200
    /// (container health checks).
    Healthcheck {
        #[arg(long, env = "SIGNET_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
        addr: String,
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
            let done = signet::audit::archive(&*store, &*store, through_seq, &mut file).await?;
            file.sync_all().await?;
            println!("{}", serde_json::to_string(&done)?);
        }
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&signet::http::openapi())?
            );
        }
        Command::Client(client) => {
            // Progress bars only for a person watching.
            let bars = !json && !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let outcome = signet::client::cli::run(client, bars).await;
            std::process::exit(commands::report(outcome, json, quiet));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Clap's own checks of the command line (unique argument ids among the
    /// flattened settings, among others), which it makes only when asked.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
