//! The access log's stream to a SIEM at start-up, from `SIGNET_AUDIT_STREAM`
//! and the collector's token file.

use std::sync::Arc;

use crate::audit::{AuditStream, Destination};
use crate::config::ServeConfig;
use crate::store::Store;

/// The access log's stream to a SIEM, when `SIGNET_AUDIT_STREAM` names one.
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
    Ok(Some(Arc::new(AuditStream::new(
        store.clone(),
        store.clone(),
        destination,
        cfg.registry_name.clone(),
    )?)))
}
