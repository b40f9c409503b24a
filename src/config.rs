//! Configuration: flags and `SIGNET_*` environment variables, with embedded
//! defaults that run on a fresh machine (SQLite file + local directory).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::error::{Error, Result};
use crate::limits::{ByRole, DownloadQuota, Rate, RateSetting};

mod oidc;
pub use oidc::{Issuers as OidcIssuers, OidcConfig};
mod alerts;
mod webhooks;
pub use alerts::ExtractionConfig;
pub use webhooks::WebhookConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where metadata and bytes live.
#[derive(Clone, Args)]
pub struct StorageConfig {
    /// The directory of the embedded defaults: the SQLite database
    /// (DIR/signet.db) and the blobs (DIR/blobs), where neither
    /// SIGNET_DATABASE_URL nor SIGNET_STORAGE_URL says otherwise.
    #[arg(long, env = "SIGNET_DATA_DIR", default_value = "./signet-data")]
    pub data_dir: PathBuf,

    /// `sqlite://path` (created if missing) or `postgres://user@host/db`
    /// (default: sqlite://DATA_DIR/signet.db).
    #[arg(long, env = "SIGNET_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Most connections to PostgreSQL this process holds (SQLite: its own 8).
    /// Each request's statements run one after the other, so more connections
    /// than the database has cores to run them mostly wait for each other.
    #[arg(long, env = "SIGNET_DATABASE_MAX_CONNECTIONS", default_value_t = 8,
        value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// A local directory, `file:///dir`, or `s3://bucket[/prefix]` (credentials from
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); default: DATA_DIR/blobs.
    #[arg(long, env = "SIGNET_STORAGE_URL")]
    pub storage_url: Option<String>,

    /// S3 endpoint for S3-compatible stores (MinIO, Garage, Ceph RGW).
    #[arg(long, env = "SIGNET_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region (falls back to AWS_REGION).
    #[arg(long, env = "SIGNET_S3_REGION")]
    pub s3_region: Option<String>,

    /// Allow plain HTTP to the S3 endpoint (local stores only).
    #[arg(long, env = "SIGNET_S3_ALLOW_HTTP", default_value_t = false)]
    pub s3_allow_http: bool,

    #[command(flatten)]
    pub secrets: StorageSecrets,

    #[command(flatten)]
    pub encryption: S3Encryption,

    #[command(flatten)]
    pub startup: StartupConfig,
}

/// How long start-up waits for what it needs.
#[derive(Clone, Debug, Args)]
pub struct StartupConfig {
    /// How long to keep trying to reach the database and the blob store at
    /// start before giving up, in seconds.
    #[arg(long, env = "SIGNET_STARTUP_TIMEOUT_SECS", default_value_t = STARTUP_TIMEOUT_SECS)]
    pub startup_timeout_secs: u64,

    /// The longest one migration statement waits for a lock another session
    /// holds (a replica still serving, a long transaction) before the migration
    /// is rolled back and tried again, in seconds.
    #[arg(long, env = "SIGNET_MIGRATION_LOCK_TIMEOUT_SECS",
        default_value_t = crate::store::migrate::LOCK_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub migration_lock_timeout_secs: u64,

    /// The longest migrations may take at start, waiting for another replica's
    /// included, in seconds.
    #[arg(long, env = "SIGNET_MIGRATION_TIMEOUT_SECS",
        default_value_t = crate::store::migrate::TIMEOUT_SECS)]
    pub migration_timeout_secs: u64,
}

/// How long start-up keeps trying to reach the stores, by default.
const STARTUP_TIMEOUT_SECS: u64 = 60;

impl Default for StartupConfig {
    fn default() -> Self {
        Self {
            startup_timeout_secs: STARTUP_TIMEOUT_SECS,
            migration_lock_timeout_secs: crate::store::migrate::LOCK_TIMEOUT_SECS,
            migration_timeout_secs: crate::store::migrate::TIMEOUT_SECS,
        }
    }
}

impl StartupConfig {
    /// The migration policy these settings describe; `apply` says whether to migrate.
    pub fn migrations(&self, apply: bool) -> crate::store::MigrationPolicy {
        crate::store::MigrationPolicy {
            apply,
            lock_timeout: std::time::Duration::from_secs(self.migration_lock_timeout_secs),
            timeout: std::time::Duration::from_secs(self.migration_timeout_secs),
        }
    }
}

/// The storage secrets, each given in the environment (or a flag) or, the
/// container-secrets way, in a file named by `…_FILE` whose content is the
/// secret (a trailing newline is ignored).
#[derive(Clone, Default, Args)]
pub struct StorageSecrets {
    /// A file holding the database URL (instead of SIGNET_DATABASE_URL).
    #[arg(
        long,
        env = "SIGNET_DATABASE_URL_FILE",
        conflicts_with = "database_url"
    )]
    pub database_url_file: Option<PathBuf>,

    /// The S3 access key id (default: AWS_ACCESS_KEY_ID).
    #[arg(long, env = "SIGNET_S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,

    /// A file holding the S3 access key id.
    #[arg(
        long,
        env = "SIGNET_S3_ACCESS_KEY_ID_FILE",
        conflicts_with = "s3_access_key_id"
    )]
    pub s3_access_key_id_file: Option<PathBuf>,

    /// The S3 secret access key (default: AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "SIGNET_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,

    /// A file holding the S3 secret access key.
    #[arg(
        long,
        env = "SIGNET_S3_SECRET_ACCESS_KEY_FILE",
        conflicts_with = "s3_secret_access_key"
    )]
    pub s3_secret_access_key_file: Option<PathBuf>,
}

/// S3 server-side encryption asked for on every write.
#[derive(Clone, Default, Args)]
pub struct S3Encryption {
    /// `AES256` (SSE-S3) or `aws:kms` (SSE-KMS, with SIGNET_S3_SSE_KMS_KEY_ID);
    /// unset: the bucket's default.
    #[arg(long, env = "SIGNET_S3_SSE", value_parser = ["AES256", "aws:kms"])]
    pub s3_sse: Option<String>,

    /// The KMS key id or ARN for `aws:kms` (unset: the account's S3 default key).
    #[arg(long, env = "SIGNET_S3_SSE_KMS_KEY_ID", requires = "s3_sse")]
    pub s3_sse_kms_key_id: Option<String>,
}

/// A secret given directly or in a file (its content, without the trailing
/// newline). The error names the file, never its content.
pub fn secret(direct: Option<&str>, file: Option<&Path>, setting: &str) -> Result<Option<String>> {
    match (direct, file) {
        (Some(value), None) => Ok(Some(value.to_owned())),
        (_, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::invalid(format!(
                    "{setting}_FILE: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            let value = text.strip_suffix('\n').unwrap_or(&text);
            let value = value.strip_suffix('\r').unwrap_or(value);
            if value.is_empty() {
                return Err(Error::invalid(format!(
                    "{setting}_FILE: {} is empty",
                    path.display()
                )));
            }
            Ok(Some(value.to_owned()))
        }
        (None, None) => Ok(None),
    }
}

impl StorageConfig {
    /// The database URL, from SIGNET_DATABASE_URL or its file, else the
    /// SQLite file in the data directory.
    pub fn database_url(&self) -> Result<String> {
        let given = secret(
            self.database_url.as_deref(),
            self.secrets.database_url_file.as_deref(),
            "SIGNET_DATABASE_URL",
        )?;
        Ok(given
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("signet.db").display())))
    }

    /// Where the blobs are: SIGNET_STORAGE_URL, else the data directory's
    /// `blobs`.
    pub fn storage_url(&self) -> String {
        self.storage_url
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs").display().to_string())
    }

    /// The S3 credentials given to Signet itself, if any (otherwise the AWS
    /// environment and instance credentials apply).
    pub fn s3_credentials(&self) -> Result<(Option<String>, Option<String>)> {
        let s = &self.secrets;
        Ok((
            secret(
                s.s3_access_key_id.as_deref(),
                s.s3_access_key_id_file.as_deref(),
                "SIGNET_S3_ACCESS_KEY_ID",
            )?,
            secret(
                s.s3_secret_access_key.as_deref(),
                s.s3_secret_access_key_file.as_deref(),
                "SIGNET_S3_SECRET_ACCESS_KEY",
            )?,
        ))
    }
}

// The database URL may carry a password: never print it.
impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field(
                "database",
                &self
                    .database_url
                    .as_deref()
                    .and_then(|u| u.split(':').next()),
            )
            .field("storage", &self.storage_url().split(':').next())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub storage: StorageConfig,

    /// Address to listen on.
    #[arg(long, env = "SIGNET_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Do not migrate the database at start (`signet migrate` does, as a step of
    /// its own); refuse to start while migrations are pending.
    #[arg(long, env = "SIGNET_NO_MIGRATE", default_value_t = false)]
    pub no_migrate: bool,

    /// This registry's name, bound into every signed statement.
    #[arg(long, env = "SIGNET_REGISTRY_NAME", default_value = "signet")]
    pub registry_name: String,

    /// Largest accepted file, in bytes (default 100 GiB).
    #[arg(long, env = "SIGNET_MAX_FILE_SIZE", default_value_t = 100 << 30)]
    pub max_file_size: u64,

    /// Most files one version may hold.
    #[arg(long, env = "SIGNET_MAX_FILES_PER_VERSION", default_value_t = 10_000)]
    pub max_files_per_version: usize,

    /// Largest version metadata, in bytes of JSON (request bodies are at most 1 MiB).
    #[arg(long, env = "SIGNET_MAX_METADATA_BYTES", default_value_t = 64 * 1024)]
    pub max_metadata_bytes: usize,

    /// Most datasets a version's lineage may list (`lineage.data`).
    #[arg(long, env = "SIGNET_MAX_LINEAGE_DATA", default_value_t = 1000)]
    pub max_lineage_data: usize,

    /// Most parents a version's lineage may list (`lineage.parents`).
    #[arg(long, env = "SIGNET_MAX_LINEAGE_PARENTS", default_value_t = 100)]
    pub max_lineage_parents: usize,

    /// Most frameworks a version's lineage may list (`lineage.environment.frameworks`).
    #[arg(long, env = "SIGNET_MAX_LINEAGE_FRAMEWORKS", default_value_t = 100)]
    pub max_lineage_frameworks: usize,

    /// Token for the first admin, used only when the database has no token yet.
    /// Without it, one is generated and printed once.
    #[arg(long, env = "SIGNET_BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<String>,

    /// A file holding the bootstrap token (instead of SIGNET_BOOTSTRAP_TOKEN).
    #[arg(
        long,
        env = "SIGNET_BOOTSTRAP_TOKEN_FILE",
        conflicts_with = "bootstrap_token"
    )]
    pub bootstrap_token_file: Option<PathBuf>,

    #[command(flatten)]
    pub transport: TransportConfig,

    #[command(flatten)]
    pub oidc: OidcConfig,

    #[command(flatten)]
    pub webhooks: WebhookConfig,

    #[command(flatten)]
    pub extraction: ExtractionConfig,

    /// The transparency log's signing key: an Ed25519 private key in PKCS#8
    /// PEM (`signet keygen --algorithm ed25519` writes one). Never kept in the
    /// database. Unset: the embedded default generates one into the data
    /// directory on first start; with PostgreSQL the log's routes answer 503.
    #[arg(long, env = "SIGNET_LOG_KEY_FILE")]
    pub log_key_file: Option<PathBuf>,

    /// The registry's own signing key, which signs its promotion records and
    /// provenance: an Ed25519 or ECDSA P-256 private key in PKCS#8 PEM
    /// (`signet keygen --algorithm ed25519` writes one). Never kept in the database. Unset: the embedded default
    /// generates one into the data directory on first start; with PostgreSQL
    /// moves are kept without records.
    #[arg(long, env = "SIGNET_REGISTRY_KEY_FILE")]
    pub registry_key_file: Option<PathBuf>,

    /// Streams every access event, as OCSF API Activity JSON, to a SIEM:
    /// `syslog+tcp://HOST:PORT` or `syslog+tls://HOST:PORT` (RFC 5424,
    /// octet-counted) or an HTTP event
    /// collector's URL (Splunk HEC's event format). From the oldest event
    /// kept, then as they come, from a position kept in the database.
    #[arg(long, env = "SIGNET_AUDIT_STREAM")]
    pub audit_stream: Option<String>,

    /// A file holding the HTTP event collector's token (sent as
    /// `Authorization: Splunk <token>`).
    #[arg(long, env = "SIGNET_AUDIT_STREAM_TOKEN_FILE")]
    pub audit_stream_token_file: Option<PathBuf>,

    /// PEM certificates a `syslog+tls://` receiver's certificate is checked
    /// against (instead of the platform's roots), or an `https://`
    /// collector's (beside them).
    #[arg(long, env = "SIGNET_AUDIT_STREAM_CA_FILE")]
    pub audit_stream_ca_file: Option<PathBuf>,

    /// Seconds a resumable upload lives after its last part arrived; garbage
    /// collection then removes it and its parts.
    #[arg(long, env = "SIGNET_UPLOAD_SESSION_TTL_SECS", default_value_t = 86_400)]
    pub upload_session_ttl_secs: u64,

    /// Seconds between garbage collections of unreferenced blobs (0 disables).
    #[arg(long, env = "SIGNET_GC_INTERVAL_SECS", default_value_t = 3600)]
    pub gc_interval_secs: u64,

    /// Age in seconds an unreferenced blob must reach before GC removes it.
    #[arg(long, env = "SIGNET_GC_GRACE_SECS", default_value_t = 86_400)]
    pub gc_grace_secs: u64,

    /// Casbin model file replacing the embedded `policy/model.conf`.
    #[arg(long, env = "SIGNET_RBAC_MODEL")]
    pub rbac_model: Option<String>,

    /// Casbin policy file replacing the embedded `policy/policy.csv`.
    #[arg(long, env = "SIGNET_RBAC_POLICY")]
    pub rbac_policy: Option<String>,

    /// Lifetime of a new API token that does not ask for one, in days.
    #[arg(long, env = "SIGNET_TOKEN_DEFAULT_DAYS", default_value_t = 90)]
    pub token_default_days: u32,

    /// Longest lifetime a new API token may ask for, in days.
    #[arg(long, env = "SIGNET_TOKEN_MAX_DAYS", default_value_t = 365)]
    pub token_max_days: u32,

    /// How long a console session lasts after sign-in, in minutes (never longer
    /// than the token signed in with).
    #[arg(long, env = "SIGNET_CONSOLE_SESSION_MINUTES", default_value_t = 480)]
    pub console_session_minutes: u32,

    /// How long a registry token from the OCI face's `/v2/token` lasts, in
    /// seconds (never longer than the API token it was asked with).
    #[arg(long, env = "SIGNET_REGISTRY_TOKEN_TTL_SECS", default_value_t = 300,
        value_parser = clap::value_parser!(u32).range(30..=3600))]
    pub registry_token_ttl_secs: u32,

    /// Redirect downloads to presigned URLs of the S3 store living this many
    /// seconds (`307`, as the Distribution registry does) instead of streaming
    /// them through Signet: OCI layers, and `/v1` file downloads whose client
    /// asks for it (`signet pull`); 0 (the default) turns it off. The quota is
    /// charged and the access log written at the redirect; the clients check
    /// every byte themselves.
    #[arg(long, env = "SIGNET_REDIRECT_SECS", default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub redirect_secs: u32,

    /// The URL clients reach this service at, when it differs from what they
    /// send in `Host` (behind a proxy or TLS terminator): `https://host[:port]`.
    /// The OCI face's token realm is built from it.
    #[arg(long, env = "SIGNET_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    #[arg(long, env = "SIGNET_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Seconds a connection may take to send a request's head before it is closed.
    #[arg(long, env = "SIGNET_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Seconds a request on a route that does not stream may take, body included,
    /// before it is answered 408 (body still arriving) or 503 (0 disables).
    #[arg(long, env = "SIGNET_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Least average rate, in bytes per second, an upload body must keep up over
    /// every stall window, or it is aborted with 408 and nothing kept (0 disables).
    #[arg(long, env = "SIGNET_UPLOAD_MIN_RATE", default_value_t = 1024)]
    pub upload_min_rate: u64,

    /// The stall window of `SIGNET_UPLOAD_MIN_RATE`, in seconds.
    #[arg(long, env = "SIGNET_UPLOAD_STALL_SECS", default_value_t = 30)]
    pub upload_stall_secs: u64,

    /// Most connections one client address may hold open at once (0 disables).
    /// Behind a proxy every client shares the proxy's address: raise it there.
    #[arg(
        long,
        env = "SIGNET_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: usize,

    /// What one principal may download in a rolling day: `BYTES/FILES` (e.g.
    /// `1TiB/100000`; either side `off`), or `off`.
    #[arg(long, env = "SIGNET_DOWNLOAD_QUOTA", default_value = "1TiB/100000")]
    pub download_quota: DownloadQuota,

    /// Larger quotas for some roles: `role=BYTES/FILES,…` (a principal gets the
    /// most generous of its roles', kind by kind).
    #[arg(long, env = "SIGNET_DOWNLOAD_QUOTA_ROLES", default_value = "")]
    pub download_quota_roles: ByRole<DownloadQuota>,

    /// Requests one principal may make: `N/min` or `N/min:BURST`, or `off`.
    #[arg(long, env = "SIGNET_RATE_LIMIT", default_value = "6000/min:600")]
    pub rate_limit: RateSetting,

    /// Faster rates for some roles: `role=N/min[:BURST],…` (a principal gets the
    /// most generous rate of its roles).
    #[arg(
        long,
        env = "SIGNET_RATE_LIMIT_ROLES",
        default_value = "admin=60000/min:6000"
    )]
    pub rate_limit_roles: ByRole<Rate>,

    /// Requests without a valid token one client address may make, or `off`.
    #[arg(
        long,
        env = "SIGNET_ANONYMOUS_RATE_LIMIT",
        default_value = "600/min:60"
    )]
    pub anonymous_rate_limit: RateSetting,
}

/// How the service is reached: TLS on the API port, and the operator's port.
#[derive(Clone, Args)]
pub struct TransportConfig {
    /// Address of the operator's listener (`/metrics`, `/healthz`, `/readyz`;
    /// plain HTTP, no credentials, no model data), or `off`.
    #[arg(long, env = "SIGNET_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
    pub metrics_listen: String,

    /// PEM certificate chain for TLS on the API port (with SIGNET_TLS_KEY).
    #[arg(long, env = "SIGNET_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of SIGNET_TLS_CERT.
    #[arg(long, env = "SIGNET_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Seconds between checks of the certificate and key files; changed files
    /// are loaded for new connections without a restart.
    #[arg(long, env = "SIGNET_TLS_RELOAD_SECS", default_value_t = 10)]
    pub tls_reload_secs: u64,

    /// Serve plain HTTP on an address other than loopback (behind a proxy that
    /// terminates TLS). Without it, Signet refuses to start so.
    #[arg(long, env = "SIGNET_ALLOW_PLAIN_HTTP", default_value_t = false)]
    pub allow_plain_http: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            metrics_listen: "off".into(),
            tls_cert: None,
            tls_key: None,
            tls_reload_secs: 10,
            allow_plain_http: false,
        }
    }
}

impl ServeConfig {
    /// The bootstrap token, from SIGNET_BOOTSTRAP_TOKEN or its file.
    pub fn bootstrap_token(&self) -> Result<Option<String>> {
        secret(
            self.bootstrap_token.as_deref(),
            self.bootstrap_token_file.as_deref(),
            "SIGNET_BOOTSTRAP_TOKEN",
        )
    }
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("storage", &self.storage)
            .field("listen", &self.listen)
            .field("registry_name", &self.registry_name)
            .field("max_file_size", &self.max_file_size)
            .finish_non_exhaustive()
    }
}

/// A public URL: `http(s)://host[:port][/prefix]`, without query or fragment,
/// kept without a trailing slash.
fn parse_public_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or("the public URL must start with https:// or http://")?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || rest.contains(['?', '#', ' ', '"', '\\'])
        || !rest.is_ascii()
        || host.contains('@')
    {
        return Err(
            "the public URL must be scheme://host[:port][/path], no query, fragment, \
                    user or quote"
                .into(),
        );
    }
    Ok(s.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_gives_its_content_without_the_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        for (written, read) in [
            ("abc\n", "abc"),
            ("abc\r\n", "abc"),
            ("abc", "abc"),
            ("a b\n\n", "a b\n"),
        ] {
            std::fs::write(&f, written).unwrap();
            assert_eq!(secret(None, Some(&f), "X").unwrap().as_deref(), Some(read));
        }
        assert_eq!(
            secret(Some("direct"), None, "X").unwrap().as_deref(),
            Some("direct")
        );
        assert_eq!(secret(None, None, "X").unwrap(), None);
    }

    #[test]
    fn an_empty_or_missing_secret_file_is_an_error_that_names_the_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let e = secret(None, Some(&empty), "SIGNET_X")
            .unwrap_err()
            .to_string();
        assert!(e.contains("SIGNET_X_FILE") && e.contains("empty"), "{e}");
        let missing = dir.path().join("missing");
        let e = secret(None, Some(&missing), "SIGNET_X")
            .unwrap_err()
            .to_string();
        assert!(e.contains("SIGNET_X_FILE") && e.contains("missing"), "{e}");
    }
}
