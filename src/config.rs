//! Configuration: flags and `SIGNET_*` environment variables, with embedded
//! defaults that run on a fresh machine (SQLite file + local directory).

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where metadata and bytes live.
#[derive(Clone, Args)]
pub struct StorageConfig {
    /// `sqlite://path` (created if missing) or `postgres://user@host/db`.
    #[arg(
        long,
        env = "SIGNET_DATABASE_URL",
        default_value = "sqlite://./signet-data/signet.db"
    )]
    pub database_url: String,

    /// A local directory, `file:///dir`, or `s3://bucket[/prefix]` (credentials from
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    #[arg(
        long,
        env = "SIGNET_STORAGE_URL",
        default_value = "./signet-data/blobs"
    )]
    pub storage_url: String,

    /// S3 endpoint for S3-compatible stores (MinIO, Garage, Ceph RGW).
    #[arg(long, env = "SIGNET_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region (falls back to AWS_REGION).
    #[arg(long, env = "SIGNET_S3_REGION")]
    pub s3_region: Option<String>,

    /// Allow plain HTTP to the S3 endpoint (local stores only).
    #[arg(long, env = "SIGNET_S3_ALLOW_HTTP", default_value_t = false)]
    pub s3_allow_http: bool,
}

// The database URL may carry a password: never print it.
impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field("database", &self.database_url.split(':').next())
            .field("storage", &self.storage_url.split(':').next())
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
    pub download_quota: String,

    /// Larger quotas for some roles: `role=BYTES/FILES,…` (a principal gets the
    /// most generous of its roles', kind by kind).
    #[arg(long, env = "SIGNET_DOWNLOAD_QUOTA_ROLES", default_value = "")]
    pub download_quota_roles: String,

    /// Requests one principal may make: `N/min` or `N/min:BURST`, or `off`.
    #[arg(long, env = "SIGNET_RATE_LIMIT", default_value = "6000/min:600")]
    pub rate_limit: String,

    /// Faster rates for some roles: `role=N/min[:BURST],…` (a principal gets the
    /// most generous rate of its roles).
    #[arg(
        long,
        env = "SIGNET_RATE_LIMIT_ROLES",
        default_value = "admin=60000/min:6000"
    )]
    pub rate_limit_roles: String,

    /// Requests without a valid token one client address may make, or `off`.
    #[arg(
        long,
        env = "SIGNET_ANONYMOUS_RATE_LIMIT",
        default_value = "600/min:60"
    )]
    pub anonymous_rate_limit: String,
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
