//! Webhooks at start-up: the key their secrets are sealed with (from
//! `SIGNET_WEBHOOK_KEY_FILE`; else, with the embedded SQLite default, from
//! the data directory, generated there on first start; else none, and
//! webhooks are off), the delivery policy and client, and the dispatcher.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ServeConfig;
use crate::store::Store;
use crate::webhooks::deliver::Deliverer;
use crate::webhooks::guard::{Allow, Policy};
use crate::webhooks::seal::SealingKey;
use crate::webhooks::{Dispatcher, Hooks, Webhooks};

/// The key file the embedded default keeps in its data directory.
const EMBEDDED_KEY: &str = "webhook-key";

/// The webhooks' service, and its dispatcher (running) when webhooks are on. A key
/// file or an allow list that cannot be read stops start-up.
pub fn webhooks(
    cfg: &ServeConfig,
    store: &Arc<dyn Store>,
) -> anyhow::Result<(Arc<Webhooks>, Option<Arc<Dispatcher>>)> {
    let w = &cfg.webhooks;
    let allow = Allow::parse(&w.allow).map_err(|e| anyhow::anyhow!(e))?;
    let key = match &w.key_file {
        Some(path) => Some(read(path)?),
        None if cfg.storage.database_url()?.starts_with("sqlite:") => {
            let path = cfg.storage.data_dir.join(EMBEDDED_KEY);
            if !path.exists() {
                std::fs::create_dir_all(&cfg.storage.data_dir)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.storage.data_dir.display()))?;
                super::logkey::write_private(&path, SealingKey::generate()?.as_bytes())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "webhook key generated");
            }
            Some(read(&path)?)
        }
        None => None,
    };
    let Some(key) = key else {
        let why = "no SIGNET_WEBHOOK_KEY_FILE: with PostgreSQL the key webhook secrets are \
                   sealed with comes from a file (`openssl rand -base64 32`), never from the \
                   database";
        return Ok((
            Arc::new(Webhooks::new(store.clone(), Err(why.into()))),
            None,
        ));
    };
    let roots = match &w.ca_file {
        Some(path) => vec![
            std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("SIGNET_WEBHOOK_CA_FILE {}: {e}", path.display()))?,
        ],
        None => Vec::new(),
    };
    let policy = Policy::new(allow);
    let deliverer = Deliverer::new(policy.clone(), Duration::from_secs(w.timeout_secs), &roots)
        .map_err(|e| anyhow::anyhow!("SIGNET_WEBHOOK_CA_FILE: {e}"))?;
    let source = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("https://{}", cfg.registry_name));
    let hooks = Arc::new(Hooks {
        key: Arc::new(key),
        policy,
        deliverer: Arc::new(deliverer),
        source,
    });
    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        store.clone(),
        hooks.clone(),
        Duration::from_secs(w.retry_secs),
        Duration::from_secs(w.timeout_secs),
    ));
    dispatcher.spawn();
    Ok((
        Arc::new(Webhooks::new(store.clone(), Ok(hooks))),
        Some(dispatcher),
    ))
}

fn read(path: &Path) -> anyhow::Result<SealingKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("SIGNET_WEBHOOK_KEY_FILE {}: {e}", path.display()))?;
    SealingKey::parse(&text)
        .map_err(|e| anyhow::anyhow!("SIGNET_WEBHOOK_KEY_FILE {}: {e}", path.display()))
}
