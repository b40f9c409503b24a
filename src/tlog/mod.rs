//! The access log as an RFC 6962 Merkle tree: leaf and node hashes, the
//! complete subtrees the store keeps, and proofs of inclusion and
//! consistency, computed and checked. Pure: a proof is made in two steps,
//! first the subtrees it needs ([`Node`]s, read from the store in one go),
//! then the proof from their hashes. `note` signs and opens checkpoints
//! (C2SP `signed-note`, `tlog-checkpoint`); `tile` names the tiles of C2SP
//! `tlog-tiles`.
//!
//! Dependency rule: a leaf beside `chain`: the store, the audit service and
//! the client share it.

pub mod note;
pub mod tile;

use sha2::{Digest, Sha256};

/// A SHA-256 hash of the tree.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A leaf's hash: `SHA-256(0x00 ‖ bytes)`.
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

/// An interior node's hash: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// A complete subtree: the `2^level` leaves from `index << level`. The store
/// keeps the hash of every complete subtree of the tree (about two per leaf),
/// written once, when its last leaf arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Node {
    pub level: u8,
    pub index: u64,
}

impl Node {
    pub fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }
}

/// The subtrees that leaf `n` (0-based) completes, after the leaf itself:
/// one per trailing one bit of `n`. Appending it needs the left siblings
/// ([`append_needs`]).
pub fn append_needs(n: u64) -> Vec<Node> {
    (0..n.trailing_ones())
        .map(|l| Node::new(l as u8, (n >> l) - 1))
        .collect()
}

/// The subtrees leaf `n` completes, with their hashes: the leaf itself, then
/// each parent up to the largest complete one. `left` holds the hashes of
/// [`append_needs`]`(n)`, in its order.
pub fn appended(n: u64, leaf: Hash, left: &[Hash]) -> Vec<(Node, Hash)> {
    let mut out = vec![(Node::new(0, n), leaf)];
    let mut h = leaf;
    for (l, sibling) in left.iter().enumerate() {
        h = node_hash(sibling, &h);
        out.push((Node::new(l as u8 + 1, n >> (l + 1)), h));
    }
    out
}

/// The largest power of two strictly below `n` (`n` ≥ 2): RFC 6962's `k`.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The complete subtrees that cover leaves `[lo, hi)`, left to right (each
/// as large as it can be: `lo` is aligned by construction).
fn cover(mut lo: u64, hi: u64, out: &mut Vec<Node>) {
    while lo < hi {
        let width = hi - lo;
        let mut level = 63 - width.leading_zeros();
        while lo & ((1u64 << level) - 1) != 0 {
            level -= 1;
        }
        out.push(Node::new(level as u8, lo >> level));
        lo += 1 << level;
    }
}

/// A range of leaves `[lo, hi)` whose Merkle Tree Hash a proof holds.
pub type Range = (u64, u64);

/// RFC 6962's `PATH(m, D[0:size])` as the ranges whose hashes it lists, in
/// order.
pub fn inclusion_ranges(m: u64, size: u64) -> Vec<Range> {
    fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<Range>) {
        if hi - lo <= 1 {
            return;
        }
        let k = split(hi - lo);
        if m < lo + k {
            path(m, lo, lo + k, out);
            out.push((lo + k, hi));
        } else {
            path(m, lo + k, hi, out);
            out.push((lo, lo + k));
        }
    }
    let mut out = Vec::new();
    if m < size {
        path(m, 0, size, &mut out);
    }
    out
}

/// RFC 6962's `PROOF(m, D[0:n])` as the ranges whose hashes it lists, in
/// order (empty when `m` is 0 or `n`).
pub fn consistency_ranges(m: u64, n: u64) -> Vec<Range> {
    fn subproof(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Range>) {
        if m == hi - lo {
            if !whole {
                out.push((lo, hi));
            }
            return;
        }
        let k = split(hi - lo);
        if m <= k {
            subproof(m, lo, lo + k, whole, out);
            out.push((lo + k, hi));
        } else {
            subproof(m - k, lo + k, hi, false, out);
            out.push((lo, lo + k));
        }
    }
    let mut out = Vec::new();
    if m > 0 && m < n {
        subproof(m, 0, n, true, &mut out);
    }
    out
}

/// The stored subtrees the hashes of `ranges` are made of, each once, sorted
/// (what the store reads for a proof, a root or a tile).
pub fn needs(ranges: &[Range]) -> Vec<Node> {
    let mut out = Vec::new();
    for &(lo, hi) in ranges {
        cover(lo, hi, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// The hash of each range, from the stored subtrees' hashes (`hash_of`
/// answers every node [`needs`] listed). None when one is missing.
pub fn hashes_of(ranges: &[Range], hash_of: impl Fn(Node) -> Option<Hash>) -> Option<Vec<Hash>> {
    ranges
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                return Some(empty_root());
            }
            let mut nodes = Vec::new();
            cover(lo, hi, &mut nodes);
            let mut hashes = nodes.into_iter().rev().map(&hash_of);
            let mut h = hashes.next()??;
            for left in hashes {
                h = node_hash(&left?, &h);
            }
            Some(h)
        })
        .collect()
}

/// The tree's root at `size`: the hash of `[0, size)`.
pub fn root_range(size: u64) -> Range {
    (0, size)
}

/// The tree built leaf by leaf in memory of its height: the roots of its
/// complete subtrees, largest first (what rebuilding the tree from an export
/// needs, however long the export).
#[derive(Debug, Default, Clone)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)` of each complete subtree, left to right.
    peaks: Vec<(u32, Hash)>,
}

impl Frontier {
    /// Appends a leaf by its hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut level = 0;
        while let Some(&(l, left)) = self.peaks.last() {
            if l != level {
                break;
            }
            self.peaks.pop();
            h = node_hash(&left, &h);
            level += 1;
        }
        self.peaks.push((level, h));
        self.size += 1;
    }

    /// Leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the tree of the leaves appended.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(&(_, mut h)) = peaks.next() else {
            return empty_root();
        };
        for (_, left) in peaks {
            h = node_hash(left, &h);
        }
        h
    }
}

/// Whether `proof` shows leaf `index` (with hash `leaf`) in the tree of
/// `size` leaves whose root is `root` (RFC 9162, 2.1.3.2).
pub fn check_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Whether `proof` shows the tree of `m` leaves with root `old` is a prefix
/// of the tree of `n` leaves with root `new` (RFC 9162, 2.1.4.2). The empty
/// tree is a prefix of every tree.
pub fn check_consistency(m: u64, n: u64, old: &Hash, new: &Hash, proof: &[Hash]) -> bool {
    if m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && old == new;
    }
    if m == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*old);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (m - 1, n - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old && sr == *new && s == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A tree of `n` leaves kept as the store keeps it.
    fn grown(n: u64) -> (Vec<Hash>, HashMap<Node, Hash>) {
        let mut leaves = Vec::new();
        let mut stored = HashMap::new();
        for i in 0..n {
            let leaf = leaf_hash(format!("event {i}").as_bytes());
            let left: Vec<Hash> = append_needs(i).iter().map(|k| stored[k]).collect();
            for (node, h) in appended(i, leaf, &left) {
                assert!(
                    stored.insert(node, h).is_none(),
                    "a subtree is written once"
                );
            }
            leaves.push(leaf);
        }
        (leaves, stored)
    }

    /// RFC 6962's MTH, computed from the leaves directly.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn hashes(stored: &HashMap<Node, Hash>, ranges: &[Range]) -> Vec<Hash> {
        hashes_of(ranges, |n| stored.get(&n).copied()).unwrap()
    }

    #[test]
    fn the_stored_subtrees_give_every_root_and_about_two_hashes_per_leaf() {
        let (leaves, stored) = grown(300);
        assert!(stored.len() < 600);
        for size in 0..=300u64 {
            let root = hashes(&stored, &[root_range(size)])[0];
            assert_eq!(root, mth(&leaves[..size as usize]), "size {size}");
        }
    }

    #[test]
    fn inclusion_proofs_check_out_and_nothing_else_does() {
        let (leaves, stored) = grown(70);
        for size in 1..=70u64 {
            let root = mth(&leaves[..size as usize]);
            for i in 0..size {
                let proof = hashes(&stored, &inclusion_ranges(i, size));
                let leaf = &leaves[i as usize];
                assert!(
                    check_inclusion(i, size, leaf, &proof, &root),
                    "{i} in {size}"
                );
                assert!(!check_inclusion(
                    i,
                    size,
                    &leaves[0].map(|b| !b),
                    &proof,
                    &root
                ));
                if size > 1 {
                    let other = (i + 1) % size;
                    assert!(
                        !check_inclusion(other, size, leaf, &proof, &root)
                            || leaves[other as usize] == *leaf
                    );
                    let mut bent = proof.clone();
                    bent[0][0] ^= 1;
                    assert!(!check_inclusion(i, size, leaf, &bent, &root));
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_check_out_between_every_two_sizes() {
        let (leaves, stored) = grown(40);
        for n in 1..=40u64 {
            let new = mth(&leaves[..n as usize]);
            for m in 1..=n {
                let old = mth(&leaves[..m as usize]);
                let proof = hashes(&stored, &consistency_ranges(m, n));
                assert!(check_consistency(m, n, &old, &new, &proof), "{m} → {n}");
                if m < n {
                    let forged = mth(&leaves[1..=m as usize]);
                    assert!(!check_consistency(m, n, &forged, &new, &proof), "{m} → {n}");
                    assert!(!check_consistency(m, n, &old, &forged, &proof));
                }
            }
        }
        assert!(check_consistency(
            0,
            5,
            &empty_root(),
            &mth(&leaves[..5]),
            &[]
        ));
        assert!(!check_consistency(
            6,
            5,
            &empty_root(),
            &mth(&leaves[..5]),
            &[]
        ));
    }

    #[test]
    fn a_frontier_has_the_root_of_every_size() {
        let (leaves, _) = grown(300);
        let mut f = Frontier::default();
        assert_eq!(f.root(), empty_root());
        for (i, leaf) in leaves.iter().enumerate() {
            f.push(*leaf);
            assert_eq!(f.size(), i as u64 + 1);
            assert_eq!(f.root(), mth(&leaves[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn the_empty_tree_and_the_rfc_hashes() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // RFC 6962 test vector: the leaf of the empty string.
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }
}
