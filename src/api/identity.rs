//! Who the caller is, and what it may use.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub namespace: String,
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    pub principal: String,
    pub token_id: Uuid,
    pub roles: Vec<RoleView>,
    pub usage: UsageView,
}

/// The caller's limits and what it has used of them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UsageView {
    /// The request rate it gets (its most generous role's); absent when unlimited.
    pub rate: Option<RateView>,
    pub downloads: DownloadsView,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RateView {
    pub per_minute: u32,
    pub burst: u32,
}

/// Downloads in the rolling day (the current hour and the 23 before it),
/// shared by every replica.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DownloadsView {
    pub window_seconds: u64,
    pub bytes: u64,
    pub files: u64,
    /// The day's allowance in bytes; absent when unlimited.
    pub quota_bytes: Option<u64>,
    /// The day's allowance in files; absent when unlimited.
    pub quota_files: Option<u64>,
}
