//! The SQL of every aggregate, one file each, written once for both databases:
//! each backend (`postgres.rs`, `sqlite.rs`) compiles this folder as a module of
//! its own, where `Db`, `Store` and the backend's own pieces are the names it
//! brings in below.

use super::*;

mod aliases;
mod attestations;
#[macro_use]
mod audit;
mod bindings;
mod blobs;
mod epochs;
mod keys;
mod lineage;
mod models;
mod namespaces;
mod publishers;
mod streams;
mod tlog;
mod tokens;
mod uploads;
mod usage;
mod webhooks;
