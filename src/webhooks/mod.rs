//! Events out: webhooks a namespace's maintainers subscribe, delivered as
//! CloudEvents signed as the Standard Webhooks specification gives them.
//!
//! Dependency rule: a domain service beside `registry`. Its pure parts:
//! where a delivery may go (`guard`: the SSRF policy and the resolver that
//! enforces it at every attempt), what is delivered (`event`: the event
//! types, what an access log event means to subscribers, the CloudEvents
//! envelope), how it is signed (`signature`), how its secret is kept
//! (`seal`) and one attempt at it (`deliver`). The subscriptions as
//! maintainers manage them (`service`) and their delivery from the access
//! log, the outbox (`dispatch`), read and write through the store's
//! `Subscriptions` and `AuditLog`.

pub mod deliver;
pub mod dispatch;
pub mod event;
pub mod guard;
pub mod seal;
pub mod service;
pub mod signature;

/// Subscriptions, deliveries and attempts as recorded.
pub use crate::store::{AttemptRecord, DeliveryRecord, WebhookRecord};
pub use dispatch::Dispatcher;
pub use service::{DeliveryWithAttempts, Hooks, Webhooks};
