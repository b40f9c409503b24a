//! The access log's streams to a SIEM: how far each destination has got,
//! and which replica streams to it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;

#[async_trait]
pub trait AuditStreams: Send + Sync {
    /// Takes or renews the lease on `destination`'s stream for `owner` until
    /// `until` (the row is made at position 0 on first use): the position it
    /// has got to, or none while another owner's lease runs.
    async fn lease_stream(
        &self,
        destination: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<i64>>;
    /// Records that `destination` has got to `position`, if `owner` still
    /// holds its lease; whether it did.
    async fn advance_stream(&self, destination: &str, owner: &str, position: i64) -> Result<bool>;
    /// Gives up `owner`'s lease, so another replica takes over at once.
    async fn release_stream(&self, destination: &str, owner: &str) -> Result<()>;
}
