//! A file's chaining values, gathered from its parts.

use super::*;
use crate::blobs::Blocks;

/// The parts of `data` as a session records them: each with the chaining
/// values at the block boundaries inside it and at its end.
fn parts(data: &[u8]) -> Vec<UploadPart> {
    let mut hasher = sha2::Sha256::new();
    data.chunks(PART as usize)
        .zip(1..)
        .map(|(part, number)| {
            let mut chain = Vec::new();
            for block in part.chunks(BLOCK as usize) {
                hasher.update(block);
                if block.len() as u64 == BLOCK {
                    chain.extend_from_slice(&chain_value(&hasher));
                }
            }
            UploadPart {
                number,
                etag: None,
                blocks: Vec::new(),
                chain: Some(chain),
            }
        })
        .collect()
}

#[test]
fn a_files_chain_from_its_parts_checks_every_block() {
    let (part, block) = (PART as usize, BLOCK as usize);
    for len in [
        1,
        block,
        part,
        part + 1,
        2 * part,
        2 * part - 5,
        2 * part + block,
    ] {
        let data: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
        let values = chain_of_parts(&parts(&data), len as u64).unwrap();
        let blocks = Blocks::Chain {
            values,
            sha256: crate::names::Sha256::from_bytes(sha2::Sha256::digest(&data).into()),
        };
        assert!(blocks.cover(len as u64), "{len}");
        for (i, b) in data.chunks(block).enumerate() {
            assert!(blocks.check(i as u64, len as u64, b), "{len}: block {i}");
        }
    }
}

#[test]
fn a_part_stored_without_chaining_values_leaves_the_file_without() {
    let data = vec![7u8; PART as usize + 10];
    let mut parts = parts(&data);
    parts[0].chain = None;
    parts[0].blocks = vec![0; 64];
    assert_eq!(chain_of_parts(&parts, data.len() as u64), None);
}
