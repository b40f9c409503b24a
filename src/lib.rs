//! Signet: a signed model registry.
//!
//! Layers, top to bottom: `http` (routing, extractors, handlers) → domain modules
//! (`registry`, `auth`, `signing`, `blobs`) → `store` (all SQL). Each layer calls
//! only the ones below it.

pub mod audit;
pub mod auth;
pub mod blobs;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod names;
pub mod registry;
pub mod server;
pub mod signing;
pub mod store;
