//! Integration tests: the real service over real HTTP, on SQLite + a local
//! directory and on PostgreSQL + an S3-compatible server. Every case in a module's
//! `on_both_backends!` list runs once per backend; together they are the store
//! conformance suite.

mod helpers;

mod access;
mod alerts;
mod attestations;
mod audit;
mod bounds;
mod browser;
mod cli;
mod client_api;
mod console;
mod deployers;
mod edges;
mod interop;
mod issuer;
mod journeys;
mod limits;
mod lineage;
mod messages;
mod oci;
mod oci_clients;
mod openapi;
mod ops;
mod publishing;
mod readme;
mod replicas;
mod resumable;
mod roundtrip;
mod signing;
mod startup;
mod store;
mod stream;
mod tlog;
mod tlog_proofs;
pub mod transport;
mod trust;
mod uploads;
mod versions;
mod webhooks;
