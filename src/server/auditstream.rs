//! What reads the access log beside the requests, at start-up: its stream
//! to a SIEM (from `SIGNET_AUDIT_STREAM` and the collector's token file) and
//! the watch that raises alerts on extraction-like access.

use std::sync::Arc;

use crate::audit::{AuditStream, Destination, ExtractionRules, ExtractionWatch};
use crate::config::ServeConfig;
use crate::store::Store;

/// The access log's stream to a SIEM, running, when `SIGNET_AUDIT_STREAM`
/// names one.
pub fn audit_stream(
    cfg: &ServeConfig,
    store: &Arc<dyn Store>,
) -> anyhow::Result<Option<Arc<AuditStream>>> {
    let Some(raw) = &cfg.audit_stream else {
        return Ok(None);
    };
    let token = crate::config::secret(
        None,
        cfg.audit_stream_token_file.as_deref(),
        "SIGNET_AUDIT_STREAM_TOKEN",
    )?;
    let roots =
        match &cfg.audit_stream_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                anyhow::anyhow!("SIGNET_AUDIT_STREAM_CA_FILE {}: {e}", path.display())
            })?),
            None => None,
        };
    let destination = Destination::parse(raw, token, roots.as_deref())?;
    tracing::info!(destination = %destination.key(), "streaming the access log");
    let stream = Arc::new(AuditStream::new(
        store.clone(),
        store.clone(),
        destination,
        cfg.registry_name.clone(),
    )?);
    stream.spawn();
    Ok(Some(stream))
}

/// The watch on extraction-like access, running, unless every rule is off.
pub fn extraction_watch(cfg: &ServeConfig, store: &Arc<dyn Store>) -> Option<Arc<ExtractionWatch>> {
    let x = &cfg.extraction;
    let rules = ExtractionRules {
        principal: x.alert,
        by_role: x.roles.0.clone(),
        window: std::time::Duration::from_secs(x.window_secs),
    };
    if rules.is_off() {
        return None;
    }
    let watch = Arc::new(ExtractionWatch::new(
        store.clone(),
        store.clone(),
        store.clone(),
        rules,
    ));
    watch.spawn();
    Some(watch)
}
