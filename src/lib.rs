//! Signet: a signed model registry.
//!
//! Layers, top to bottom: `http` (routing, extractors, thin handlers) → domain
//! services (`auth`, `registry`, `trust`, `lineage`, `audit`, `publishing`
//! (trusted publishing), and `oci`, the OCI face's view over `registry` and
//! `trust`), which use the pure `signing` verifier, the `oidc` identity token
//! checks and the `blobs` byte store → `store` (all SQL). Each layer
//! calls only the ones below it. `names`, `kinds` and `page` are leaves every
//! layer may use; `formats`, the pure file-format sniffer, is a leaf the registry
//! uses; `chain`, the access log's hash chain, and `tlog`, its Merkle tree,
//! proofs and signed checkpoints, are leaves the store, the audit service and
//! the client share; `trail` carries a request's audit context from `http`
//! down to the writes; `webhooks`, the pure parts of events out (where a
//! delivery may go, how it is signed), is a leaf. `docs/design.md` describes
//! the concepts and invariants.

// On purpose: each file of `store/sql/` is compiled once per database backend
// (`store/postgres.rs`, `store/sqlite.rs`), so both run the same SQL text.
#![allow(clippy::duplicate_mod)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod blobs;
pub mod catalog;
pub mod chain;
pub mod client;
pub mod config;
pub mod error;
pub mod formats;
pub mod http;
pub mod kinds;
pub mod limits;
pub mod lineage;
pub mod metrics;
pub mod names;
pub mod oci;
pub mod oidc;
pub mod page;
pub mod publishing;
pub mod registry;
pub mod server;
pub mod signing;
pub mod store;
pub mod telemetry;
pub mod tlog;
pub mod tls;
pub mod trail;
pub mod trust;
pub mod vectored;
pub mod webhooks;
