//! Signing: the statement a signer signs, DSSE envelopes and PAE, trusted keys,
//! and the verifier.
//!
//! Dependency rule: pure functions over typed values; no storage, no HTTP. The
//! verifier returns a `VerifiedSignature` that only it can make, and promotion
//! code requires one per counted key.

pub mod attestation;
pub mod bundle;
pub mod dsse;
pub mod json;
pub mod keys;
pub mod pinned;
pub mod signer;
pub mod statement;
pub mod verify;
