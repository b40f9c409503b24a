//! Webhooks' settings: the key their secrets are sealed with, where
//! deliveries may go beyond public `https` targets, the authorities a
//! private receiver's certificate may come from, how long an attempt may
//! take and how long a delivery is retried.

use std::path::PathBuf;

use clap::Args;

#[derive(Clone, Args)]
pub struct WebhookConfig {
    /// The key webhook secrets are sealed with: 32 random bytes in base64
    /// (`openssl rand -base64 32`). Unset: the embedded default generates
    /// one into the data directory on first start; with PostgreSQL the
    /// webhook routes answer 503 (a key kept beside the database would let
    /// whoever reads the database sign deliveries).
    #[arg(
        id = "webhook_key_file",
        long = "webhook-key-file",
        env = "SIGNET_WEBHOOK_KEY_FILE"
    )]
    pub key_file: Option<PathBuf>,

    /// Targets the SSRF guard lets through besides public `https` ones:
    /// networks (CIDR), addresses and host names, separated by commas. A
    /// host allowed here may also be reached over plain `http`.
    #[arg(
        id = "webhook_allow",
        long = "webhook-allow",
        env = "SIGNET_WEBHOOK_ALLOW",
        default_value = ""
    )]
    pub allow: String,

    /// PEM certificates trusted beside the platform's roots for receivers
    /// under a private authority.
    #[arg(
        id = "webhook_ca_file",
        long = "webhook-ca-file",
        env = "SIGNET_WEBHOOK_CA_FILE"
    )]
    pub ca_file: Option<PathBuf>,

    /// How long one attempt may take, in seconds.
    #[arg(id = "webhook_timeout_secs", long = "webhook-timeout-secs", env = "SIGNET_WEBHOOK_TIMEOUT_SECS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=60))]
    pub timeout_secs: u64,

    /// How long a delivery is retried (with exponential backoff) before it
    /// fails and its subscription is disabled, in seconds.
    #[arg(id = "webhook_retry_secs", long = "webhook-retry-secs", env = "SIGNET_WEBHOOK_RETRY_SECS", default_value_t = 86_400,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            key_file: None,
            allow: String::new(),
            ca_file: None,
            timeout_secs: 10,
            retry_secs: 86_400,
        }
    }
}
