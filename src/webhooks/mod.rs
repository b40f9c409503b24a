//! Events out: webhooks a namespace's maintainers subscribe, delivered as
//! CloudEvents signed as the Standard Webhooks specification gives them.
//!
//! Dependency rule: a leaf of pure parts the delivering service builds on:
//! where a delivery may go (`guard`: the SSRF policy and the resolver that
//! enforces it at every attempt), what is delivered (`event`: the event
//! types and the CloudEvents envelope), how it is signed (`signature`) and
//! one attempt at it (`deliver`).

pub mod deliver;
pub mod event;
pub mod guard;
pub mod signature;
