//! A range of a stored file checked with no second hash pass at upload.
//!
//! SHA-256 digests its input 64 bytes at a time, carrying a 32-byte chaining
//! value from one step to the next. An upload already computes the file's
//! SHA-256; it records that chaining value at every [`BLOCK`] boundary before
//! the end (a boundary is a whole number of 64-byte steps, so nothing waits in
//! the hasher's buffer there). Block `k` of the stored bytes is then checked by
//! starting SHA-256 from the value recorded before it and comparing what comes
//! out after it with the value recorded after it, or, for the last block, the
//! finished digest with the file's. Bytes other than the uploaded ones that
//! lead from one recorded value to the next are a second preimage of SHA-256's
//! chaining, as hard to find as one of SHA-256 itself.
//!
//! Files recorded before this kept a SHA-256 of each block instead
//! ([`Blocks::Digests`]); both are checked.

use sha2::Digest;
use sha2::digest::common::hazmat::{SerializableState, SerializedState};

use super::{BLOCK, Digesting, digest_of};
use crate::names::Sha256;

/// SHA-256 steps in one [`BLOCK`].
const STEPS_PER_BLOCK: u64 = BLOCK / 64;

/// The chaining value of a hasher that has taken a whole number of 64-byte steps.
pub fn value(h: &sha2::Sha256) -> [u8; 32] {
    let state = h.serialize();
    state[..32]
        .try_into()
        .expect("a SHA-256 state starts with its chaining value")
}

/// A hasher as it stood after `blocks` whole blocks with chaining value `value`.
fn resumed(value: &[u8], blocks: u64) -> Option<sha2::Sha256> {
    // A fresh hasher's state, with the chaining value and the count of steps
    // taken put in its place; the buffer stays empty, as it is at a boundary.
    let mut state = sha2::Sha256::new().serialize();
    state.get_mut(..32)?.copy_from_slice(value);
    state
        .get_mut(32..40)?
        .copy_from_slice(&(blocks * STEPS_PER_BLOCK).to_le_bytes());
    let state = SerializedState::<sha2::Sha256>::try_from(&state[..]).ok()?;
    sha2::Sha256::deserialize(&state).ok()
}

/// A stream's SHA-256, with its chaining value at every [`BLOCK`] boundary
/// before its end, concatenated (32 bytes each).
#[derive(Default)]
pub struct Chained {
    hasher: sha2::Sha256,
    in_block: u64,
    values: Vec<u8>,
}

impl Digesting for Chained {
    type Out = (Sha256, Vec<u8>);

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (BLOCK - self.in_block).min(bytes.len() as u64) as usize;
            self.hasher.update(&bytes[..take]);
            self.in_block += take as u64;
            bytes = &bytes[take..];
            if self.in_block == BLOCK {
                self.values.extend_from_slice(&value(&self.hasher));
                self.in_block = 0;
            }
        }
    }

    fn finish(mut self) -> (Sha256, Vec<u8>) {
        // A stream that ends on a boundary: its end is checked by the digest.
        if self.in_block == 0 {
            let kept = self.values.len().saturating_sub(32);
            self.values.truncate(kept);
        }
        (digest_of(self.hasher), self.values)
    }
}

/// What the blocks of a stored file are checked against.
#[derive(Debug, Clone)]
pub enum Blocks {
    /// SHA-256 chaining values at the block boundaries (see the module), and the
    /// file's digest for its last block.
    Chain { values: Vec<u8>, sha256: Sha256 },
    /// A SHA-256 of each block (files recorded before chaining values were).
    Digests(Vec<u8>),
}

impl Blocks {
    /// Whether these cover every block of a file of `size` bytes.
    pub fn cover(&self, size: u64) -> bool {
        let blocks = size.div_ceil(BLOCK);
        match self {
            Blocks::Chain { values, .. } => values.len() as u64 == 32 * blocks.saturating_sub(1),
            Blocks::Digests(d) => d.len() as u64 == 32 * blocks,
        }
    }

    /// Whether `bytes` are block `index` of the file of `size` bytes these cover.
    pub fn check(&self, index: u64, size: u64, bytes: &[u8]) -> bool {
        let at = |v: &[u8], i: u64| -> Option<[u8; 32]> {
            let i = usize::try_from(i).ok()?.checked_mul(32)?;
            v.get(i..i + 32)?.try_into().ok()
        };
        match self {
            Blocks::Digests(d) => at(d, index) == Some(sha2::Sha256::digest(bytes).into()),
            Blocks::Chain { values, sha256 } => {
                let start = match index {
                    0 => Some(sha2::Sha256::new()),
                    i => at(values, i - 1).and_then(|v| resumed(&v, i)),
                };
                let Some(mut h) = start else { return false };
                h.update(bytes);
                if index + 1 == size.div_ceil(BLOCK) {
                    digest_of(h) == *sha256
                } else {
                    bytes.len() as u64 == BLOCK && at(values, index) == Some(value(&h))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn chained(data: &[u8], chunk: usize) -> (Sha256, Vec<u8>) {
        let mut c = Chained::default();
        data.chunks(chunk).for_each(|b| c.feed(b));
        c.finish()
    }

    #[test]
    fn the_digest_is_the_files_and_the_values_do_not_depend_on_how_bytes_arrive() {
        let b = BLOCK as usize;
        for len in [0, 1, b - 1, b, b + 1, 2 * b, 3 * b + 1234] {
            let d = data(len);
            let whole = Sha256::from_bytes(sha2::Sha256::digest(&d).into());
            let first = chained(&d, 1 << 20);
            assert_eq!(first.0, whole, "{len}");
            assert_eq!(
                first.1.len(),
                32 * len.div_ceil(b).saturating_sub(1),
                "{len}"
            );
            for chunk in [1000, b, 3 * 1024 * 1024 + 7] {
                assert_eq!(chained(&d, chunk), first, "{len} in chunks of {chunk}");
            }
            let blocks = Blocks::Chain {
                values: first.1,
                sha256: whole,
            };
            assert!(blocks.cover(len as u64));
            for (i, block) in d.chunks(b).enumerate() {
                assert!(
                    blocks.check(i as u64, len as u64, block),
                    "{len}: block {i}"
                );
            }
        }
    }

    #[test]
    fn a_resumed_hasher_goes_on_as_the_one_it_was_taken_from() {
        let d = data(2 * BLOCK as usize + 100);
        let mut h = sha2::Sha256::new();
        h.update(&d[..BLOCK as usize]);
        let mut r = resumed(&value(&h), 1).unwrap();
        h.update(&d[BLOCK as usize..]);
        r.update(&d[BLOCK as usize..]);
        assert_eq!(h.finalize(), r.finalize());
    }

    #[test]
    fn other_bytes_fail_their_block_whichever_it_is() {
        let b = BLOCK as usize;
        let d = data(3 * b + 99);
        let size = d.len() as u64;
        let (sha256, values) = chained(&d, 1 << 20);
        let chain = Blocks::Chain {
            values: values.clone(),
            sha256,
        };
        let digests = Blocks::Digests(
            d.chunks(b)
                .flat_map(|c| sha2::Sha256::digest(c).to_vec())
                .collect(),
        );
        for blocks in [&chain, &digests] {
            for (i, block) in d.chunks(b).enumerate() {
                let i = i as u64;
                assert!(blocks.check(i, size, block));
                let mut flipped = block.to_vec();
                flipped[block.len() / 2] ^= 1;
                assert!(!blocks.check(i, size, &flipped), "{blocks:?} {i}");
                assert!(!blocks.check(i, size, &block[..block.len() - 1]), "{i}");
                // Another block's bytes in this one's place.
                let other = &d[((i as usize + 1) % 3) * b..][..b.min(block.len())];
                if other != block {
                    assert!(!blocks.check(i, size, other), "{i}");
                }
            }
            assert!(!blocks.check(9, size, &d[..b]), "a block past the end");
        }
        // Values that do not cover the file.
        let short = Blocks::Chain {
            values: values[..32].to_vec(),
            sha256,
        };
        assert!(!short.cover(size));
        assert!(!short.check(2, size, &d[2 * b..3 * b]));
    }
}
