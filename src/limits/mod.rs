//! Limits against bulk extraction of models and floods: request rates (how
//! fast one principal, or one client address without a valid token, may call
//! the API) and download quotas (how much one principal may download a day).
//!
//! Dependency rule: a domain module beside `auth`, which asks the rates after
//! (or instead of) authenticating, and `trust`, which charges downloads to the
//! quotas. Rates live in memory, per replica (a request rate is a per-process
//! defence); quotas live in the database, shared by every replica.

mod extraction;
mod floor;
mod quota;

pub use extraction::ExtractionAlert;
pub use floor::{Floored, TransferFloor, floored};
pub use quota::{DownloadQuota, DownloadQuotas, DownloadUsage, QuotaConfig};

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::{Error, Result};
use crate::kinds::Role;
use crate::names::PrincipalName;
use crate::store::RoleBinding;

/// A rate: requests per minute, and how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    fn quota(self) -> Quota {
        Quota::per_minute(self.per_minute).allow_burst(self.burst)
    }

    /// `N/min` or `N/min:B` (burst B, default N / 6, at least 1).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("a rate is N/min or N/min:BURST, not {s:?}");
        let (rate, burst) = match s.trim().split_once(':') {
            Some((r, b)) => (r, Some(b)),
            None => (s.trim(), None),
        };
        let n: u32 = rate
            .strip_suffix("/min")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(bad)?;
        let per_minute = NonZeroU32::new(n).ok_or_else(bad)?;
        let burst = match burst {
            Some(b) => b
                .trim()
                .parse()
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(bad)?,
            None => NonZeroU32::new((n / 6).max(1)).expect("at least 1"),
        };
        Ok(Self { per_minute, burst })
    }
}

/// The configured rates: one for each principal (or more for some roles), one
/// for each client address whose requests carry no valid token. `None` turns a
/// limit off.
#[derive(Debug, Clone, Default)]
pub struct RateConfig {
    pub principal: Option<Rate>,
    pub by_role: HashMap<Role, Rate>,
    pub address: Option<Rate>,
}

/// A rate as the configuration gives it: a rate, or `off` (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSetting(pub Option<Rate>);

impl std::str::FromStr for RateSetting {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "off" => Ok(Self(None)),
            rate => Rate::parse(rate).map(|r| Self(Some(r))),
        }
    }
}

/// A setting given per role (`role=VALUE,…`), as the configuration gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByRole<T>(pub HashMap<Role, T>);

impl<T> Default for ByRole<T> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl std::str::FromStr for ByRole<Rate> {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        parse_by_role(s, Rate::parse).map(Self)
    }
}

impl std::str::FromStr for ByRole<ExtractionAlert> {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        parse_by_role(s, ExtractionAlert::parse).map(Self)
    }
}

impl std::str::FromStr for ByRole<DownloadQuota> {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        parse_by_role(s, DownloadQuota::parse).map(Self)
    }
}

/// `role=VALUE,…`: a setting given per role, each value read by `parse`.
fn parse_by_role<T>(
    s: &str,
    parse: impl Fn(&str) -> std::result::Result<T, String>,
) -> std::result::Result<HashMap<Role, T>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (role, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("expected role=value, not {pair:?}"))?;
            let role = Role::parse(role.trim()).map_err(|e| e.0)?;
            Ok((role, parse(value)?))
        })
        .collect()
}

/// The limiters of one process.
pub struct RateLimits {
    config: RateConfig,
    /// One keyed limiter per distinct rate, keyed by principal.
    principals: HashMap<Rate, DefaultKeyedRateLimiter<PrincipalName>>,
    addresses: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(config: RateConfig) -> Self {
        let mut principals = HashMap::new();
        for rate in config.principal.iter().chain(config.by_role.values()) {
            principals
                .entry(*rate)
                .or_insert_with(|| DefaultKeyedRateLimiter::keyed(rate.quota()));
        }
        let addresses = config
            .address
            .map(|r| DefaultKeyedRateLimiter::keyed(r.quota()));
        Self {
            config,
            principals,
            addresses,
            clock: DefaultClock::default(),
        }
    }

    /// The rate a principal gets: the most generous of its roles' rates, or the
    /// default.
    pub fn rate_of(&self, bindings: &[RoleBinding]) -> Option<Rate> {
        bindings
            .iter()
            .filter_map(|b| self.config.by_role.get(&b.role))
            .max_by_key(|r| (r.per_minute, r.burst))
            .copied()
            .or(self.config.principal)
    }

    /// Counts a request by `principal`; `RateLimited` once it goes faster than
    /// its rate. Keyed by principal, not token: minting more tokens buys no speed.
    pub fn check_principal(
        &self,
        principal: &PrincipalName,
        bindings: &[RoleBinding],
    ) -> Result<()> {
        let Some(rate) = self.rate_of(bindings) else {
            return Ok(());
        };
        let limiter = &self.principals[&rate];
        limiter
            .check_key(principal)
            .map_err(|not_until| self.limited(not_until.wait_time_from(self.clock.now())))
    }

    /// Counts a request without a valid token from `addr`.
    pub fn check_address(&self, addr: IpAddr) -> Result<()> {
        let Some(limiter) = &self.addresses else {
            return Ok(());
        };
        limiter
            .check_key(&addr)
            .map_err(|not_until| self.limited(not_until.wait_time_from(self.clock.now())))
    }

    fn limited(&self, wait: Duration) -> Error {
        Error::RateLimited {
            retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    }

    /// Forgets keys idle long enough to be back at full burst (bounds memory).
    pub fn forget_idle(&self) {
        for l in self.principals.values() {
            l.retain_recent();
        }
        if let Some(l) = &self.addresses {
            l.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        let r = Rate::parse("600/min").unwrap();
        assert_eq!((r.per_minute.get(), r.burst.get()), (600, 100));
        let r = Rate::parse("6/min:3").unwrap();
        assert_eq!((r.per_minute.get(), r.burst.get()), (6, 3));
        for bad in ["", "0/min", "10/s", "x/min", "5/min:0"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        let roles = "deployer=60/min, admin=120/min:20"
            .parse::<ByRole<Rate>>()
            .unwrap()
            .0;
        assert_eq!(roles[&Role::Admin].burst.get(), 20);
        assert!("wizard=1/min".parse::<ByRole<Rate>>().is_err());
    }

    #[test]
    fn a_principal_past_its_burst_waits_and_others_do_not() {
        let limits = RateLimits::new(RateConfig {
            principal: Some(Rate::parse("6/min:2").unwrap()),
            ..Default::default()
        });
        let alice = PrincipalName::parse("alice").unwrap();
        let bob = PrincipalName::parse("bob").unwrap();
        assert!(limits.check_principal(&alice, &[]).is_ok());
        assert!(limits.check_principal(&alice, &[]).is_ok());
        match limits.check_principal(&alice, &[]) {
            Err(Error::RateLimited { retry_after }) => assert!((1..=10).contains(&retry_after)),
            other => panic!("{other:?}"),
        }
        assert!(limits.check_principal(&bob, &[]).is_ok());
    }
}
