//! `TestApp`: a real Signet on a random port, with its own database and its own
//! blob prefix, talking to a real PostgreSQL and a real S3-compatible server (or a
//! fresh SQLite file and a temporary directory).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use signet::auth::Secret;
use signet::blobs::BlobStore;
use signet::config::{LogFormat, ServeConfig, StorageConfig};
use signet::store::Store;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed test once per backend: `mod sqlite { fn x() }`, `mod postgres { fn x() }`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::postgres_opted_out() {
                        return;
                    }
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Serves `app` (a test's own peer: a collector, a proxy) on a free loopback
/// port; returns its base URL.
pub async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Creates an empty database on the test PostgreSQL server; returns its URL.
pub async fn fresh_postgres_database() -> String {
    let admin_url = env("SIGNET_TEST_POSTGRES_URL");
    let db = format!("signet_t_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("postgres");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin_url.rsplit_once('/').expect("URL has a database").0;
    format!("{base}/{db}")
}

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| not_configured(name))
}

/// Whether this run covers PostgreSQL + S3. `SIGNET_TEST_BACKENDS=sqlite` opts out
/// explicitly (the PostgreSQL cases then end at once); anything else runs both.
pub fn postgres_opted_out() -> bool {
    std::env::var("SIGNET_TEST_BACKENDS").is_ok_and(|v| v.trim() == "sqlite")
}

/// Ends the whole test run with one line saying how to run it, instead of a
/// panic in every PostgreSQL case. Written past the test harness's capture.
pub fn not_configured(name: &str) -> ! {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\nerror: {name} is not set. Run the suite with scripts/test.sh (it starts \
         PostgreSQL and an S3-compatible server and installs model_signing), or set \
         SIGNET_TEST_BACKENDS=sqlite to run only the SQLite cases.\n"
    );
    std::process::exit(2)
}

pub struct TestApp {
    pub base: String,
    /// The operator's listener: metrics, health, readiness.
    pub ops: String,
    /// The API port's certificate, when the configuration names one.
    pub tls: Option<Arc<signet::tls::ReloadingCert>>,
    pub client: reqwest::Client,
    pub admin: String,
    /// The same stores the service uses, opened on their own (inspection, sabotage,
    /// GC and retention runs, as an operator's command would).
    pub store: Arc<dyn Store>,
    pub blobs: BlobStore,
    pub raw: Arc<dyn ObjectStore>,
    cfg: ServeConfig,
    stop: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    _dir: Arc<tempfile::TempDir>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let (storage, raw) = match backend {
            Backend::Sqlite => {
                let blobs = dir.path().join("blobs");
                std::fs::create_dir_all(&blobs).unwrap();
                let raw: Arc<dyn ObjectStore> =
                    Arc::new(LocalFileSystem::new_with_prefix(&blobs).unwrap());
                (
                    // The embedded defaults in a data directory of its own.
                    StorageConfig {
                        data_dir: dir.path().to_owned(),
                        database_max_connections: 8,
                        database_url: None,
                        storage_url: None,
                        s3_endpoint: None,
                        s3_region: None,
                        s3_allow_http: false,
                        secrets: Default::default(),
                        encryption: Default::default(),
                        startup: Default::default(),
                    },
                    raw,
                )
            }
            Backend::Postgres => {
                let database_url = fresh_postgres_database().await;
                let bucket = env("SIGNET_TEST_S3_BUCKET");
                let endpoint = env("SIGNET_TEST_S3_ENDPOINT");
                let region = env("SIGNET_TEST_S3_REGION");
                let prefix = format!("t-{}", Uuid::new_v4().simple());
                let s3 = AmazonS3Builder::from_env()
                    .with_bucket_name(&bucket)
                    .with_endpoint(&endpoint)
                    .with_region(&region)
                    .with_allow_http(true)
                    .build()
                    .unwrap();
                let raw: Arc<dyn ObjectStore> = Arc::new(PrefixStore::new(s3, prefix.as_str()));
                (
                    StorageConfig {
                        data_dir: dir.path().to_owned(),
                        database_max_connections: 8,
                        database_url: Some(database_url),
                        storage_url: Some(format!("s3://{bucket}/{prefix}")),
                        s3_endpoint: Some(endpoint),
                        s3_region: Some(region),
                        s3_allow_http: true,
                        secrets: Default::default(),
                        encryption: Default::default(),
                        startup: Default::default(),
                    },
                    raw,
                )
            }
        };
        let admin = Secret::generate();
        let mut cfg = ServeConfig {
            storage,
            listen: "127.0.0.1:0".into(),
            no_migrate: false,
            registry_name: "signet-test".into(),
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
            // Off unless a test is about them: an alert is an event of the log.
            extraction: signet::config::ExtractionConfig {
                alert: "off".parse().unwrap(),
                ..Default::default()
            },
            registry_key_file: None,
            log_key_file: None,
            audit_stream: None,
            audit_stream_token_file: None,
            audit_stream_ca_file: None,
            public_url: None,
            redirect_secs: 0,
            log_format: LogFormat::Text,
            header_read_timeout_secs: 10,
            max_files_per_version: 10_000,
            // Off unless a test is about them: suites make requests in bursts.
            rate_limit: "off".parse().unwrap(),
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
        if backend == Backend::Postgres {
            // As production runs it: the transparency log's key from a file.
            let key =
                signet::signing::signer::PrivateKey::generate(signet::kinds::Algorithm::Ed25519)
                    .unwrap();
            let path = dir.path().join("log-key.pem");
            std::fs::write(&path, key.to_pem().as_bytes()).unwrap();
            cfg.log_key_file = Some(path);
            // And the registry's own key, which signs promotion records.
            let key =
                signet::signing::signer::PrivateKey::generate(signet::kinds::Algorithm::EcdsaP256)
                    .unwrap();
            let path = dir.path().join("registry-key.pem");
            std::fs::write(&path, key.to_pem().as_bytes()).unwrap();
            cfg.registry_key_file = Some(path);
            // And the key webhook secrets are sealed with.
            let path = dir.path().join("webhook-key");
            std::fs::write(
                &path,
                signet::webhooks::seal::SealingKey::generate().unwrap(),
            )
            .unwrap();
            cfg.webhooks.key_file = Some(path);
        }
        tweak(&mut cfg);
        Self::start(cfg, admin.expose().to_owned(), raw, dir).await
    }

    async fn start(
        cfg: ServeConfig,
        admin: String,
        raw: Arc<dyn ObjectStore>,
        dir: Arc<tempfile::TempDir>,
    ) -> Self {
        let (state, _) = signet::server::build(&cfg).await.expect("service starts");
        let (store, blobs) = signet::server::open_stores(&cfg.storage)
            .await
            .expect("stores open");
        let t = &cfg.transport;
        let tls = match (&t.tls_cert, &t.tls_key) {
            (Some(cert), Some(key)) => {
                let cert = signet::tls::ReloadingCert::load(cert, key).expect("certificate loads");
                cert.spawn_reload(std::time::Duration::from_secs(t.tls_reload_secs));
                Some(cert)
            }
            _ => None,
        };
        let acceptor = tls.as_ref().map(|c| c.acceptor().unwrap());
        let listener = tokio::net::TcpListener::bind(&cfg.listen).await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());
        signet::metrics::enable();
        let ops_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ops = format!("http://{}", ops_listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let (ops_tx, ops_rx) = oneshot::channel::<()>();
            let ops_server = tokio::spawn(signet::server::serve_ops(
                ops_listener,
                state.clone(),
                async {
                    let _ = ops_rx.await;
                },
            ));
            signet::server::serve_with(listener, state, acceptor, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
            let _ = ops_tx.send(());
            // Cancelled when the test's runtime ends first.
            let _ = ops_server.await;
        });
        Self {
            base,
            ops,
            tls,
            client: reqwest::Client::new(),
            admin,
            store,
            blobs,
            raw,
            cfg,
            stop: Some((tx, handle)),
            _dir: dir,
        }
    }

    /// Stops the service (gracefully) and starts a new one on the same stores.
    pub async fn restart(mut self) -> Self {
        if let Some((tx, handle)) = self.stop.take() {
            let _ = tx.send(());
            handle.await.unwrap();
        }
        let mut cfg = self.cfg.clone();
        cfg.listen = "127.0.0.1:0".into();
        Self::start(cfg, self.admin.clone(), self.raw.clone(), self._dir.clone()).await
    }

    /// A second replica: another service on the same database and blob store,
    /// running beside this one.
    pub async fn replica(&self) -> Self {
        let mut cfg = self.cfg.clone();
        cfg.listen = "127.0.0.1:0".into();
        Self::start(cfg, self.admin.clone(), self.raw.clone(), self._dir.clone()).await
    }

    /// The metadata database the service uses, for a test's own connection.
    /// The service's data directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.cfg.storage.data_dir.clone()
    }

    pub fn database_url(&self) -> String {
        self.cfg.storage.database_url().unwrap()
    }

    /// The metrics text the operator's listener serves now.
    pub async fn metrics(&self) -> String {
        let r = self
            .client
            .get(format!("{}/metrics", self.ops))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap()
    }

    /// A request with the admin token.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.admin)
    }

    /// A request with no token at all.
    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
    }

    /// What `/v1/whoami` answers `token`.
    pub async fn whoami(&self, token: &str) -> Value {
        self.anon(Method::GET, "/v1/whoami")
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The status a GET of `path` with `token` is answered with.
    pub async fn status_as(&self, path: &str, token: &str) -> StatusCode {
        self.anon(Method::GET, path)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn create_namespace(&self, name: &str) -> Response {
        self.req(Method::POST, "/v1/namespaces")
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap()
    }

    pub async fn create_model(&self, ns: &str, name: &str) -> Response {
        self.req(Method::POST, "/v1/models")
            .json(&json!({ "namespace": ns, "name": name }))
            .send()
            .await
            .unwrap()
    }

    pub async fn create_version(&self, ns: &str, model: &str, body: Value) -> Response {
        self.req(Method::POST, &format!("/v1/models/{ns}/{model}/versions"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put_file(
        &self,
        ns: &str,
        model: &str,
        v: i64,
        path: &str,
        bytes: Vec<u8>,
        checksum: Option<&str>,
    ) -> Response {
        let mut r = self
            .req(
                Method::PUT,
                &format!("/v1/models/{ns}/{model}/versions/{v}/files/{path}"),
            )
            .body(bytes);
        if let Some(c) = checksum {
            r = r.header("X-Checksum-Sha256", c);
        }
        r.send().await.unwrap()
    }

    pub async fn delete_file(&self, ns: &str, model: &str, v: i64, path: &str) -> Response {
        self.req(
            Method::DELETE,
            &format!("/v1/models/{ns}/{model}/versions/{v}/files/{path}"),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn get_file(&self, ns: &str, model: &str, v: i64, path: &str) -> Response {
        self.req(
            Method::GET,
            &format!("/v1/models/{ns}/{model}/versions/{v}/files/{path}"),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn seal(&self, ns: &str, model: &str, v: i64) -> Response {
        self.req(
            Method::POST,
            &format!("/v1/models/{ns}/{model}/versions/{v}/seal"),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn get_version(&self, ns: &str, model: &str, v: i64) -> Response {
        self.req(
            Method::GET,
            &format!("/v1/models/{ns}/{model}/versions/{v}"),
        )
        .send()
        .await
        .unwrap()
    }

    /// Mints a token for `principal` (as the admin); returns the secret.
    pub async fn mint(&self, principal: &str) -> String {
        let r = self
            .req(Method::POST, "/v1/tokens")
            .json(&json!({ "principal": principal }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Binds `principal` to `role` in `ns` (`*` for global roles) and mints it a token.
    pub async fn member_token(&self, principal: &str, ns: &str, role: &str) -> String {
        let r = self
            .req(
                Method::PUT,
                &format!("/v1/namespaces/{ns}/members/{principal}"),
            )
            .json(&json!({ "roles": [role] }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        self.mint(principal).await
    }

    /// A namespace and a model in it, ready for versions.
    pub async fn given_model(&self) -> (String, String) {
        let ns = "fraud".to_string();
        let model = "scorer".to_string();
        assert_eq!(
            self.create_namespace(&ns).await.status(),
            StatusCode::CREATED
        );
        assert_eq!(
            self.create_model(&ns, &model).await.status(),
            StatusCode::CREATED
        );
        (ns, model)
    }

    /// A draft version of a fresh model; returns (ns, model, version).
    pub async fn given_draft(&self) -> (String, String, i64) {
        let (ns, model) = self.given_model().await;
        let r = self.create_version(&ns, &model, json!({})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v = r.json::<Value>().await.unwrap()["version"]
            .as_i64()
            .unwrap();
        (ns, model, v)
    }

    /// Sends one request exactly as written (no client-side path normalization)
    /// and returns the status code.
    pub async fn raw_status(&self, method: &str, target: &str, body: &[u8]) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.admin,
            body.len()
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(body).await.unwrap();
        let mut answer = Vec::new();
        sock.read_to_end(&mut answer).await.unwrap();
        let text = String::from_utf8_lossy(&answer);
        text.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("an HTTP status line")
    }

    /// Runs SQL straight against this app's database (sabotage and inspection).
    pub async fn sql(&self, stmt: &str) {
        let url = &self.cfg.storage.database_url().unwrap();
        let stmt = sqlx::AssertSqlSafe(stmt.to_owned());
        if url.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::raw_sql(stmt).execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::raw_sql(stmt).execute(&mut c).await.unwrap();
        }
    }

    /// One number a query of the test's own answers (its first column).
    pub async fn sql_i64(&self, stmt: &str) -> i64 {
        let url = &self.cfg.storage.database_url().unwrap();
        let stmt = sqlx::AssertSqlSafe(stmt.to_owned());
        if url.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(stmt).fetch_one(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar(stmt).fetch_one(&mut c).await.unwrap()
        }
    }

    /// Artifact objects present in the blob store, as the storage itself lists them.
    pub async fn stored_objects(&self) -> Vec<Path> {
        use futures::TryStreamExt;
        self.raw
            .list(Some(&Path::from("artifacts")))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .unwrap()
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Deterministic pseudo-random bytes (xorshift), so tests need no RNG crate.
pub fn bytes_of(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The error code of an error answer.
pub async fn error_code(r: Response) -> String {
    let v: Value = r.json().await.expect("error body is JSON");
    v["error"]["code"].as_str().expect("error.code").to_owned()
}

/// A signing key held by a test "pipeline". PAE, key ids and envelopes are
/// computed here by hand from the specifications, not with Signet's code.
pub struct Signer {
    key: SigningKey,
    pub pem: String,
    pub keyid: String,
}

/// The private half of a test key: Ed25519, or ECDSA P-256 / P-384 (DER
/// signatures over SHA-256 / SHA-384, as OpenSSF Model Signing makes them).
#[derive(Clone)]
enum SigningKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl Signer {
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        Self::of(SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
            &seed,
        )))
    }

    pub fn generate_p256() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        Self::of(SigningKey::P256(
            p256::ecdsa::SigningKey::from_slice(&seed).unwrap(),
        ))
    }

    pub fn generate_p384() -> Self {
        let mut seed = [0u8; 48];
        getrandom::fill(&mut seed).unwrap();
        Self::of(SigningKey::P384(
            p384::ecdsa::SigningKey::from_slice(&seed).unwrap(),
        ))
    }

    fn of(key: SigningKey) -> Self {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
        let pem = match &key {
            SigningKey::Ed25519(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            SigningKey::P256(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            SigningKey::P384(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
        }
        .unwrap();
        let keyid = sha256_hex(pem.as_bytes());
        Self { key, pem, keyid }
    }

    /// A signature over `msg` in the form the key's algorithm uses.
    pub fn sign_bytes(&self, msg: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match &self.key {
            SigningKey::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            SigningKey::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(msg);
                s.to_der().as_bytes().to_vec()
            }
            SigningKey::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign(msg);
                s.to_der().as_bytes().to_vec()
            }
        }
    }

    /// The private key as PKCS#8 PEM (Ed25519 and P-256), as `signet keygen`
    /// writes it.
    pub fn private_pem(&self) -> String {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
        match &self.key {
            SigningKey::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            SigningKey::P256(k) => k.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            SigningKey::P384(_) => panic!("the client signs with Ed25519 or P-256"),
        }
    }

    /// The same key, naming `keyid` as its hint in the envelopes it makes.
    pub fn hinting(&self, keyid: &str) -> Self {
        Self {
            key: self.key.clone(),
            pem: self.pem.clone(),
            keyid: keyid.to_owned(),
        }
    }

    /// Registers this key for `namespaces` as the admin; returns the answer.
    pub async fn register(&self, app: &TestApp, name: &str, namespaces: &[&str]) -> Response {
        app.req(Method::POST, "/v1/keys")
            .json(&json!({"name": name, "public_key": self.pem, "namespaces": namespaces}))
            .send()
            .await
            .unwrap()
    }

    /// A DSSE envelope over `payload` (in-toto type), signed over the PAE.
    pub fn envelope_over(&self, payload: &[u8]) -> Value {
        use base64::Engine;
        let ty = "application/vnd.in-toto+json";
        let mut pae = format!("DSSEv1 {} {} {} ", ty.len(), ty, payload.len()).into_bytes();
        pae.extend_from_slice(payload);
        let sig = self.sign_bytes(&pae);
        let b64 = base64::engine::general_purpose::STANDARD;
        json!({
            "payload": b64.encode(payload),
            "payloadType": ty,
            "signatures": [{"keyid": self.keyid, "sig": b64.encode(sig)}]
        })
    }

    pub fn envelope(&self, statement: &Value) -> Value {
        self.envelope_over(&serde_json::to_vec(statement).unwrap())
    }
}

/// The predicate type of the evaluation attestations the tests make.
pub const EVALUATION: &str = "https://signet.dev/attestations/evaluation/v1";

/// An in-toto statement of `predicate_type` about the files a version's
/// statement `st` lists, each by its path and SHA-256.
pub fn attestation(st: &Value, predicate_type: &str, predicate: Value) -> Value {
    let subject: Vec<Value> = st["predicate"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"name": r["name"], "digest": {"sha256": r["digest"]}}))
        .collect();
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subject,
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

impl TestApp {
    /// Posts an attestation document to a version.
    pub async fn attest(&self, ns: &str, model: &str, v: i64, doc: &Value) -> Response {
        self.req(
            Method::POST,
            &format!("/v1/models/{ns}/{model}/versions/{v}/attestations"),
        )
        .json(doc)
        .send()
        .await
        .unwrap()
    }

    pub async fn sign(&self, ns: &str, model: &str, v: i64, envelope: &Value) -> Response {
        self.req(
            Method::POST,
            &format!("/v1/models/{ns}/{model}/versions/{v}/signatures"),
        )
        .json(envelope)
        .send()
        .await
        .unwrap()
    }

    pub async fn promote(&self, ns: &str, model: &str, alias: &str, v: i64) -> Response {
        self.req(
            Method::PUT,
            &format!("/v1/models/{ns}/{model}/aliases/{alias}"),
        )
        .json(&json!({"version": v}))
        .send()
        .await
        .unwrap()
    }

    /// Creates a version with `lineage`, uploads `files`, seals it; returns the
    /// version number and the statement to sign.
    pub async fn sealed_version(
        &self,
        ns: &str,
        model: &str,
        lineage: Value,
        files: &[(&str, &[u8])],
    ) -> (i64, Value) {
        let r = self
            .create_version(ns, model, json!({ "lineage": lineage }))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v = r.json::<Value>().await.unwrap()["version"]
            .as_i64()
            .unwrap();
        for (path, bytes) in files {
            let r = self
                .put_file(ns, model, v, path, bytes.to_vec(), None)
                .await;
            assert_eq!(r.status(), StatusCode::CREATED, "{path}");
        }
        let r = self.seal(ns, model, v).await;
        assert_eq!(r.status(), StatusCode::OK);
        (v, r.json::<Value>().await.unwrap()["statement"].clone())
    }
}

impl TestApp {
    /// A sealed version of `ns/model` with a full lineage and `files`, signed by
    /// a key registered for `ns` as `key_name`, and promoted to `production`;
    /// answers the version and the key.
    pub async fn released(
        &self,
        ns: &str,
        model: &str,
        key_name: &str,
        files: &[(&str, &[u8])],
    ) -> (i64, Signer) {
        let (v, statement) = self.sealed_version(ns, model, full_lineage(), files).await;
        let key = Signer::generate();
        assert_eq!(
            key.register(self, key_name, &[ns]).await.status(),
            StatusCode::CREATED
        );
        let r = self.sign(ns, model, v, &key.envelope(&statement)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = self.promote(ns, model, "production", v).await;
        assert_eq!(r.status(), StatusCode::OK);
        (v, key)
    }
}

/// A lineage that satisfies the default `production` policy.
pub fn full_lineage() -> Value {
    json!({
        "code": {"repo": "https://git.example.com/fraud/scorer", "commit": "ab".repeat(20)},
        "data": [{"name": "tx", "sha256": "cd".repeat(32)}],
        "environment": {"image": "train:1.4", "python": "3.11"}
    })
}

/// A small, valid safetensors file: one F32 tensor of two values.
pub fn safetensors_bytes() -> Vec<u8> {
    let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(&[0u8; 8]);
    out
}

/// A loopback port nothing listens on (bound, then let go).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Polls `cond` until it holds, for at most 15 s; whether it did.
pub async fn eventually<F, Fut>(mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if cond().await {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
