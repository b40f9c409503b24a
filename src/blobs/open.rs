//! Opening a blob store: a local directory, or an S3-compatible bucket with its
//! client settings (timeouts, retries, server-side encryption).

use std::sync::Arc;

use object_store::ObjectStore;

use super::*;
use crate::error::{Error, Result};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

/// S3 settings beyond the URL; credentials come from the standard AWS variables.
#[derive(Clone, Default)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub allow_http: bool,
    /// Credentials given to Signet (otherwise the AWS environment's).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Server-side encryption asked for on every write: `AES256` or `aws:kms`.
    pub sse: Option<String>,
    /// The KMS key of `aws:kms`.
    pub sse_kms_key_id: Option<String>,
}

// The credentials are secrets: never print them.
impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("sse", &self.sse)
            .finish_non_exhaustive()
    }
}

impl BlobStore {
    /// Opens `s3://bucket[/prefix]`, `file:///dir`, or a plain directory path
    /// (created if missing).
    pub fn open(url: &str, s3: &S3Options, tuning: UploadTuning) -> Result<Self> {
        let (inner, parts, signer) = match url.strip_prefix("s3://") {
            Some(rest) => {
                let (inner, parts, signer) = s3_parts(rest, s3)?;
                (inner, parts, Some(signer))
            }
            None => {
                let dir = url.strip_prefix("file://").unwrap_or(url);
                std::fs::create_dir_all(dir).map_err(Error::internal)?;
                let fs = LocalFileSystem::new_with_prefix(dir)
                    .map_err(Error::internal)?
                    .with_automatic_cleanup(true);
                let store: Arc<dyn ObjectStore> = Arc::new(fs);
                (store, Parts::Local(dir.into()), None)
            }
        };
        Ok(Self {
            inner,
            parts,
            tuning,
            signer,
        })
    }
}

/// The store of `s3://BUCKET[/PREFIX]` (given without its scheme), where its
/// resumable uploads keep their parts, and what presigns its objects' URLs.
fn s3_parts(rest: &str, s3: &S3Options) -> Result<(Arc<dyn ObjectStore>, Parts, Signing)> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::invalid("storage URL s3:// needs a bucket"));
    }
    // Set first: the client options replace any set before (allow_http).
    let mut b = AmazonS3Builder::from_env()
        .with_client_options(
            object_store::ClientOptions::new()
                .with_connect_timeout(std::time::Duration::from_secs(2)),
        )
        .with_bucket_name(bucket);
    if let Some(e) = &s3.endpoint {
        b = b.with_endpoint(e);
    }
    if let Some(r) = &s3.region {
        b = b.with_region(r);
    }
    if s3.allow_http {
        b = b.with_allow_http(true);
    }
    if let Some(id) = &s3.access_key_id {
        b = b.with_access_key_id(id);
    }
    if let Some(secret) = &s3.secret_access_key {
        b = b.with_secret_access_key(secret);
    }
    match (s3.sse.as_deref(), &s3.sse_kms_key_id) {
        (None, _) => {}
        (Some("aws:kms"), Some(key)) => b = b.with_sse_kms_encryption(key),
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "SIGNET_S3_SSE_KMS_KEY_ID needs SIGNET_S3_SSE=aws:kms",
            ));
        }
        (Some(kind), None) => {
            let key: object_store::aws::AmazonS3ConfigKey = "aws_server_side_encryption"
                .parse()
                .map_err(|e| Error::invalid(format!("invalid S3 configuration: {e}")))?;
            b = b.with_config(key, kind);
        }
    }
    // An unreachable store is an error within seconds (a 503 for the
    // request), not minutes of retries: three retries within 10 s.
    let retry = object_store::RetryConfig {
        backoff: object_store::BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: std::time::Duration::from_secs(10),
    };
    let store = b
        .with_retry(retry)
        .with_virtual_hosted_style_request(false)
        .build()
        .map_err(|e| Error::invalid(format!("invalid S3 configuration: {e}")))?;
    let store = Arc::new(store);
    let prefix = prefix.trim_matches('/');
    let parts = Parts::Multipart {
        store: store.clone(),
        prefix: prefix.to_owned(),
    };
    let signer = Signing {
        s3: store.clone(),
        prefix: prefix.to_owned(),
    };
    if prefix.is_empty() {
        Ok((store, parts, signer))
    } else {
        Ok((Arc::new(PrefixStore::new(store, prefix)), parts, signer))
    }
}

/// What presigns URLs of an S3 store's objects: the bucket's client and the
/// prefix Signet's objects live under.
#[derive(Clone, Debug)]
pub(super) struct Signing {
    s3: Arc<object_store::aws::AmazonS3>,
    prefix: String,
}

impl BlobStore {
    /// A URL that lets its holder `GET` exactly the bytes of artifact `id` for
    /// `ttl`, without credentials; `None` for a store that cannot presign (a
    /// local directory).
    pub async fn presigned_get(
        &self,
        id: Uuid,
        ttl: std::time::Duration,
    ) -> Result<Option<String>> {
        use object_store::signer::Signer;
        let Some(s) = &self.signer else {
            return Ok(None);
        };
        let key = BlobKey::Artifact(id).path();
        let path = match s.prefix.as_str() {
            "" => key,
            p => Path::from(format!("{p}/{key}")),
        };
        let url =
            s.s3.signed_url(hyper::Method::GET, &path, ttl)
                .await
                .map_err(|e| Error::Unavailable(e.into()))?;
        Ok(Some(url.to_string()))
    }

    /// Whether this store can presign URLs (S3).
    pub fn can_presign(&self) -> bool {
        self.signer.is_some()
    }
}
