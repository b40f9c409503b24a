//! When downloads look like extraction: one principal pulling more distinct
//! versions, or more bytes, across models within a window than its rule
//! allows. Only an alert (the access log, webhooks, a metric): the download
//! quotas are what refuse.

use super::quota::DownloadQuota;

/// A principal's rule: more than `bytes`, or more than `versions` distinct
/// versions, within the window raises an alert (`None`: no limit of that
/// kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractionAlert {
    pub bytes: Option<u64>,
    pub versions: Option<u64>,
}

impl ExtractionAlert {
    /// `BYTES/VERSIONS` (e.g. `50GiB/20`; bytes may carry a KiB, MiB, GiB or
    /// TiB suffix; either side may be `off`), or `off`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let q = DownloadQuota::parse(s).map_err(|_| {
            format!("an extraction alert is BYTES/VERSIONS (e.g. 50GiB/20) or off, not {s:?}")
        })?;
        Ok(Self {
            bytes: q.bytes,
            versions: q.files,
        })
    }

    pub fn is_off(&self) -> bool {
        self.bytes.is_none() && self.versions.is_none()
    }

    /// The larger allowance of each kind (`None`, no limit, is the largest).
    pub fn most_generous(self, other: Self) -> Self {
        let max = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| a.max(b));
        Self {
            bytes: max(self.bytes, other.bytes),
            versions: max(self.versions, other.versions),
        }
    }

    /// Whether `bytes` and `versions` within the window go past it.
    pub fn exceeded_by(&self, bytes: u64, versions: u64) -> bool {
        self.bytes.is_some_and(|b| bytes > b) || self.versions.is_some_and(|v| versions > v)
    }
}

impl std::str::FromStr for ExtractionAlert {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_judge() {
        let r = ExtractionAlert::parse("1KiB/3").unwrap();
        assert_eq!((r.bytes, r.versions), (Some(1024), Some(3)));
        assert!(!r.exceeded_by(1024, 3));
        assert!(r.exceeded_by(1025, 0) && r.exceeded_by(0, 4));
        let versions_only = ExtractionAlert::parse("off/3").unwrap();
        assert!(!versions_only.exceeded_by(u64::MAX, 3));
        assert!(ExtractionAlert::parse("off").unwrap().is_off());
        let e = ExtractionAlert::parse("lots").unwrap_err();
        assert!(e.contains("BYTES/VERSIONS"), "{e}");
        let g = r.most_generous(versions_only);
        assert_eq!((g.bytes, g.versions), (None, Some(3)));
    }
}
