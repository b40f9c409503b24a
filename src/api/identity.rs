//! Who the caller is, and what it may use.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::kinds::{BindingScope, Role};
use crate::names::{Description, PrincipalName};

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

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Who the token acts as. Anyone may mint for themselves; only admins for others.
    pub principal: PrincipalName,
    #[serde(default)]
    pub description: Description,
    /// Lifetime in days (default and maximum are configured; 90 and 365 by default).
    #[serde(default, deserialize_with = "crate::names::integral_opt")]
    pub expires_in_days: Option<u32>,
}

/// A token without its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub principal: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The token it was minted with: it expires no later than that one and is
    /// revoked with it.
    pub parent_id: Option<Uuid>,
    /// When it was revoked because an ancestor was: that ancestor.
    pub revoked_with: Option<Uuid>,
}

/// A new token, with its secret: shown here once, never again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub id: Uuid,
    /// The secret (`sgn_…`). Only its hash is stored.
    pub token: String,
    pub principal: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoles {
    /// Replaces the principal's roles in the namespace. In a namespace: maintainer,
    /// publisher, approver, deployer, auditor, reader; in `*`: admin, auditor.
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub namespace: BindingScope,
    pub principal: PrincipalName,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<Member>,
    pub next_cursor: Option<String>,
}
