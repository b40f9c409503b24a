//! Download usage: what each principal downloaded, per hour, for the download
//! quotas. A counter, not registry state: it is written without an audit event
//! (the download's own event records what was served).

use async_trait::async_trait;

use crate::error::Result;
use crate::names::PrincipalName;

/// A download to count against a quota, in the hour `hour` (hours since the Unix
/// epoch), allowed only while the principal's total over the hours after
/// `since` stays within `max_bytes` and `max_files`.
#[derive(Debug, Clone)]
pub struct UsageCharge {
    pub hour: i64,
    pub since: i64,
    pub bytes: i64,
    pub files: i64,
    pub max_bytes: i64,
    pub max_files: i64,
}

/// A principal's downloads over the hours after some hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageTotals {
    pub bytes: i64,
    pub files: i64,
    /// The earliest hour with downloads in the window.
    pub oldest_hour: Option<i64>,
}

#[async_trait]
pub trait Usage: Send + Sync {
    /// Counts the download when it fits the quota; returns false (counting
    /// nothing) when it does not. Atomic across replicas: concurrent charges of
    /// one principal cannot both fit where only one does.
    async fn charge_download(
        &self,
        principal: &PrincipalName,
        charge: &UsageCharge,
    ) -> Result<bool>;
    /// The principal's totals over the hours after `since`.
    async fn download_usage(&self, principal: &PrincipalName, since: i64) -> Result<UsageTotals>;
}
