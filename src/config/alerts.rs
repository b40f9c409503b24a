//! Alerts on extraction-like access: the rule every principal gets, larger
//! ones for some roles, and the window downloads are counted over.

use clap::Args;

use crate::limits::{ByRole, ExtractionAlert};

#[derive(Clone, Args)]
pub struct ExtractionConfig {
    /// An alert when one principal downloads more than BYTES, or more than
    /// VERSIONS distinct versions, across models within the window:
    /// `BYTES/VERSIONS` (e.g. `50GiB/20`; either side `off`), or `off`.
    #[arg(
        id = "extraction_alert",
        long = "extraction-alert",
        env = "SIGNET_EXTRACTION_ALERT",
        default_value = "50GiB/20"
    )]
    pub alert: ExtractionAlert,

    /// Larger rules for some roles: `role=BYTES/VERSIONS,…` (a principal gets
    /// the most generous of its roles', kind by kind).
    #[arg(
        id = "extraction_alert_roles",
        long = "extraction-alert-roles",
        env = "SIGNET_EXTRACTION_ALERT_ROLES",
        default_value = ""
    )]
    pub roles: ByRole<ExtractionAlert>,

    /// The window downloads are counted over, in seconds.
    #[arg(id = "extraction_alert_window_secs", long = "extraction-alert-window-secs",
        env = "SIGNET_EXTRACTION_ALERT_WINDOW_SECS", default_value_t = 3600,
        value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub window_secs: u64,
}

impl Default for ExtractionConfig {
    fn default() -> Self {
        Self {
            alert: ExtractionAlert::parse("50GiB/20").expect("the default rule parses"),
            roles: ByRole::default(),
            window_secs: 3600,
        }
    }
}
