//! Encryption in transit and secrets out of the environment: TLS on the API
//! port with certificate renewal, plain HTTP refused off loopback, verified TLS
//! to PostgreSQL, and every secret setting read from a file (the binary itself,
//! run as an operator would run it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Certificate, Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{Backend, TestApp, bytes_of, env, fresh_postgres_database};

crate::on_both_backends!(
    the_api_is_served_over_tls_and_a_renewed_certificate_is_picked_up,
    every_secret_can_come_from_a_file_and_none_reaches_the_output,
);

/// Runs `openssl` with whitespace-separated arguments (the paths here have no
/// spaces).
pub(crate) fn openssl(args: &str) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args.split_whitespace())
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A throwaway certificate authority in `dir`.
pub(crate) struct Ca {
    dir: PathBuf,
    name: String,
}

impl Ca {
    pub(crate) fn new(dir: &Path, name: &str) -> Self {
        let base = dir.join(name);
        let (key, pem) = (base.with_extension("key"), base.with_extension("pem"));
        openssl(&format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN={name} \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
             -keyout {} -out {}",
            key.display(),
            pem.display()
        ));
        Self {
            dir: dir.to_owned(),
            name: name.to_owned(),
        }
    }

    pub(crate) fn pem_path(&self) -> PathBuf {
        self.dir.join(&self.name).with_extension("pem")
    }

    fn pem(&self) -> Vec<u8> {
        std::fs::read(self.pem_path()).unwrap()
    }

    /// Issues a server certificate for localhost and 127.0.0.1; returns the
    /// paths of its certificate and key.
    pub(crate) fn issue(&self, serial: u32) -> (PathBuf, PathBuf) {
        let base = self.dir.join(format!("{}-leaf-{serial}", self.name));
        let (key, csr, pem, ext) = (
            base.with_extension("key"),
            base.with_extension("csr"),
            base.with_extension("pem"),
            base.with_extension("ext"),
        );
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&format!(
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout {} -out {}",
            key.display(),
            csr.display()
        ));
        let ca = self.dir.join(&self.name);
        openssl(&format!(
            "x509 -req -in {} -CA {} -CAkey {} -set_serial {serial} -days 2 -extfile {} -out {}",
            csr.display(),
            ca.with_extension("pem").display(),
            ca.with_extension("key").display(),
            ext.display(),
            pem.display()
        ));
        (pem, key)
    }
}

/// The DER of the first certificate in a PEM file.
fn der(pem: &Path) -> Vec<u8> {
    openssl(&format!("x509 -in {} -outform DER", pem.display()))
}

/// A client that trusts only `ca` and opens a new connection per request.
fn client_trusting(ca: &Ca) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([Certificate::from_pem(&ca.pem()).unwrap()])
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Who answered: the DER of the certificate the server presented on a new
/// connection (a new client each time: a resumed TLS session would report the
/// certificate of the session it resumes).
async fn served_certificate(ca: &Ca, app: &TestApp) -> Vec<u8> {
    let r = client_trusting(ca)
        .get(format!("{}/v1/whoami", app.base))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("a TLS connection")
        .to_vec()
}

/// Replaces `to` with `from` in one step, as a secret mount or a renewal
/// agent does.
fn swap_in(from: &Path, to: &Path) {
    let staged = to.with_extension("staged");
    std::fs::copy(from, &staged).unwrap();
    std::fs::rename(&staged, to).unwrap();
}

async fn the_api_is_served_over_tls_and_a_renewed_certificate_is_picked_up(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "registry-ca");
    let (first_cert, first_key) = ca.issue(1);
    let (cert, key) = (dir.path().join("tls.pem"), dir.path().join("tls.key"));
    std::fs::copy(&first_cert, &cert).unwrap();
    std::fs::copy(&first_key, &key).unwrap();
    let app = TestApp::spawn_with(b, |c| {
        c.transport.tls_cert = Some(cert.clone());
        c.transport.tls_key = Some(key.clone());
        c.transport.tls_reload_secs = 1;
    })
    .await;
    assert!(app.base.starts_with("https://"));
    assert!(served_certificate(&ca, &app).await == der(&first_cert));

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = app.base.replacen("https://", "http://", 1);
    let r = reqwest::Client::new()
        .get(format!("{plain}/v1/whoami"))
        .bearer_auth(&app.admin)
        .send()
        .await;
    assert!(r.is_err(), "plain HTTP was answered: {r:?}");

    // A client that trusts another authority refuses the server.
    let stranger = Ca::new(dir.path(), "other-ca");
    let r = client_trusting(&stranger)
        .get(format!("{}/healthz", app.base))
        .send()
        .await;
    assert!(r.is_err());

    // Over TLS the console's session cookie is sent back over TLS only.
    let r = reqwest::Client::builder()
        .tls_certs_only([Certificate::from_pem(&ca.pem()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/ui/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("token", app.admin.as_str())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // Renewal: new files, picked up without a restart.
    let loaded = app.tls.as_ref().unwrap();
    let mut reloads = loaded.reloads();
    let (second_cert, second_key) = ca.issue(2);
    swap_in(&second_key, &key);
    swap_in(&second_cert, &cert);
    tokio::time::timeout(Duration::from_secs(30), reloads.wait_for(|n| *n >= 1))
        .await
        .expect("the renewed certificate was not loaded within 30 s")
        .unwrap();
    assert!(
        served_certificate(&ca, &app).await == der(&second_cert),
        "the renewed certificate is not served"
    );

    // A bad renewal (the key of another certificate, then a truncated
    // certificate) is refused and the certificate in use stays.
    swap_in(&first_key, &key);
    assert!(loaded.reload().is_err());
    swap_in(&second_key, &key);
    std::fs::write(&cert, b"-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
    assert!(loaded.reload().is_err());
    assert!(
        served_certificate(&ca, &app).await == der(&second_cert),
        "the renewed certificate is not served"
    );
}

/// A `signet` process with its output collected.
pub struct Process {
    child: tokio::process::Child,
    output: Arc<Mutex<String>>,
}

impl Process {
    /// Starts `signet serve` with `vars` (and no inherited AWS credentials);
    /// returns it once it serves, with its address.
    pub async fn serve(vars: &[(&str, String)]) -> (Self, String) {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_signet"));
        cmd.arg("serve")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("SIGNET_LOG_FORMAT", "json")
            .env("SIGNET_METRICS_LISTEN", "off")
            .env("SIGNET_LISTEN", "127.0.0.1:0")
            .env("SIGNET_GC_INTERVAL_SECS", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        // Logs go to stdout; anything on stderr is collected too.
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let collected = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                collected.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let find = async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                output.lock().unwrap().push_str(&(line.clone() + "\n"));
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["fields"]["message"] == "signet serving"
                {
                    return v["fields"]["listen"].as_str().map(str::to_owned);
                }
            }
            None
        };
        let addr = tokio::time::timeout(Duration::from_secs(60), find)
            .await
            .expect("signet did not start within 60 s");
        let collected = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                collected.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let addr = addr.unwrap_or_else(|| panic!("signet exited: {}", output.lock().unwrap()));
        (Self { child, output }, addr)
    }

    /// Runs `signet serve` expecting it to refuse to start; returns its output.
    async fn refused(vars: &[(&str, String)]) -> String {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_signet"));
        cmd.arg("serve")
            .env("SIGNET_METRICS_LISTEN", "off")
            .env("SIGNET_GC_INTERVAL_SECS", "0")
            .kill_on_drop(true);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("signet neither started nor refused within 60 s")
            .unwrap();
        assert!(!out.status.success(), "signet started");
        String::from_utf8_lossy(&out.stdout).into_owned() + &*String::from_utf8_lossy(&out.stderr)
    }

    pub async fn stop(mut self) -> String {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
        self.output.lock().unwrap().clone()
    }
}

fn write_secret(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    // As `echo value > file` writes it: with a trailing newline.
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path.display().to_string()
}

async fn every_secret_can_come_from_a_file_and_none_reaches_the_output(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("sgn_{}", uuid::Uuid::new_v4().simple());
    let mut vars = vec![(
        "SIGNET_BOOTSTRAP_TOKEN_FILE",
        write_secret(dir.path(), "token", &token),
    )];
    let mut secrets = vec![token.clone()];
    match b {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("signet.db").display());
            vars.push((
                "SIGNET_DATABASE_URL_FILE",
                write_secret(dir.path(), "db", &url),
            ));
            vars.push((
                "SIGNET_STORAGE_URL",
                dir.path().join("blobs").display().to_string(),
            ));
        }
        Backend::Postgres => {
            // The server trusts local connections, so a password in the URL is
            // not checked, but it is there to leak if anything printed the URL.
            let password = format!("pw{}", uuid::Uuid::new_v4().simple());
            let url = fresh_postgres_database().await.replacen(
                "postgres://postgres@",
                &format!("postgres://postgres:{password}@"),
                1,
            );
            assert!(url.contains(&password), "unexpected test database URL");
            vars.push((
                "SIGNET_DATABASE_URL_FILE",
                write_secret(dir.path(), "db", &url),
            ));
            let secret_key = env("AWS_SECRET_ACCESS_KEY");
            vars.push((
                "SIGNET_S3_ACCESS_KEY_ID_FILE",
                write_secret(dir.path(), "s3-id", &env("AWS_ACCESS_KEY_ID")),
            ));
            vars.push((
                "SIGNET_S3_SECRET_ACCESS_KEY_FILE",
                write_secret(dir.path(), "s3-secret", &secret_key),
            ));
            vars.push((
                "SIGNET_STORAGE_URL",
                format!(
                    "s3://{}/t-{}",
                    env("SIGNET_TEST_S3_BUCKET"),
                    uuid::Uuid::new_v4().simple()
                ),
            ));
            vars.push(("SIGNET_S3_ENDPOINT", env("SIGNET_TEST_S3_ENDPOINT")));
            vars.push(("SIGNET_S3_REGION", env("SIGNET_TEST_S3_REGION")));
            vars.push(("SIGNET_S3_ALLOW_HTTP", "true".into()));
            secrets.push(password);
            secrets.push(secret_key);
        }
    }
    let (signet, addr) = Process::serve(&vars).await;
    let base = format!("http://{addr}");
    let c = reqwest::Client::new();
    let call = |m: Method, path: &str| c.request(m, format!("{base}{path}")).bearer_auth(&token);
    let r = call(Method::GET, "/v1/whoami").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["principal"], "admin");
    // Bytes go to the store with the credentials from the files, and back.
    let bytes = bytes_of(70_000, 3);
    for (path, body) in [
        ("/v1/namespaces", json!({"name": "secrets"})),
        ("/v1/models", json!({"namespace": "secrets", "name": "m"})),
        ("/v1/models/secrets/m/versions", json!({})),
    ] {
        let r = call(Method::POST, path).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    }
    let r = call(Method::PUT, "/v1/models/secrets/m/versions/1/files/w.bin")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = call(Method::GET, "/v1/models/secrets/m/versions/1/files/w.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), bytes);

    let output = signet.stop().await;
    assert!(output.contains("signet serving"), "{output}");
    for s in &secrets {
        assert!(!output.contains(s.as_str()), "a secret reached the output");
    }

    // A secret given twice, in the environment and in a file, is refused.
    let mut twice = vars.clone();
    twice.push(("SIGNET_BOOTSTRAP_TOKEN", token.clone()));
    let out = Process::refused(&twice).await;
    assert!(out.contains("--bootstrap-token-file"), "{out}");
    assert!(!out.contains(&token), "the refusal printed the token");
    // A file that cannot be read is named; nothing else is said of it.
    let mut missing = vars.clone();
    missing.retain(|(k, _)| *k != "SIGNET_BOOTSTRAP_TOKEN_FILE");
    missing.push((
        "SIGNET_BOOTSTRAP_TOKEN_FILE",
        dir.path().join("absent").display().to_string(),
    ));
    let out = Process::refused(&missing).await;
    assert!(out.contains("SIGNET_BOOTSTRAP_TOKEN_FILE"), "{out}");
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let vars = vec![
        (
            "SIGNET_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        ),
        (
            "SIGNET_STORAGE_URL",
            dir.path().join("blobs").display().to_string(),
        ),
        ("SIGNET_LISTEN", "0.0.0.0:0".to_owned()),
    ];
    let out = Process::refused(&vars).await;
    assert!(out.contains("refusing to serve plain HTTP"), "{out}");
    assert!(
        !dir.path().join("s.db").exists(),
        "the refused start created the database"
    );

    let mut allowed = vars.clone();
    allowed.push(("SIGNET_ALLOW_PLAIN_HTTP", "true".into()));
    // The listen address given here replaces the loopback one `serve` sets.
    let (signet, addr) = Process::serve(&allowed).await;
    assert!(addr.starts_with("0.0.0.0:"), "{addr}");
    signet.stop().await;
}

#[tokio::test]
async fn postgres_connections_can_require_a_verified_server_certificate() {
    if crate::helpers::postgres_opted_out() {
        return;
    }
    let url = fresh_postgres_database().await;
    let mut url = url::Url::parse(&url).unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url.as_str())
        .await
        .unwrap();
    let (ssl, cert): (String, String) =
        sqlx::query_as("SELECT current_setting('ssl'), current_setting('ssl_cert_file')")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    if ssl != "on" || std::fs::read(&cert).is_err() {
        eprintln!("the test PostgreSQL server has no readable TLS certificate; nothing to verify");
        return;
    }
    // The server's certificate names `localhost`: verify-full connects there.
    url.set_host(Some("localhost")).unwrap();
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={cert}");
    let store = signet::store::connect(&verified, 4)
        .await
        .expect("verified TLS to PostgreSQL");
    assert!(store.ping().await.is_ok());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&verified)
        .await
        .unwrap();
    let tls: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(tls, "the connection is not encrypted");

    // A root that did not sign the server's certificate, or a host name the
    // certificate does not carry, and Signet does not start.
    let dir = tempfile::tempdir().unwrap();
    let other = Ca::new(dir.path(), "not-the-db-ca");
    let wrong_root = format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        other.pem_path().display()
    );
    assert!(signet::store::connect(&wrong_root, 4).await.is_err());
    url.set_host(Some("127.0.0.1")).unwrap();
    let wrong_name = format!("{url}?sslmode=verify-full&sslrootcert={cert}");
    assert!(signet::store::connect(&wrong_name, 4).await.is_err());
}

/// What a recording proxy in front of the S3 server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    query: String,
    sse: Option<String>,
    kms_key: Option<String>,
}

/// A proxy that forwards every request to `upstream` unchanged (the host header
/// included, so signatures still verify) and records each one.
async fn recording_proxy(upstream: String) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let forward = move |req: axum::extract::Request| {
        let (client, log, upstream) = (client.clone(), log.clone(), upstream.clone());
        async move {
            let (parts, body) = req.into_parts();
            let header = |k: &str| {
                parts
                    .headers
                    .get(k)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            log.lock().unwrap().push(Seen {
                method: parts.method.to_string(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                sse: header("x-amz-server-side-encryption"),
                kms_key: header("x-amz-server-side-encryption-aws-kms-key-id"),
            });
            let target = format!("{upstream}{}", parts.uri);
            let resp = client
                .request(parts.method, target)
                .headers(parts.headers)
                .body(reqwest::Body::wrap_stream(body.into_data_stream()))
                .send()
                .await
                .unwrap();
            let mut out = axum::http::Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                out = out.header(k, v);
            }
            out.body(axum::body::Body::from_stream(resp.bytes_stream()))
                .unwrap()
        }
    };
    let url = crate::helpers::serve_on_loopback(axum::Router::new().fallback(forward)).await;
    (url, seen)
}

#[tokio::test]
async fn every_s3_write_asks_for_the_configured_server_side_encryption() {
    if crate::helpers::postgres_opted_out() {
        return;
    }
    for (mode, kms_key) in [
        ("AES256", None),
        ("aws:kms", None),
        (
            "aws:kms",
            Some("arn:aws:kms:eu-west-1:111122223333:key/signet-test"),
        ),
    ] {
        let (proxy, seen) = recording_proxy(env("SIGNET_TEST_S3_ENDPOINT")).await;
        let app = TestApp::spawn_with(Backend::Postgres, |c| {
            c.storage.s3_endpoint = Some(proxy.clone());
            c.storage.encryption.s3_sse = Some(mode.into());
            c.storage.encryption.s3_sse_kms_key_id = kms_key.map(str::to_owned);
        })
        .await;
        let (ns, model) = app.given_model().await;
        // One file in several parts, one small.
        let big = bytes_of(20 << 20, 5);
        let small = bytes_of(1000, 6);
        let (v, _) = app
            .sealed_version(
                &ns,
                &model,
                json!({}),
                &[("big.bin", &big), ("small.bin", &small)],
            )
            .await;
        let got = app.get_file(&ns, &model, v, "big.bin").await;
        assert_eq!(got.bytes().await.unwrap(), big);

        let seen = seen.lock().unwrap().clone();
        // Object writes: PutObject, or CreateMultipartUpload (`?uploads`).
        let writes: Vec<&Seen> = seen
            .iter()
            .filter(|s| {
                (s.method == "PUT" && !s.query.contains("partNumber"))
                    || (s.method == "POST" && s.query.starts_with("uploads"))
            })
            .collect();
        assert!(writes.len() >= 2, "{mode}: {seen:?}");
        for w in &writes {
            assert_eq!(w.sse.as_deref(), Some(mode), "{w:?}");
            assert_eq!(w.kms_key.as_deref(), kms_key, "{w:?}");
        }
        // Parts and reads carry no encryption headers (S3 refuses them there
        // for SSE-S3 and SSE-KMS).
        for s in seen
            .iter()
            .filter(|s| !writes.iter().any(|w| std::ptr::eq(*w, *s)))
        {
            assert_eq!(s.sse, None, "{s:?}");
        }
    }
}
