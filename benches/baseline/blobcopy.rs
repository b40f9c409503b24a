//! The benchmark's baselines: copies a file to or from an object store with
//! `object_store` alone (multipart, same part size and concurrency as Signet), so
//! Signet's upload and download can be compared with the bare store; and a bare
//! HTTP proxy in front of the store, so a download through Signet can be
//! compared with what any extra hop costs on the same machine.
//!
//! blobcopy put <file> <store-url> <key>
//! blobcopy get <store-url> <key>          (bytes are read and dropped)
//! blobcopy serve <store-url> <addr> [sha256]
//!     answers `GET /<key>` with the object, one GET streamed through; with
//!     `sha256` each chunk is hashed on its way (the digest is not checked)

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::Digest;
use tokio::io::AsyncReadExt;

fn open(url: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    Ok(match url.strip_prefix("s3://") {
        Some(bucket) => Arc::new(
            AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_allow_http(true)
                .build()?,
        ),
        None => Arc::new(LocalFileSystem::new_with_prefix(url)?),
    })
}

#[derive(Clone)]
struct Proxy {
    store: Arc<dyn ObjectStore>,
    hash: bool,
}

/// `GET /<key>`: the object's bytes as they arrive from the store.
async fn proxy(State(p): State<Proxy>, UrlPath(key): UrlPath<String>) -> Response {
    let got = match p.store.get(&Path::from(key)).await {
        Ok(got) => got,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let stream = got.into_stream();
    if !p.hash {
        return Body::from_stream(stream).into_response();
    }
    let mut hasher = sha2::Sha256::new();
    let hashed = stream.map(move |chunk| {
        if let Ok(c) = &chunk {
            hasher.update(c);
        }
        chunk
    });
    Body::from_stream(hashed).into_response()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["put", file, url, key] => {
            let store = open(url)?;
            let upload = store.put_multipart(&Path::from(*key)).await?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
            let mut f = tokio::fs::File::open(file).await?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                w.wait_for_capacity(4).await?;
                w.write(&buf[..n]);
            }
            w.finish().await?;
        }
        ["get", url, key] => {
            let store = open(url)?;
            let mut s = store.get(&Path::from(*key)).await?.into_stream();
            let mut n = 0u64;
            while let Some(chunk) = s.next().await {
                n += chunk?.len() as u64;
            }
            eprintln!("{n} bytes");
        }
        ["serve", url, addr, rest @ ..] if rest.is_empty() || rest == ["sha256"] => {
            let state = Proxy {
                store: open(url)?,
                hash: !rest.is_empty(),
            };
            let app = axum::Router::new()
                .route("/{*key}", axum::routing::get(proxy))
                .with_state(state);
            let listener = tokio::net::TcpListener::bind(addr).await?;
            axum::serve(listener, app).await?;
        }
        _ => anyhow::bail!(
            "usage: blobcopy put <file> <store-url> <key> | get <store-url> <key> \
             | serve <store-url> <addr> [sha256]"
        ),
    }
    Ok(())
}
