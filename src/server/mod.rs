//! Start-up: open the stores, bootstrap the first admin, serve until a signal.
//! `start` holds what happens before serving (listeners, reaching the stores,
//! migrations) and the errors an operator acts on.

mod auditstream;
mod logkey;
pub mod start;
mod webhooks;

pub use start::open_stores;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::audit::{Appender, Auditing, RefusalWindow, Signing, TransparencyLog};
use crate::auth::{Access, Policy, Secret, TokenLimits, TokenRecord};
use crate::blobs::BlobStore;
use crate::catalog::Catalog;
use crate::config::{ServeConfig, TransportConfig};
use crate::error::{Error, Result};
use crate::http::contract::Advertised;
use crate::http::{AppState, ExcessConnection, Readiness, app};
use crate::limits::{DownloadQuotas, QuotaConfig, RateConfig, RateLimits, TransferFloor};
use crate::lineage::{LineageBounds, Provenance};
use crate::names::PrincipalName;
use crate::oidc::{Issuers, Verifier};
use crate::publishing::Publishing;
use crate::registry::{Bounds, Registry, RegistryStores};
use crate::store::Store;
use crate::tls::ReloadingCert;
use crate::trust::{Trust, TrustStores};

/// What bootstrap did.
pub enum Bootstrap {
    /// The database already had tokens.
    Existing,
    /// An admin token was created from the configured secret.
    FromConfig,
    /// An admin token was generated; its secret is shown here, once.
    Generated(Secret),
}

/// On an empty database, creates the `admin` principal with a token: the
/// configured one, or a fresh one to be printed once.
pub async fn bootstrap(store: &dyn Store, configured: Option<&str>) -> Result<Bootstrap> {
    let (secret, generated) = match configured {
        Some(s) => (
            Secret::parse(s).ok_or_else(|| {
                Error::invalid("SIGNET_BOOTSTRAP_TOKEN must be sgn_ followed by at least 32 characters of [A-Za-z0-9_-]")
            })?,
            false,
        ),
        None => (Secret::generate(), true),
    };
    let token = TokenRecord {
        id: Uuid::now_v7(),
        principal: PrincipalName::parse("admin").expect("a valid principal"),
        description: "bootstrap admin token".into(),
        created_at: Utc::now(),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        parent_id: None,
        revoked_with: None,
        console: false,
    };
    if !store.bootstrap_admin(&token, &secret.hash()).await? {
        return Ok(Bootstrap::Existing);
    }
    Ok(if generated {
        Bootstrap::Generated(secret)
    } else {
        Bootstrap::FromConfig
    })
}

/// Builds the services for a configuration (used by `serve` and by the tests),
/// migrating the database unless the configuration says not to.
pub async fn build(cfg: &ServeConfig) -> anyhow::Result<(AppState, Bootstrap)> {
    if cfg.token_default_days == 0 || cfg.token_default_days > cfg.token_max_days {
        return Err(Error::invalid(
            "token lifetimes need 1 <= SIGNET_TOKEN_DEFAULT_DAYS <= SIGNET_TOKEN_MAX_DAYS",
        )
        .into());
    }
    let policy = Policy::load(cfg.rbac_model.as_deref(), cfg.rbac_policy.as_deref()).await?;
    let limits = Limits {
        rates: rate_config(cfg),
        quotas: quota_config(cfg),
    };
    let migrations = cfg.storage.startup.migrations(!cfg.no_migrate);
    let (store, blobs) = start::open_stores_with(&cfg.storage, &migrations).await?;
    let boot = bootstrap(&*store, cfg.bootstrap_token()?.as_deref()).await?;
    let verifier = oidc_verifier(cfg)?;
    let signing = logkey::log_signing(cfg)?;
    let records = logkey::record_signer(cfg)?;
    let stream = auditstream::audit_stream(cfg, &store)?;
    let (hooks, dispatcher) = webhooks::webhooks(cfg, &store)?;
    let watch = auditstream::extraction_watch(cfg, &store);
    let mut state = services(
        store,
        blobs,
        policy,
        (limits, verifier, signing, hooks, records),
        cfg,
    );
    // Twice a second: a checkpoint at most a turn and a growth behind the log,
    // well within the second the log promises.
    state.log.spawn(Duration::from_millis(500));
    // Each already running: as long as the state holds it.
    state.audit_stream = stream;
    state.dispatcher = dispatcher;
    state.extraction_watch = watch;
    Ok((state, boot))
}

/// The identity token verifier of trusted publishing, when issuers are
/// configured.
fn oidc_verifier(cfg: &ServeConfig) -> anyhow::Result<Option<Arc<Verifier>>> {
    let o = &cfg.oidc;
    if o.issuers.0.is_empty() {
        return Ok(None);
    }
    let extra_roots =
        match &o.ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                Error::invalid(format!("SIGNET_OIDC_CA_FILE {}: {e}", path.display()))
            })?),
            None => None,
        };
    let verifier = Verifier::new(Issuers {
        urls: o.issuers.0.clone(),
        audience: o.audience.clone(),
        extra_roots,
        refresh_after: Duration::from_secs(60),
        keys_live: Duration::from_secs(3600),
        timeout: Duration::from_secs(10),
    })
    .map_err(|e| Error::invalid(format!("SIGNET_OIDC_CA_FILE: {e}")))?;
    tracing::info!(issuers = ?o.issuers.0, audience = %o.audience, "trusted publishing on");
    Ok(Some(Arc::new(verifier)))
}

/// The configured request rates and download quotas.
struct Limits {
    rates: RateConfig,
    quotas: QuotaConfig,
}

/// The download quotas the configuration asks for.
fn quota_config(cfg: &ServeConfig) -> QuotaConfig {
    QuotaConfig {
        principal: cfg.download_quota,
        by_role: cfg.download_quota_roles.0.clone(),
    }
}

/// The request rates the configuration asks for.
fn rate_config(cfg: &ServeConfig) -> RateConfig {
    RateConfig {
        principal: cfg.rate_limit.0,
        by_role: cfg.rate_limit_roles.0.clone(),
        address: cfg.anonymous_rate_limit.0,
    }
}

/// The registry service over the store and the artifact storage, with the
/// configured bounds.
fn registry_of(
    store: &Arc<dyn Store>,
    blobs: BlobStore,
    cfg: &ServeConfig,
    lineage: LineageBounds,
) -> Registry {
    Registry::new(
        RegistryStores {
            namespaces: store.clone(),
            models: store.clone(),
            aliases: store.clone(),
            refs: store.clone(),
            uploads: store.clone(),
            health: store.clone(),
        },
        blobs,
        cfg.registry_name.clone(),
        Bounds {
            max_file_size: cfg.max_file_size,
            max_files: cfg.max_files_per_version,
            max_metadata_bytes: cfg.max_metadata_bytes,
            lineage,
            upload_floor: (cfg.upload_min_rate > 0).then(|| TransferFloor {
                min_rate: cfg.upload_min_rate,
                window: Duration::from_secs(cfg.upload_stall_secs.max(1)),
            }),
            upload_session_ttl: Duration::from_secs(cfg.upload_session_ttl_secs),
        },
    )
}

/// Wires the domain services, each with the store capabilities it uses.
fn services(
    store: Arc<dyn Store>,
    blobs: BlobStore,
    policy: Policy,
    (limits, verifier, signing, webhooks, records): (
        Limits,
        Option<Arc<Verifier>>,
        Signing,
        Arc<crate::webhooks::Webhooks>,
        Option<crate::trust::RecordSigner>,
    ),
    cfg: &ServeConfig,
) -> AppState {
    let lineage = LineageBounds {
        data: cfg.max_lineage_data,
        parents: cfg.max_lineage_parents,
        frameworks: cfg.max_lineage_frameworks,
    };
    let rates = Arc::new(RateLimits::new(limits.rates));
    let quotas = Arc::new(DownloadQuotas::new(store.clone(), limits.quotas));
    spawn_forget_idle(rates.clone());
    let access = Access::new(
        (store.clone(), store.clone(), store.clone(), store.clone()),
        Arc::new(policy),
        TokenLimits {
            default_days: cfg.token_default_days,
            max_days: cfg.token_max_days,
            console_session: chrono::Duration::minutes(i64::from(
                cfg.console_session_minutes.max(1),
            )),
            registry_token: chrono::Duration::seconds(i64::from(cfg.registry_token_ttl_secs)),
        },
        rates,
        quotas.clone(),
    );
    let registry = Arc::new(registry_of(&store, blobs, cfg, lineage));
    let trust = Trust::new(
        registry.clone(),
        TrustStores {
            keys: store.clone(),
            aliases: store.clone(),
            lineage: store.clone(),
            namespaces: store.clone(),
        },
        quotas,
    )
    .with_redirects(redirects(cfg, &registry))
    .with_records(records);
    let provenance = Arc::new(Provenance::new(store.clone(), store.clone(), store.clone()));
    let trust = Arc::new(trust);
    let auditing = Arc::new(Auditing::new(store.clone()));
    let access = Arc::new(access);
    let publishing = Arc::new(Publishing::new(
        verifier,
        store.clone(),
        access.clone(),
        chrono::Duration::seconds(i64::from(cfg.oidc.token_ttl_secs)),
    ));
    AppState {
        log: Arc::new(TransparencyLog::new(store.clone(), store.clone(), signing)),
        access,
        publishing,
        catalog: Arc::new(Catalog::new(
            registry.clone(),
            trust.clone(),
            provenance.clone(),
            auditing.clone(),
        )),
        distribution: Arc::new(crate::oci::Distribution::new(
            registry.clone(),
            trust.clone(),
        )),
        registry,
        trust,
        provenance,
        auditing,
        appender: Arc::new(Appender::start(store)),
        refusals: Arc::new(RefusalWindow::new(Duration::from_secs(60))),
        header_read_timeout: Duration::from_secs(cfg.header_read_timeout_secs.max(1)),
        request_timeout: (cfg.request_timeout_secs > 0)
            .then(|| Duration::from_secs(cfg.request_timeout_secs)),
        max_connections_per_address: (cfg.max_connections_per_address > 0)
            .then_some(cfg.max_connections_per_address),
        advertised: Advertised {
            token_max_days: cfg.token_max_days,
            max_file_size: cfg.max_file_size,
            lineage,
        },
        secure_cookies: cfg.transport.tls_cert.is_some(),
        public_url: cfg.public_url.clone(),
        audit_stream: None,
        webhooks,
        dispatcher: None,
        extraction_watch: None,
    }
}

/// Serves on `listener` until `shutdown` resolves; in-flight requests finish first.
///
/// A connection whose request head does not arrive within the configured
/// header-read timeout is closed (hyper enforces it only when given a timer,
/// which `axum::serve` does not give it), so a client sending its head a byte at
/// a time cannot hold a connection open.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// A connection's byte stream: plain TCP, or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// [`serve`], with TLS on every connection when `tls` is given. The TLS
/// handshake has the header-read timeout too.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tower::Service;

    let header_timeout = state.header_read_timeout;
    let per_address = Arc::new(ConnectionCounts {
        limit: state.max_connections_per_address,
        open: Default::default(),
    });
    let app = app(state);
    // Flips to true when shutdown begins: no more connections are accepted, and
    // each open one finishes its requests and closes.
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = signal_tx.send(true);
    });
    // Every connection task holds a receiver; the sender waits for all to end.
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let mut stopping = signal_rx.clone();
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    continue;
                }
            },
            () = stopped(&mut stopping) => break,
        };
        let app = app.clone();
        let held = per_address.hold(addr.ip());
        let excess = held.excess;
        let service =
            hyper::service::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(addr));
                if excess {
                    req.extensions_mut().insert(ExcessConnection);
                }
                app.clone().call(req)
            });
        let stopping = signal_rx.clone();
        let done = done_rx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            serve_connection(stream, tls, header_timeout, service, stopping).await;
            drop(held);
            drop(done);
        });
    }
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// Serves one accepted connection: its TLS handshake (within the header-read
/// timeout), then its requests, until it closes or shutdown begins (then it
/// finishes the request under way and closes).
async fn serve_connection<S>(
    stream: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    header_timeout: Duration,
    service: S,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) where
    S: hyper::service::Service<
            axum::http::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;

    let stream: Box<dyn Io> = match tls {
        None => Box::new(stream),
        Some(tls) => match tokio::time::timeout(header_timeout, tls.accept(stream)).await {
            Ok(Ok(s)) => Box::new(s),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        },
    };
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        () = stopped(&mut stopping) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Serves the operator's routes (metrics, health, readiness) on `listener`
/// until `shutdown` resolves.
pub async fn serve_ops(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_ops_from(listener, Readiness::of(state), shutdown).await
}

/// [`serve_ops`] from before the service is built: alive, and unready until
/// `readiness` is given the service.
pub async fn serve_ops_from(
    listener: TcpListener,
    readiness: Readiness,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, crate::http::ops_app(readiness))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The API's TLS acceptor, when a certificate is configured; it reloads the
/// files as they change.
pub fn tls_acceptor(t: &TransportConfig) -> Result<Option<tokio_rustls::TlsAcceptor>> {
    let (Some(cert), Some(key)) = (&t.tls_cert, &t.tls_key) else {
        return Ok(None);
    };
    let cert = ReloadingCert::load(cert, key)?;
    cert.spawn_reload(Duration::from_secs(t.tls_reload_secs));
    Ok(Some(cert.acceptor()?))
}

/// Open connections per client address, against the configured bound.
struct ConnectionCounts {
    limit: Option<usize>,
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One open connection, counted until dropped. An `excess` one is over its
/// address's bound: its requests are refused (429) and it is closed.
struct HeldConnection {
    counts: Arc<ConnectionCounts>,
    addr: std::net::IpAddr,
    excess: bool,
}

impl ConnectionCounts {
    fn hold(self: &Arc<Self>, addr: std::net::IpAddr) -> HeldConnection {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(addr).or_insert(0);
        let excess = self.limit.is_some_and(|limit| *n >= limit);
        if !excess {
            *n += 1;
        }
        HeldConnection {
            counts: self.clone(),
            addr,
            excess,
        }
    }
}

impl Drop for HeldConnection {
    fn drop(&mut self) {
        if self.excess {
            return;
        }
        let mut open = self.counts.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.addr);
            }
        }
    }
}

/// Resolves once shutdown has begun (or its signal is gone).
async fn stopped(signal: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, before any other await.
    let _ = signal.wait_for(|stop| *stop).await.map(|_| ());
}

/// Runs GC every `interval`, forever. Each replica may run it: deletes are
/// idempotent and only ever touch unreferenced blobs past the grace period.
pub fn spawn_gc(registry: Arc<Registry>, interval: Duration, grace: Duration) {
    if interval.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::days(1));
            match registry.collect_garbage(grace).await {
                Ok(r) => tracing::info!(scanned = r.scanned, deleted = r.deleted, "blob gc"),
                Err(e) => tracing::warn!(error = %e, "blob gc failed"),
            }
        }
    });
}

/// Forgets idle rate-limit keys every minute, so a flood from many addresses
/// does not grow memory for good.
fn spawn_forget_idle(rates: Arc<RateLimits>) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                rates.forget_idle();
            }
        });
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down; finishing in-flight requests");
}

/// How long presigned download URLs live, when redirects are on and the store
/// can presign (an S3 store); a local directory always streams.
fn redirects(cfg: &ServeConfig, registry: &Registry) -> Option<Duration> {
    let secs = cfg.redirect_secs;
    if secs == 0 {
        return None;
    }
    if !registry.can_presign() {
        tracing::warn!(
            "SIGNET_REDIRECT_SECS is set, but the artifact store is a local directory: \
             downloads are served through Signet"
        );
        return None;
    }
    Some(Duration::from_secs(u64::from(secs)))
}
