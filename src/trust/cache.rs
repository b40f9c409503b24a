//! What a process keeps of trust material between requests: the trusted keys,
//! namespaces' policies and which versions are quarantined, each as of a trust
//! epoch.
//!
//! Every change of trust bumps the epoch in the store, in the change's own
//! transaction, and every request reads the epoch with the version's signatures
//! (`Keys::signatures_at`, or with the whole version: `Models::get_version_entry`,
//! in the same statement). Material is kept with the epoch that was read before
//! it was loaded, so it reflects at least every change up to that epoch; a
//! request at epoch `e` uses material kept at `e` or later, and loads afresh
//! when the cache is older. A change on any replica therefore takes effect on
//! every replica's next request, with nothing to notify.
//!
//! A quarantine verdict depends on the version's lineage, which is fixed when
//! the version is created, and on the quarantines in force, which change only
//! with the epoch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::policy::NamespacePolicy;
use crate::names::Namespace;
use crate::signing::keys::{HeldChecks, TrustedKey};

/// Most checks of signatures that held kept (32 bytes each); past it the
/// least used are dropped.
const HELD_CHECKS: usize = 16_384;

/// Most quarantine verdicts kept at one epoch; past it they are dropped and
/// gathered again, so memory stays bounded on registries of any size.
const MAX_VERDICTS: usize = 100_000;

pub(super) struct TrustCache {
    kept: Mutex<Kept>,
    /// Checks of signatures that held: pure arithmetic, true at any epoch.
    checks: Checks,
}

impl Default for TrustCache {
    fn default() -> Self {
        Self {
            kept: Mutex::default(),
            checks: Checks(quick_cache::sync::Cache::new(HELD_CHECKS)),
        }
    }
}

struct Checks(quick_cache::sync::Cache<[u8; 32], ()>);

impl HeldChecks for Checks {
    fn held(&self, check: &[u8; 32]) -> bool {
        self.0.get(check).is_some()
    }

    fn hold(&self, check: [u8; 32]) {
        self.0.insert(check, ());
    }
}

#[derive(Default)]
struct Kept {
    /// The epoch read before anything below was loaded.
    epoch: i64,
    keys: Option<Arc<[TrustedKey]>>,
    policies: HashMap<Namespace, NamespacePolicy>,
    quarantined: HashMap<Uuid, bool>,
}

impl TrustCache {
    /// Where signature checks that held are remembered.
    pub(super) fn checks(&self) -> &dyn HeldChecks {
        &self.checks
    }

    /// What is kept, when it is valid at `epoch`.
    fn valid_at<T>(&self, epoch: i64, get: impl FnOnce(&Kept) -> Option<T>) -> Option<T> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.epoch >= epoch {
            get(&kept)
        } else {
            None
        }
    }

    /// Keeps what was loaded after reading `epoch`. Material of an older epoch
    /// than the kept one is not kept (it may predate a change); material of a
    /// newer one replaces everything kept.
    fn keep(&self, epoch: i64, put: impl FnOnce(&mut Kept)) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if epoch > kept.epoch {
            *kept = Kept {
                epoch,
                ..Kept::default()
            };
        }
        if epoch == kept.epoch {
            put(&mut kept);
        }
    }

    pub fn keys(&self, epoch: i64) -> Option<Arc<[TrustedKey]>> {
        self.valid_at(epoch, |k| k.keys.clone())
    }

    pub fn keep_keys(&self, epoch: i64, keys: Arc<[TrustedKey]>) {
        self.keep(epoch, |k| k.keys = Some(keys));
    }

    pub fn policy(&self, epoch: i64, ns: &Namespace) -> Option<NamespacePolicy> {
        self.valid_at(epoch, |k| k.policies.get(ns).cloned())
    }

    pub fn keep_policy(&self, epoch: i64, ns: &Namespace, policy: &NamespacePolicy) {
        self.keep(epoch, |k| {
            k.policies.insert(ns.clone(), policy.clone());
        });
    }

    pub fn quarantined(&self, epoch: i64, version: Uuid) -> Option<bool> {
        self.valid_at(epoch, |k| k.quarantined.get(&version).copied())
    }

    pub fn keep_quarantined(&self, epoch: i64, version: Uuid, quarantined: bool) {
        self.keep(epoch, |k| {
            if k.quarantined.len() >= MAX_VERDICTS {
                k.quarantined.clear();
            }
            k.quarantined.insert(version, quarantined);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> Namespace {
        Namespace::parse(s).unwrap()
    }

    #[test]
    fn material_serves_its_epoch_and_earlier_ones_never_later_ones() {
        let c = TrustCache::default();
        let v = Uuid::new_v4();
        c.keep_quarantined(5, v, true);
        assert_eq!(c.quarantined(5, v), Some(true));
        assert_eq!(c.quarantined(4, v), Some(true), "newer than asked is fine");
        assert_eq!(c.quarantined(6, v), None, "a change since: load again");
    }

    #[test]
    fn a_newer_epoch_drops_everything_kept_and_an_older_one_keeps_nothing() {
        let c = TrustCache::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let policy = NamespacePolicy::from_stored(serde_json::json!({})).unwrap();
        c.keep_quarantined(5, a, true);
        c.keep_policy(5, &ns("fraud"), &policy);
        c.keep_quarantined(7, b, false);
        assert_eq!(c.quarantined(7, a), None);
        assert_eq!(c.policy(7, &ns("fraud")), None);
        assert_eq!(c.quarantined(7, b), Some(false));
        // Loaded by a request that read epoch 6 before the change to 7: it may
        // predate that change, so it is not kept.
        c.keep_quarantined(6, a, false);
        assert_eq!(c.quarantined(6, a), None);
        assert_eq!(c.quarantined(7, a), None);
    }

    #[test]
    fn verdicts_stay_bounded() {
        let c = TrustCache::default();
        for _ in 0..MAX_VERDICTS + 10 {
            c.keep_quarantined(1, Uuid::new_v4(), false);
        }
        assert!(c.kept.lock().unwrap().quarantined.len() <= MAX_VERDICTS);
    }
}
