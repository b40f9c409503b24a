//! Signing: the statement a signer signs and the digests it is built from.
//!
//! Dependency rule: pure functions over typed values; no storage, no HTTP.

pub mod statement;
