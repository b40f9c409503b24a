//! The `signet` client: the commands a training pipeline, a deployer and an
//! auditor run against a registry. It speaks the public API over HTTP(S) and
//! signs with the same statement and PAE code the server verifies with.
//!
//! Dependency rule: no store, no domain services; only the API, `signing`
//! and `names`.

pub mod commands;
pub mod config;
pub mod journal;
pub mod progress;
pub mod pull;
pub mod push;
pub mod records;

use std::fmt;

use reqwest::Method;
use serde_json::Value;

use crate::names::{AliasName, ModelName, Namespace};

/// Exit codes, distinct per kind of failure so scripts can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything else: the server or the network failed, a file could not be
    /// read.
    Failure = 1,
    /// The command line is wrong (clap uses 2 for its own usage errors).
    Usage = 2,
    /// Not found, not signed in, or not allowed.
    NotFoundOrDenied = 3,
    /// Refused by the registry's policy (the promotion gate, a quarantine).
    RefusedByPolicy = 4,
    /// A signature or a digest did not verify.
    VerificationFailed = 5,
}

/// Why a command failed, with the exit code it ends with.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    /// The registry's error code, when it answered with one.
    pub code: Option<String>,
    /// Every reason, for refusals that give several.
    pub reasons: Vec<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            code: None,
            reasons: Vec::new(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// What the command prints with `--json`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"error": {
            "exit_code": self.exit as i32,
            "code": self.code,
            "message": self.message,
            "reasons": self.reasons,
        }})
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        for r in &self.reasons {
            write!(f, "\n  - {r}")?;
        }
        Ok(())
    }
}

/// `NS/MODEL@VERSION`, or with an alias in place of the version.
#[derive(Debug, Clone)]
pub struct Target {
    pub namespace: Namespace,
    pub model: ModelName,
    pub at: At,
}

#[derive(Debug, Clone)]
pub enum At {
    Version(i64),
    Alias(AliasName),
}

impl Target {
    pub fn parse(s: &str) -> Result<Self, Failure> {
        let bad = || Failure::usage(format!("{s:?}: expected NAMESPACE/MODEL@VERSION"));
        let (model, at) = s.rsplit_once('@').ok_or_else(bad)?;
        let (ns, name) = model.split_once('/').ok_or_else(bad)?;
        let namespace = Namespace::parse(ns).map_err(|_| bad())?;
        let model = ModelName::parse(name).map_err(|_| bad())?;
        let at = match at.parse::<i64>() {
            Ok(v) if v >= 1 => At::Version(v),
            Ok(_) => return Err(bad()),
            Err(_) => At::Alias(AliasName::parse(at).map_err(|_| bad())?),
        };
        Ok(Self {
            namespace,
            model,
            at,
        })
    }

    /// The version number; an alias is refused where a version is needed.
    pub fn version(&self) -> Result<i64, Failure> {
        match &self.at {
            At::Version(v) => Ok(*v),
            At::Alias(a) => Err(Failure::usage(format!(
                "{a}: this command needs a version number, not an alias"
            ))),
        }
    }

    /// `/v1/models/NS/MODEL`.
    pub fn model_path(&self) -> String {
        format!("/v1/models/{}/{}", self.namespace, self.model)
    }
}

/// `NAMESPACE/MODEL` as given on the command line.
pub fn model_ref(s: &str) -> Result<crate::names::ModelRef, Failure> {
    crate::names::ModelRef::parse(s)
        .map_err(|_| Failure::usage(format!("{s:?}: expected NAMESPACE/MODEL")))
}

/// A signed-in connection to one registry.
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// A successful answer: its status and JSON body (`Null` when it had none).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// One attempt that failed, and whether another may succeed.
struct Attempt {
    failure: Failure,
    transient: bool,
    retry_after: Option<std::time::Duration>,
}

impl Client {
    pub fn new(base: &str, token: &str) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Failure::new(Exit::Failure, format!("HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends the request `build` makes, again after a transient failure (a
    /// connection refused or reset, a timeout, 429 with its `Retry-After`, 502,
    /// 503, 504), up to 5 attempts with exponential backoff and jitter. Any
    /// other error answer becomes a [`Failure`] of its kind.
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Failure> {
        use backon::Retryable;
        let attempt = || self.attempt(build());
        attempt
            .retry(backoff())
            .when(|a| a.transient)
            // Retry-After replaces the next delay; it never adds attempts.
            .adjust(|a, backoff| backoff.map(|d| a.retry_after.unwrap_or(d)))
            .await
            .map_err(|a| a.failure)
    }

    /// Sends one request: a success, or why it failed and whether another
    /// attempt may succeed.
    async fn attempt(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Attempt> {
        let resp = req.send().await.map_err(|e| Attempt {
            transient: e.is_connect() || e.is_timeout() || e.is_request(),
            failure: Failure::new(
                Exit::Failure,
                format!("cannot reach {}: {}", self.base, without_url(&e)),
            ),
            retry_after: None,
        })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| std::time::Duration::from_secs(s.min(60)));
        let body = resp.bytes().await.unwrap_or_default();
        Err(Attempt {
            transient: matches!(status, 429 | 502 | 503 | 504),
            failure: failure_of(
                status,
                &serde_json::from_slice(&body).unwrap_or(Value::Null),
            ),
            retry_after,
        })
    }

    /// The version a target names: its number, or the version its alias
    /// points at now.
    pub async fn resolve(&self, target: &Target) -> Result<i64, Failure> {
        match &target.at {
            At::Version(v) => Ok(*v),
            At::Alias(a) => self
                .call(
                    Method::GET,
                    &format!("{}/aliases/{a}", target.model_path()),
                    None,
                )
                .await?
                .body["version"]
                .as_i64()
                .ok_or_else(|| Failure::new(Exit::Failure, "the alias answer names no version")),
        }
    }

    /// Sends a request with a JSON body (or none) and reads the JSON answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, Failure> {
        let resp = self
            .send(|| {
                let req = self.request(method.clone(), path);
                match body {
                    Some(b) => req.json(b),
                    None => req,
                }
            })
            .await?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Failure::new(Exit::Failure, format!("reading the answer: {e}")))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// The raw bytes of a successful `GET` (a statement is signed as served).
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, Failure> {
        let resp = self.send(|| self.request(Method::GET, path)).await?;
        resp.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| Failure::new(Exit::Failure, format!("reading the answer: {e}")))
    }

    /// The body of a successful `GET` from byte `from` on, as it arrives, and
    /// whether the server answered with that range (`false`: the whole body).
    pub async fn stream_from(
        &self,
        path: &str,
        from: u64,
    ) -> Result<
        (
            futures::stream::BoxStream<'static, Result<bytes::Bytes, Failure>>,
            bool,
        ),
        Failure,
    > {
        use futures::StreamExt;
        let resp = self
            .send(|| {
                let req = self.request(Method::GET, path);
                if from > 0 {
                    req.header(reqwest::header::RANGE, format!("bytes={from}-"))
                } else {
                    req
                }
            })
            .await?;
        let ranged = from > 0
            && resp.status().as_u16() == 206
            && resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(&format!("bytes {from}-")));
        let body = resp
            .bytes_stream()
            .map(|c| c.map_err(|e| Failure::new(Exit::Failure, format!("download: {e}"))))
            .boxed();
        Ok((body, ranged))
    }

    /// Streams a local file to `path` (`PUT`), with its SHA-256 for the
    /// registry to check; the file is opened again for each attempt.
    pub async fn upload(
        &self,
        path: &str,
        file: std::path::PathBuf,
        sha256_hex: String,
        sent: impl Fn(u64) + Clone + Send + Sync + 'static,
    ) -> Result<(), Failure> {
        let len = std::fs::metadata(&file)
            .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", file.display())))?
            .len();
        let opened = std::sync::Mutex::new(None);
        // Each attempt needs a body of its own: the file is opened up front for
        // the first, and again (synchronously) for each retry.
        let build = || {
            let f = opened
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .or_else(|| {
                    std::fs::File::open(&file)
                        .ok()
                        .map(tokio::fs::File::from_std)
                });
            let req = self
                .request(Method::PUT, path)
                .header("x-checksum-sha256", &sha256_hex)
                .header(reqwest::header::CONTENT_LENGTH, len);
            match f {
                Some(f) => req.body(counted(f, sent.clone())),
                None => req.body(Vec::new()),
            }
        };
        *opened.lock().unwrap_or_else(|e| e.into_inner()) = Some(
            tokio::fs::File::open(&file)
                .await
                .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", file.display())))?,
        );
        self.send(build).await.map(drop)
    }

    /// Uploads a local file through a resumable upload of the version at
    /// `version_path`: each attempt appends from the offset the registry has
    /// committed, so an interrupted transfer goes on from there. Five attempts
    /// in a row without progress end it; any progress starts the count again.
    /// An upload an earlier run recorded in `journal` goes on where it is.
    pub async fn upload_resumable(
        &self,
        version_path: &str,
        name: &str,
        file: &std::path::Path,
        bar: &progress::FileBar,
        journal: &journal::Journal,
    ) -> Result<crate::names::Sha256, Failure> {
        let size = std::fs::metadata(file)
            .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", file.display())))?
            .len();
        let earlier = match journal.upload(name) {
            Some(url) => match self.call(Method::GET, &url, None).await {
                Ok(a) if a.body["complete"] == false && a.body["size"].as_u64() == Some(size) => {
                    a.body["offset"].as_u64().map(|o| (url, o))
                }
                // Gone (expired, or another version's): start again.
                _ => None,
            },
            None => None,
        };
        let (url, mut offset) = match earlier {
            Some(found) => found,
            None => {
                let started = self
                    .call(
                        Method::POST,
                        &format!("{version_path}/uploads"),
                        Some(&serde_json::json!({ "path": name, "size": size })),
                    )
                    .await?;
                let id = started.body["id"]
                    .as_str()
                    .ok_or_else(|| Failure::new(Exit::Failure, "the registry named no upload"))?;
                let url = format!("{version_path}/uploads/{id}");
                journal.record_upload(name, &url)?;
                (url, 0)
            }
        };
        bar.rewind_to(offset);
        let hash = std::sync::Arc::new(SentHash::default());
        let mut delays = backon::BackoffBuilder::build(backoff());
        while offset < size {
            let failed = match self.append(&url, file, offset, size, bar, &hash).await {
                Ok(reached) if reached > offset => {
                    offset = reached;
                    delays = backon::BackoffBuilder::build(backoff());
                    continue;
                }
                // An answer without progress: ask where the upload is.
                Ok(_) => None,
                Err(a)
                    if a.transient
                        || a.failure.code.as_deref() == Some("upload_offset_mismatch") =>
                {
                    Some(a)
                }
                Err(a) => return Err(a.failure),
            };
            let Some(delay) = delays.next() else {
                return Err(failed.map_or_else(
                    || {
                        Failure::new(
                            Exit::Failure,
                            format!("{name}: the upload makes no progress"),
                        )
                    },
                    |a| a.failure,
                ));
            };
            tokio::time::sleep(failed.and_then(|a| a.retry_after).unwrap_or(delay)).await;
            let now = self.call(Method::GET, &url, None).await?;
            offset = now.body["offset"]
                .as_u64()
                .ok_or_else(|| Failure::new(Exit::Failure, "the registry gave no upload offset"))?;
            bar.rewind_to(offset);
        }
        // Bytes an earlier run sent and none of this run's attempts did (the
        // upload was complete when this run found it).
        let digest = hash
            .catch_up(file, size)
            .await
            .and_then(|()| hash.digest(size))
            .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", file.display())))?;
        self.call(
            Method::POST,
            &format!("{url}/complete"),
            Some(&serde_json::json!({ "sha256": digest.to_hex() })),
        )
        .await?;
        Ok(digest)
    }

    /// One append of the file from `offset` to its end; answers the offset
    /// the registry committed.
    async fn append(
        &self,
        url: &str,
        file: &std::path::Path,
        offset: u64,
        size: u64,
        bar: &progress::FileBar,
        hash: &std::sync::Arc<SentHash>,
    ) -> Result<u64, Attempt> {
        use futures::StreamExt;
        use tokio::io::AsyncSeekExt;
        let local = |e: std::io::Error| Attempt {
            failure: Failure::new(Exit::Failure, format!("{}: {e}", file.display())),
            transient: false,
            retry_after: None,
        };
        // What an earlier run sent is hashed here before this attempt goes on.
        hash.catch_up(file, offset).await.map_err(local)?;
        let mut f = tokio::fs::File::open(file).await.map_err(local)?;
        f.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(local)?;
        let moved = bar.clone();
        let (hash, mut at) = (hash.clone(), offset);
        // Every byte is hashed the first time it leaves: the digest is ready
        // when the last part is sent, with no pass over the file of its own.
        let chunks = tokio_util::io::ReaderStream::with_capacity(f, 256 << 10).inspect(move |c| {
            if let Ok(c) = c {
                hash.sent(at, c);
                at += c.len() as u64;
                moved.advance(c.len() as u64);
            }
        });
        let req = self
            .request(Method::PATCH, url)
            .header("upload-offset", offset)
            .header(reqwest::header::CONTENT_LENGTH, size - offset)
            .body(reqwest::Body::wrap_stream(chunks));
        let resp = self.attempt(req).await?;
        let body: Value = resp.json().await.map_err(|e| Attempt {
            failure: Failure::new(Exit::Failure, format!("reading the answer: {e}")),
            transient: true,
            retry_after: None,
        })?;
        Ok(body["offset"].as_u64().unwrap_or(offset))
    }
}

/// The SHA-256 of a file computed as it is uploaded: the bytes of the first
/// `hashed` positions, whichever attempts sent them.
#[derive(Default)]
pub struct SentHash(std::sync::Mutex<(sha2::Sha256, u64)>);

impl SentHash {
    fn state(&self) -> std::sync::MutexGuard<'_, (sha2::Sha256, u64)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `chunk`, the bytes at `at`, left: what of it was not hashed yet is.
    fn sent(&self, at: u64, chunk: &[u8]) {
        use sha2::Digest;
        let mut s = self.state();
        let end = at + chunk.len() as u64;
        if at <= s.1 && end > s.1 {
            let new = usize::try_from(s.1 - at).expect("within a chunk");
            s.0.update(&chunk[new..]);
            s.1 = end;
        }
    }

    /// Hashes the bytes of `file` before `offset` that no attempt sent (an
    /// earlier run did).
    async fn catch_up(&self, file: &std::path::Path, offset: u64) -> std::io::Result<()> {
        use std::io::{Read, Seek};
        let (mut state, from) = self.state().clone();
        if from >= offset {
            return Ok(());
        }
        let file = file.to_owned();
        let state = tokio::task::spawn_blocking(move || {
            use sha2::Digest;
            let mut f = std::fs::File::open(&file)?;
            f.seek(std::io::SeekFrom::Start(from))?;
            let mut rest = f.take(offset - from);
            let mut buf = vec![0u8; 1 << 20];
            let mut read = 0;
            loop {
                let n = rest.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                state.update(&buf[..n]);
                read += n as u64;
            }
            if read != offset - from {
                return Err(std::io::Error::other("the file became shorter"));
            }
            Ok(state)
        })
        .await
        .map_err(std::io::Error::other)??;
        *self.state() = (state, offset);
        Ok(())
    }

    /// The digest, once all `size` bytes are hashed.
    fn digest(&self, size: u64) -> std::io::Result<crate::names::Sha256> {
        use sha2::Digest;
        let s = self.state();
        if s.1 != size {
            return Err(std::io::Error::other("the file changed while it was sent"));
        }
        Ok(crate::names::Sha256::from_bytes(
            s.0.clone().finalize().into(),
        ))
    }
}

/// A file's bytes as a request body, counted by `sent` as they are handed to
/// the connection.
fn counted(f: tokio::fs::File, sent: impl Fn(u64) + Send + Sync + 'static) -> reqwest::Body {
    use futures::StreamExt;
    let stream = tokio_util::io::ReaderStream::with_capacity(f, 256 << 10).inspect(move |c| {
        if let Ok(c) = c {
            sent(c.len() as u64);
        }
    });
    reqwest::Body::wrap_stream(stream)
}

/// The delays between attempts: exponential from 250 ms, with jitter, five
/// attempts in all.
fn backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(250))
        .with_max_times(4)
        .with_jitter()
}

/// A transport error without the URL (which may carry a query) repeated.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "");
    }
    s.trim().trim_start_matches("for ").trim().to_owned()
}

/// The failure an error answer means.
fn failure_of(status: u16, body: &Value) -> Failure {
    let err = &body["error"];
    let code = err["code"].as_str().map(str::to_owned);
    let exit = match (status, code.as_deref()) {
        (_, Some("promotion_refused" | "quarantined")) => Exit::RefusedByPolicy,
        (_, Some(c)) if is_signature_rejection(c) => Exit::VerificationFailed,
        (401 | 403 | 404, _) => Exit::NotFoundOrDenied,
        _ => Exit::Failure,
    };
    Failure {
        exit,
        message: err["message"]
            .as_str()
            .map_or_else(|| format!("the registry answered {status}"), str::to_owned),
        code,
        reasons: err["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect(),
    }
}

/// Whether `code` is one with which the registry refuses a signature (the
/// verifier's own rejection codes).
fn is_signature_rejection(code: &str) -> bool {
    crate::signing::verify::Rejection::ALL
        .iter()
        .any(|r| r.code() == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_model_and_a_version_or_alias() {
        let t = Target::parse("fraud/scorer@3").unwrap();
        assert_eq!(t.model_path(), "/v1/models/fraud/scorer");
        assert_eq!(t.version().unwrap(), 3);
        let t = Target::parse("fraud/scorer@production").unwrap();
        assert!(matches!(t.at, At::Alias(_)));
        assert_eq!(t.version().unwrap_err().exit, Exit::Usage);
        for bad in [
            "fraud/scorer",
            "fraud@3",
            "fraud/scorer@0",
            "fraud/scorer@-1",
            "/x@1",
            "a/b@",
        ] {
            assert_eq!(Target::parse(bad).unwrap_err().exit, Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn error_answers_map_to_exit_codes_by_kind() {
        let body = |code: &str| serde_json::json!({"error": {"code": code, "message": "m", "reasons": ["a", "b"]}});
        assert_eq!(
            failure_of(404, &body("not_found")).exit,
            Exit::NotFoundOrDenied
        );
        assert_eq!(
            failure_of(403, &body("forbidden")).exit,
            Exit::NotFoundOrDenied
        );
        let refused = failure_of(409, &body("promotion_refused"));
        assert_eq!(refused.exit, Exit::RefusedByPolicy);
        assert_eq!(refused.reasons, ["a", "b"]);
        assert_eq!(
            failure_of(422, &body("untrusted_key")).exit,
            Exit::VerificationFailed
        );
        assert_eq!(
            failure_of(403, &body("quarantined")).exit,
            Exit::RefusedByPolicy
        );
        assert_eq!(
            failure_of(500, &serde_json::Value::Null).exit,
            Exit::Failure
        );
    }
}
