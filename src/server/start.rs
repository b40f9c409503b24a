//! What happens before Signet serves or works: listeners bound first (a refused
//! address stops the start before the stores are touched), each store reached
//! and tried again until the start-up timeout, migrations, then the service.
//! What fails here is the operator's to fix; each error says what, where and
//! how in one line (`main` prints it without a backtrace), and never carries a
//! credential.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use super::Bootstrap;
use crate::blobs::{BlobStore, S3Options, UploadTuning};
use crate::config::{ServeConfig, StorageConfig};
use crate::error::{Error, Result};
use crate::http::Readiness;
use crate::store::{self, MigrationPolicy, PendingMigration, Store};

/// The setting that moves the API's listener.
const LISTEN: &str = "--listen (SIGNET_LISTEN)";
/// The setting that moves the operator's listener, or turns it off.
const METRICS_LISTEN: &str = "--metrics-listen (SIGNET_METRICS_LISTEN, or `off`)";

/// Binds `addr`, or says which setting names it and what to do.
pub async fn bind(addr: &str, setting: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let fix = if e.kind() == std::io::ErrorKind::AddrInUse {
            "another process listens there (a second Signet on this host?); stop it, or \
             move this one with"
        } else {
            "choose another address with"
        };
        anyhow::anyhow!("cannot listen on {addr}: {e}; {fix} {setting}")
    })
}

/// Opens both stores, migrating the database (the default policy).
pub async fn open_stores(cfg: &StorageConfig) -> anyhow::Result<(Arc<dyn Store>, BlobStore)> {
    open_stores_with(cfg, &cfg.startup.migrations(true)).await
}

/// Opens both stores, each reached until the start-up timeout, and migrates
/// the database as `policy` says.
pub async fn open_stores_with(
    cfg: &StorageConfig,
    policy: &MigrationPolicy,
) -> anyhow::Result<(Arc<dyn Store>, BlobStore)> {
    let patience = Patience::of(cfg);
    let url = cfg.database_url()?;
    let store = patience
        .reach(&database(&url), || {
            store::open(&url, cfg.database_max_connections, policy)
        })
        .await?;
    let blobs = blob_store(cfg)?;
    patience.reach(&blob_location(cfg), || blobs.ping()).await?;
    Ok((store, blobs))
}

/// `signet migrate`: applies what is pending and returns it, or with `check`
/// only returns it.
pub async fn migrate(cfg: &StorageConfig, check: bool) -> anyhow::Result<Vec<PendingMigration>> {
    let url = cfg.database_url()?;
    let patience = Patience::of(cfg);
    let policy = cfg.startup.migrations(true);
    let what = database(&url);
    if check {
        patience
            .reach(&what, || store::pending_migrations(&url))
            .await
    } else {
        patience
            .reach(&what, || store::migrate(&url, &policy))
            .await
    }
}

/// The blob store the configuration names (nothing is reached yet).
fn blob_store(cfg: &StorageConfig) -> Result<BlobStore> {
    let (access_key_id, secret_access_key) = cfg.s3_credentials()?;
    let s3 = S3Options {
        endpoint: cfg.s3_endpoint.clone(),
        region: cfg.s3_region.clone(),
        allow_http: cfg.s3_allow_http,
        access_key_id,
        secret_access_key,
        sse: cfg.encryption.s3_sse.clone(),
        sse_kms_key_id: cfg.encryption.s3_sse_kms_key_id.clone(),
    };
    BlobStore::open(&cfg.storage_url(), &s3, UploadTuning::default())
}

/// How long start-up keeps reaching for a store that does not answer yet.
struct Patience {
    until: Instant,
    secs: u64,
}

impl Patience {
    fn of(cfg: &StorageConfig) -> Self {
        let secs = cfg.startup.startup_timeout_secs;
        Self {
            until: Instant::now() + Duration::from_secs(secs),
            secs,
        }
    }

    /// Runs `attempt` until it succeeds, fails with anything but
    /// `Unavailable` (not worth waiting for: a wrong password, a missing
    /// database, a failed migration), or the time is up. `what` names the store.
    async fn reach<T, F, Fut>(&self, what: &str, mut attempt: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut pause = Duration::from_millis(250);
        let mut waited = false;
        loop {
            match attempt().await {
                Ok(v) => {
                    if waited {
                        tracing::info!("{what} answers");
                    }
                    return Ok(v);
                }
                Err(Error::Unavailable(e)) => {
                    if Instant::now() + pause >= self.until {
                        anyhow::bail!(
                            "{what} did not answer within {} s ({e:#}); check that it runs and \
                             is reachable from here, or wait longer with \
                             --startup-timeout-secs (SIGNET_STARTUP_TIMEOUT_SECS)",
                            self.secs
                        );
                    }
                    tracing::warn!(error = %format!("{e:#}"), "{what} does not answer yet; trying again");
                    waited = true;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(anyhow::Error::new(e).context(what.to_owned())),
            }
        }
    }
}

/// "the database at …", its URL without password or query (where sqlx also
/// takes a password).
fn database(url: &str) -> String {
    let shown = match url::Url::parse(url) {
        Ok(_) if url.starts_with("sqlite:") => url.to_owned(),
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => format!("{}://…", url.split(':').next().unwrap_or("?")),
    };
    format!("the database at {shown}")
}

/// "the blob store at …": its URL, and the S3 endpoint where one is set.
fn blob_location(cfg: &StorageConfig) -> String {
    match &cfg.s3_endpoint {
        Some(endpoint) => format!("the blob store at {} ({endpoint})", cfg.storage_url()),
        None => format!("the blob store at {}", cfg.storage_url()),
    }
}

/// `signet serve`: binds, answers the operator's listener at once (alive, not
/// ready), builds the service (reaching the stores, migrating), then serves
/// until SIGINT or SIGTERM.
pub async fn serve(cfg: ServeConfig) -> anyhow::Result<()> {
    let telemetry = crate::telemetry::init(cfg.log_format)?;
    let t = &cfg.transport;
    let tls = super::tls_acceptor(t)?;
    let listener = bind(&cfg.listen, LISTEN).await?;
    let addr = listener.local_addr()?;
    crate::tls::check_plain_http(addr, tls.is_some(), t.allow_plain_http)?;
    let ops = match t.metrics_listen.as_str() {
        "off" => None,
        at => Some(bind(at, METRICS_LISTEN).await?),
    };
    // From here a load balancer sees the replica alive but unready, until the
    // stores answer and migrations are done.
    let readiness = Readiness::default();
    if let Some(ops) = ops {
        crate::metrics::enable();
        tracing::info!(listen = %ops.local_addr()?, "metrics, health and readiness served");
        tokio::spawn(super::serve_ops_from(
            ops,
            readiness.clone(),
            std::future::pending(),
        ));
    }
    let (state, boot) = super::build(&cfg).await?;
    announce(boot);
    super::spawn_gc(
        state.registry.clone(),
        Duration::from_secs(cfg.gc_interval_secs),
        Duration::from_secs(cfg.gc_grace_secs),
    );
    readiness.set(state.clone());
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %addr, scheme, "signet serving");
    super::serve_with(listener, state, tls, super::shutdown_signal()).await?;
    telemetry.shutdown();
    Ok(())
}

/// Says what bootstrap did; a generated token goes to stdout, once.
fn announce(boot: Bootstrap) {
    match boot {
        Bootstrap::Generated(secret) => {
            // Printed to stdout, not the log: the secret is shown once and never
            // stored.
            println!(
                "Signet bootstrap admin token (shown once): {}",
                secret.expose()
            );
            tracing::info!("created the bootstrap admin token (printed on stdout)");
        }
        Bootstrap::FromConfig => {
            tracing::info!("created the bootstrap admin token from SIGNET_BOOTSTRAP_TOKEN")
        }
        Bootstrap::Existing => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_named_without_its_password() {
        let shown = database("postgres://signet:hunter2@db.internal:5432/registry?password=x");
        assert_eq!(
            shown,
            "the database at postgres://signet@db.internal:5432/registry"
        );
        assert_eq!(
            database("sqlite://./signet-data/signet.db"),
            "the database at sqlite://./signet-data/signet.db"
        );
        assert!(!database("postgres://u:p@[::1/x").contains("p@"));
    }
}
