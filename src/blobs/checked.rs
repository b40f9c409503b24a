//! Checking stored bytes on the way out: a whole file against its digest
//! before its last chunk leaves, a range block by block against the file's
//! block digests or chaining values.

use std::ops::Range;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::*;
use crate::error::{Error, Result};
use crate::names::Sha256;

/// Passes on the bytes a hashing reader sends, holding the last chunk back
/// until the reader's digest of all of them is in and matches `digest` (and
/// their count `size`).
pub(super) fn verify(
    pieces: tokio::sync::mpsc::Receiver<Result<Piece>>,
    size: u64,
    digest: Sha256,
) -> BoxStream<'static, Result<Bytes>> {
    struct State {
        pieces: tokio::sync::mpsc::Receiver<Result<Piece>>,
        seen: u64,
        held: Option<Bytes>,
        done: bool,
    }
    let state = State {
        pieces,
        seen: 0,
        held: None,
        done: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.pieces.recv().await {
                Some(Ok(Piece::Bytes(chunk))) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    st.seen += chunk.len() as u64;
                    if let Some(prev) = st.held.replace(chunk) {
                        return Some((Ok(prev), st));
                    }
                }
                Some(Ok(Piece::Hashed(actual))) => {
                    st.done = true;
                    if st.seen != size || actual != digest {
                        integrity_failure(size, st.seen, digest, actual);
                        return Some((Err(Error::Integrity), st));
                    }
                    return st.held.take().map(|last| (Ok(last), st));
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                // The reader stopped without a digest: it failed and said so.
                None => {
                    st.done = true;
                    return Some((
                        Err(Error::internal(anyhow::anyhow!("the read ended early"))),
                        st,
                    ));
                }
            }
        }
    })
    .boxed()
}

/// Logs and counts stored bytes that do not match what was recorded.
pub(super) fn integrity_failure(size: u64, seen: u64, digest: Sha256, actual: Sha256) {
    tracing::error!(
        expected_size = size,
        actual_size = seen,
        expected = %digest,
        actual = %actual,
        "stored bytes do not match the recorded digest; download aborted"
    );
    crate::metrics::integrity_failure();
}

/// Logs and counts a stored object whose length is not the recorded size, and
/// answers the error its download is refused with (before any header or byte).
pub(super) fn length_mismatch(size: u64, stored: u64) -> Error {
    tracing::error!(
        expected_size = size,
        actual_size = stored,
        "a stored object's length does not match the recorded size; download aborted"
    );
    crate::metrics::integrity_failure();
    Error::Integrity
}

/// Checks `inner` (the bytes of `aligned`, whole blocks of a file of `size`
/// bytes) block by block against `blocks`, and yields only the part of each
/// checked block inside `wanted`.
pub(super) fn verify_blocks(
    inner: BoxStream<'static, Result<Bytes>>,
    aligned: Range<u64>,
    wanted: Range<u64>,
    size: u64,
    blocks: Blocks,
) -> BoxStream<'static, Result<Bytes>> {
    struct State {
        inner: BoxStream<'static, Result<Bytes>>,
        /// Offset in the file of the block being gathered.
        at: u64,
        block: bytes::BytesMut,
        blocks: Blocks,
        size: u64,
        end: u64,
        wanted: Range<u64>,
        done: bool,
    }
    let st = State {
        inner,
        at: aligned.start,
        block: bytes::BytesMut::new(),
        blocks,
        size,
        end: aligned.end,
        wanted,
        done: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let block_len = (st.end - st.at).min(BLOCK) as usize;
            if st.block.len() >= block_len {
                let block = st.block.split_to(block_len).freeze();
                if !st.blocks.check(st.at / BLOCK, st.size, &block) {
                    st.done = true;
                    tracing::error!(
                        block_at = st.at,
                        "a stored block does not match what was recorded of it; range aborted"
                    );
                    crate::metrics::integrity_failure();
                    return Some((Err(Error::Integrity), st));
                }
                let from = st.wanted.start.max(st.at) - st.at;
                let to = st.wanted.end.min(st.at + block_len as u64) - st.at;
                st.at += block_len as u64;
                st.done = st.at >= st.end;
                return Some((Ok(block.slice(from as usize..to as usize)), st));
            }
            match st.inner.next().await {
                Some(Ok(chunk)) => st.block.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    // Fewer bytes stored than recorded.
                    st.done = true;
                    tracing::error!(block_at = st.at, "a stored object is shorter than recorded");
                    crate::metrics::integrity_failure();
                    return Some((Err(Error::Integrity), st));
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digests(data: &[u8]) -> Vec<u8> {
        data.chunks(BLOCK as usize)
            .flat_map(|c| sha2::Sha256::digest(c).to_vec())
            .collect()
    }

    async fn ranged(data: &[u8], blocks: Blocks, wanted: Range<u64>) -> Result<Vec<u8>> {
        let size = data.len() as u64;
        let first = wanted.start / BLOCK;
        let aligned = first * BLOCK..(wanted.end.div_ceil(BLOCK) * BLOCK).min(size);
        let bytes = Bytes::copy_from_slice(&data[aligned.start as usize..aligned.end as usize]);
        let inner = futures::stream::iter(
            bytes
                .chunks(700_000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
        .boxed();
        let mut out = Vec::new();
        let mut s = verify_blocks(inner, aligned, wanted, size, blocks);
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn ranges_come_out_exact_and_checked() {
        let data: Vec<u8> = (0..(BLOCK as usize * 3 + 99))
            .map(|i| (i % 253) as u8)
            .collect();
        let size = data.len() as u64;
        let mut chained = chain::Chained::default();
        chained.feed(&data);
        let (sha256, values) = chained.finish();
        for blocks in [
            Blocks::Digests(digests(&data)),
            Blocks::Chain { values, sha256 },
        ] {
            ranges_of(&data, size, blocks).await;
        }
    }

    async fn ranges_of(data: &[u8], size: u64, blocks: Blocks) {
        for r in [
            0..1,
            5..BLOCK + 5,
            BLOCK..2 * BLOCK,
            size - 10..size,
            0..size,
            3 * BLOCK..size,
        ] {
            let got = ranged(data, blocks.clone(), r.clone()).await.unwrap();
            assert_eq!(got, &data[r.start as usize..r.end as usize], "{r:?}");
        }
        // One flipped byte in a block the range touches fails it; elsewhere not.
        let mut tampered = data.to_vec();
        tampered[(BLOCK + 10) as usize] ^= 1;
        assert!(
            ranged(&tampered, blocks.clone(), BLOCK + 5..BLOCK + 6)
                .await
                .is_err()
        );
        assert!(ranged(&tampered, blocks.clone(), 0..5).await.is_ok());
        // The last block, checked against the file's digest.
        let mut tampered = data.to_vec();
        tampered[size as usize - 1] ^= 1;
        assert!(
            ranged(&tampered, blocks.clone(), size - 5..size)
                .await
                .is_err()
        );
        assert!(ranged(&tampered, blocks, BLOCK..BLOCK + 1).await.is_ok());
    }
}
