//! The benchmark's baseline: copies a file to or from an object store with
//! `object_store` alone (multipart, same part size and concurrency as Signet), so
//! Signet's upload and download can be compared with the bare store.
//!
//! blobcopy put <file> <store-url> <key>
//! blobcopy get <store-url> <key>          (bytes are read and dropped)

use std::sync::Arc;

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
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
        _ => anyhow::bail!("usage: blobcopy put <file> <store-url> <key> | get <store-url> <key>"),
    }
    Ok(())
}
