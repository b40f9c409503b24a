//! What the HTTP benchmarks share: a Signet on a random port over the database
//! named by SIGNET_BENCH_DATABASE_URL (default: a fresh SQLite file) and a
//! temporary blob directory.

use std::sync::Arc;

use signet::auth::Secret;
use signet::config::{LogFormat, ServeConfig, StorageConfig};
use signet::store::Store;

// Each benchmark binary compiles this module on its own and uses only part of it.
#[allow(dead_code)]
pub struct Bench {
    pub base: String,
    pub token: String,
    pub store: Arc<dyn Store>,
    pub backend: String,
    pub database_url: String,
    _dir: tempfile::TempDir,
}

#[allow(dead_code)]
pub async fn start() -> Bench {
    let rate = std::env::var("SIGNET_BENCH_RATE_LIMIT").unwrap_or_else(|_| "off".into());
    start_with(&rate).await
}

/// A Signet whose per-principal rate limit is `rate` (`off`, or `N/min[:BURST]`).
pub async fn start_with(rate: &str) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let db = std::env::var("SIGNET_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let admin = Secret::generate();
    // A log key from a file, as production has (PostgreSQL needs one).
    let log_key = dir.path().join("log-key.pem");
    {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let pem = ed25519_dalek::SigningKey::from_bytes(&seed)
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap();
        std::fs::write(&log_key, pem.as_bytes()).unwrap();
    }
    let cfg = ServeConfig {
        storage: StorageConfig {
            data_dir: dir.path().to_owned(),
            database_url: Some(db.clone()),
            database_max_connections: 8,
            storage_url: None,
            s3_endpoint: None,
            s3_region: None,
            s3_allow_http: false,
            secrets: Default::default(),
            encryption: Default::default(),
            startup: Default::default(),
        },
        listen: "127.0.0.1:0".into(),
        no_migrate: false,
        registry_name: "bench".into(),
        max_file_size: 1 << 30,
        bootstrap_token: Some(admin.expose().to_owned()),
        bootstrap_token_file: None,
        transport: Default::default(),
        gc_interval_secs: 0,
        gc_grace_secs: 86_400,
        upload_session_ttl_secs: 86_400,
        rbac_model: None,
        rbac_policy: None,
        token_default_days: 90,
        token_max_days: 365,
        console_session_minutes: 480,
        registry_token_ttl_secs: 300,
        oidc: Default::default(),
        webhooks: Default::default(),
        extraction: Default::default(),
        // The embedded default's registry key (Ed25519), unless
        // SIGNET_BENCH_REGISTRY_KEY=p256 asks for an ECDSA P-256 one.
        registry_key_file: registry_key(dir.path()),
        log_key_file: Some(log_key),
        audit_stream: None,
        audit_stream_token_file: None,
        audit_stream_ca_file: None,
        public_url: None,
        redirect_secs: 0,
        log_format: LogFormat::Text,
        header_read_timeout_secs: 10,
        max_files_per_version: 10_000,
        rate_limit: rate.parse().unwrap(),
        rate_limit_roles: Default::default(),
        anonymous_rate_limit: "off".parse().unwrap(),
        max_metadata_bytes: 64 * 1024,
        max_lineage_data: 1000,
        max_lineage_parents: 100,
        max_lineage_frameworks: 100,
        request_timeout_secs: 30,
        upload_min_rate: 1024,
        upload_stall_secs: 30,
        max_connections_per_address: 0,
        download_quota: "off".parse().unwrap(),
        download_quota_roles: Default::default(),
    };
    let (state, _) = signet::server::build(&cfg)
        .await
        .expect("service starts (fresh database?)");
    let (store, _) = signet::server::open_stores(&cfg.storage)
        .await
        .expect("stores open");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(signet::server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Bench {
        base,
        token: admin.expose().to_owned(),
        store,
        backend: db.split(':').next().unwrap_or_default().to_owned(),
        database_url: db.clone(),
        _dir: dir,
    }
}

/// Creates namespace `fraud` and model `fraud/scorer` as the admin.
#[allow(dead_code)]
pub async fn given_model(b: &Bench, c: &reqwest::Client) {
    for (path, body) in [
        ("/v1/namespaces", serde_json::json!({"name": "fraud"})),
        (
            "/v1/models",
            serde_json::json!({"namespace": "fraud", "name": "scorer"}),
        ),
    ] {
        let r = c
            .post(format!("{}{path}", b.base))
            .bearer_auth(&b.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
}

/// Signs the statement a sealed version answered with `sk` (a DSSE envelope
/// over its PAE) and uploads the signature to `version_path`, as the admin.
#[allow(dead_code)]
pub async fn sign(
    b: &Bench,
    c: &reqwest::Client,
    sk: &ed25519_dalek::SigningKey,
    version_path: &str,
    statement: &serde_json::Value,
) {
    sign_at(&b.base, &b.token, c, sk, version_path, statement).await
}

/// [`sign`] against the Signet at `base`, as the holder of `token`.
#[allow(dead_code)]
pub async fn sign_at(
    base: &str,
    token: &str,
    c: &reqwest::Client,
    sk: &ed25519_dalek::SigningKey,
    version_path: &str,
    statement: &serde_json::Value,
) {
    use base64::Engine;
    use ed25519_dalek::Signer;
    let payload = serde_json::to_vec(statement).unwrap();
    let ty = "application/vnd.in-toto+json";
    let sig = sk.sign(&signet::signing::dsse::pae(ty, &payload));
    let b64 = base64::engine::general_purpose::STANDARD;
    let r = c
        .post(format!("{base}{version_path}/signatures"))
        .bearer_auth(token)
        .json(
            &serde_json::json!({"payload": b64.encode(&payload), "payloadType": ty,
                "signatures": [{"sig": b64.encode(sig.to_bytes())}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// A fresh Ed25519 key registered as `ci` for namespace `fraud`, as the admin.
#[allow(dead_code)]
pub async fn registered_key(b: &Bench, c: &reqwest::Client) -> ed25519_dalek::SigningKey {
    registered_key_at(&b.base, &b.token, c).await
}

/// [`registered_key`] at the Signet at `base`, as the holder of `token`.
#[allow(dead_code)]
pub async fn registered_key_at(
    base: &str,
    token: &str,
    c: &reqwest::Client,
) -> ed25519_dalek::SigningKey {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
    let pem = sk
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let r = c
        .post(format!("{base}/v1/keys"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "ci", "public_key": pem, "namespaces": ["fraud"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    sk
}

/// An Ed25519 registry key file, when SIGNET_BENCH_REGISTRY_KEY=ed25519.
fn registry_key(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    if std::env::var("SIGNET_BENCH_REGISTRY_KEY").ok()? != "ed25519" {
        return None;
    }
    let key =
        signet::signing::signer::PrivateKey::generate(signet::kinds::Algorithm::Ed25519).unwrap();
    let path = dir.join("registry-key.pem");
    std::fs::write(&path, key.to_pem().as_bytes()).unwrap();
    Some(path)
}

/// A port free on the loopback address now.
#[allow(dead_code)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `signet serve` of this build on `port` (or of the binary
/// `SIGNET_BENCH_BINARY` names, to measure another build against the same
/// baseline), every limit off (rate limits, quotas, connections per address)
/// and no garbage collection: what the load benchmarks measure is the request
/// path alone.
#[allow(dead_code)]
pub fn unlimited_serve(
    port: u16,
    database_url: &str,
    blobs: &std::path::Path,
    token: &str,
) -> tokio::process::Command {
    let binary = std::env::var_os("SIGNET_BENCH_BINARY")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_signet").into());
    let mut cmd = tokio::process::Command::new(binary);
    cmd.arg("serve")
        .env("SIGNET_LISTEN", format!("127.0.0.1:{port}"))
        .env("SIGNET_DATABASE_URL", database_url)
        .env("SIGNET_STORAGE_URL", blobs)
        .env("SIGNET_BOOTSTRAP_TOKEN", token)
        .env("SIGNET_RATE_LIMIT", "off")
        .env("SIGNET_RATE_LIMIT_ROLES", "")
        .env("SIGNET_ANONYMOUS_RATE_LIMIT", "off")
        .env("SIGNET_DOWNLOAD_QUOTA", "off")
        .env("SIGNET_MAX_CONNECTIONS_PER_ADDRESS", "0")
        .env("SIGNET_GC_INTERVAL_SECS", "0")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Waits until the Signet at `base` answers `/healthz` (at most a minute).
#[allow(dead_code)]
pub async fn until_up(client: &reqwest::Client, base: &str, label: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{label} did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The newest event of the access log of the Signet at `base`.
#[allow(dead_code)]
pub async fn chain_head(client: &reqwest::Client, base: &str, token: &str) -> i64 {
    let page: serde_json::Value = client
        .get(format!("{base}/v1/audit?limit=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"][0]["seq"].as_i64().unwrap()
}

/// The `p` quantile of sorted latencies, in milliseconds.
#[allow(dead_code)]
pub fn pct(sorted: &[std::time::Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// A number from the environment, or the default.
#[allow(dead_code)]
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic spread of picks.
#[allow(dead_code)]
pub struct Picks(pub u64);

#[allow(dead_code)]
impl Picks {
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

/// CPU seconds (user and system) the process `pid` has used so far.
#[allow(dead_code)]
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// `conns` connections reading `url` as `token` for `secs`: every read's
/// latency.
#[allow(dead_code)]
pub async fn read_load(
    client: &reqwest::Client,
    url: &str,
    token: &'static str,
    conns: usize,
    secs: u64,
) -> Vec<std::time::Duration> {
    use std::time::{Duration, Instant};
    let stop = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let (c, url) = (client.clone(), url.to_owned());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < stop {
                    let t = Instant::now();
                    let r = c.get(&url).bearer_auth(token).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all
}
