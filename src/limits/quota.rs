//! Download quotas: how many bytes and files one principal may download in a
//! rolling day. Counted in the database, per hour, so every replica charges the
//! same counter: N replicas do not give N times the quota.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;

use crate::error::{Error, Result};
use crate::kinds::Role;
use crate::names::PrincipalName;
use crate::store::{RoleBinding, Usage, UsageCharge};

/// Hours in the rolling window: the current hour and the 23 before it.
const WINDOW_HOURS: i64 = 24;

/// A day's allowance; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DownloadQuota {
    pub bytes: Option<u64>,
    pub files: Option<u64>,
}

impl DownloadQuota {
    /// `BYTES/FILES` (e.g. `1TiB/100000`; bytes may carry a KiB, MiB, GiB or TiB
    /// suffix; either side may be `off`), or `off` for no quota.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if s == "off" {
            return Ok(Self::default());
        }
        let bad =
            || format!("a download quota is BYTES/FILES (e.g. 1TiB/100000) or off, not {s:?}");
        let (bytes, files) = s.split_once('/').ok_or_else(bad)?;
        let part = |p: &str, units: bool| -> std::result::Result<Option<u64>, String> {
            let p = p.trim();
            if p == "off" {
                return Ok(None);
            }
            let (digits, scale) = match units {
                true => [
                    ("KiB", 1u64 << 10),
                    ("MiB", 1 << 20),
                    ("GiB", 1 << 30),
                    ("TiB", 1 << 40),
                ]
                .into_iter()
                .find_map(|(u, k)| p.strip_suffix(u).map(|d| (d, k)))
                .unwrap_or((p, 1)),
                false => (p, 1),
            };
            digits
                .trim()
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(scale))
                .filter(|n| *n > 0 && *n <= i64::MAX as u64)
                .map(Some)
                .ok_or_else(bad)
        };
        Ok(Self {
            bytes: part(bytes, true)?,
            files: part(files, false)?,
        })
    }

    fn is_off(&self) -> bool {
        self.bytes.is_none() && self.files.is_none()
    }

    /// The larger allowance of each kind (`None`, unlimited, is the largest).
    fn most_generous(self, other: Self) -> Self {
        let max = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| a.max(b));
        Self {
            bytes: max(self.bytes, other.bytes),
            files: max(self.files, other.files),
        }
    }
}

/// The configured quotas: one for every principal, or more for some roles.
#[derive(Debug, Clone, Default)]
pub struct QuotaConfig {
    pub principal: DownloadQuota,
    pub by_role: HashMap<Role, DownloadQuota>,
}

impl std::str::FromStr for DownloadQuota {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::parse(s)
    }
}

/// What a principal downloaded in the rolling day, against its quota.
#[derive(Debug, Clone, Copy)]
pub struct DownloadUsage {
    pub window_secs: u64,
    pub bytes: u64,
    pub files: u64,
    pub quota: DownloadQuota,
}

/// The quota service: charges downloads, reports usage.
pub struct DownloadQuotas {
    store: Arc<dyn Usage>,
    config: QuotaConfig,
}

/// The hour of now, and the last hour before the rolling window.
fn window(now_secs: i64) -> (i64, i64) {
    let hour = now_secs.div_euclid(3600);
    (hour, hour - WINDOW_HOURS)
}

impl DownloadQuotas {
    pub fn new(store: Arc<dyn Usage>, config: QuotaConfig) -> Self {
        Self { store, config }
    }

    /// The quota a principal gets: its roles' most generous, or the default.
    pub fn quota_of(&self, bindings: &[RoleBinding]) -> DownloadQuota {
        bindings
            .iter()
            .filter_map(|b| self.config.by_role.get(&b.role).copied())
            .reduce(DownloadQuota::most_generous)
            .unwrap_or(self.config.principal)
    }

    /// Counts a download of `bytes` (and of one file, when `whole_file` says the
    /// answer starts at the file's first byte; later ranges of a resumed or
    /// parallel pull count only their bytes) against the principal's quota, or
    /// refuses it with `QuotaExceeded`, counting nothing.
    pub async fn charge(
        &self,
        principal: &PrincipalName,
        bindings: &[RoleBinding],
        bytes: u64,
        whole_file: bool,
    ) -> Result<()> {
        let quota = self.quota_of(bindings);
        if quota.is_off() {
            return Ok(());
        }
        let now = Utc::now().timestamp();
        let (hour, since) = window(now);
        let limit = |q: Option<u64>| q.map_or(i64::MAX, |n| n as i64);
        let charge = UsageCharge {
            hour,
            since,
            bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
            files: i64::from(whole_file),
            max_bytes: limit(quota.bytes),
            max_files: limit(quota.files),
        };
        if self.store.charge_download(principal, &charge).await? {
            return Ok(());
        }
        // Refused: usage falls when the oldest hour leaves the window.
        let used = self.store.download_usage(principal, since).await?;
        let retry_after = used
            .oldest_hour
            .map_or(WINDOW_HOURS * 3600, |h| (h + WINDOW_HOURS) * 3600 - now)
            .max(1) as u64;
        let alone = quota.bytes.is_some_and(|q| bytes > q);
        Err(Error::QuotaExceeded {
            retry_after,
            message: if alone {
                "this download alone is larger than the daily download quota".into()
            } else {
                "the daily download quota is used up".into()
            },
        })
    }

    /// What the principal downloaded in the rolling day, and its quota.
    pub async fn usage(
        &self,
        principal: &PrincipalName,
        bindings: &[RoleBinding],
    ) -> Result<DownloadUsage> {
        let (_, since) = window(Utc::now().timestamp());
        let used = self.store.download_usage(principal, since).await?;
        Ok(DownloadUsage {
            window_secs: (WINDOW_HOURS * 3600) as u64,
            bytes: used.bytes.max(0) as u64,
            files: used.files.max(0) as u64,
            quota: self.quota_of(bindings),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse() {
        let q = DownloadQuota::parse("1TiB/100000").unwrap();
        assert_eq!((q.bytes, q.files), (Some(1 << 40), Some(100_000)));
        let q = DownloadQuota::parse("512MiB/off").unwrap();
        assert_eq!((q.bytes, q.files), (Some(512 << 20), None));
        assert!(DownloadQuota::parse("off").unwrap().is_off());
        for bad in [
            "",
            "1TiB",
            "0/10",
            "10/0",
            "x/1",
            "1PiB/1",
            "-1/1",
            "99999999TiB/1",
        ] {
            assert!(DownloadQuota::parse(bad).is_err(), "{bad}");
        }
        let roles = "deployer=4TiB/off, admin=off"
            .parse::<crate::limits::ByRole<DownloadQuota>>()
            .unwrap()
            .0;
        assert_eq!(roles[&Role::Deployer].files, None);
        assert!(
            "wizard=1/1"
                .parse::<crate::limits::ByRole<DownloadQuota>>()
                .is_err()
        );
    }

    #[test]
    fn the_most_generous_role_wins_per_kind() {
        let a = DownloadQuota::parse("1GiB/10").unwrap();
        let b = DownloadQuota::parse("2GiB/5").unwrap();
        let m = a.most_generous(b);
        assert_eq!((m.bytes, m.files), (Some(2 << 30), Some(10)));
        let off = DownloadQuota::parse("off/3").unwrap();
        assert_eq!(a.most_generous(off).bytes, None);
    }

    #[test]
    fn the_window_is_the_current_hour_and_the_23_before() {
        let (hour, since) = window(3600 * 100 + 59);
        assert_eq!((hour, since), (100, 76));
        assert_eq!((since + 1..=hour).count(), 24);
    }
}
