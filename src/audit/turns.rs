//! What reads the log beside the requests (the stream to a SIEM, the watch
//! on extraction-like access) runs in turns under a lease: again at once
//! while more waits, after a pause once it has caught up, with a growing
//! pause after failures, until the service lets go of it; then it gives its
//! lease up, so another replica goes on at once.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::error::{Error, Result};

/// Between turns once caught up.
const IDLE: Duration = Duration::from_millis(500);
/// The longest pause after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs `turn` (whether more waits) until the last holder of `it` is gone,
/// then `release`. `failed` says what a failed turn was.
pub(super) fn spawn_turns<T, F>(
    it: &Arc<T>,
    turn: F,
    failed: impl Fn(&T, &Error) + Send + 'static,
    release: impl FnOnce() -> BoxFuture<'static, ()> + Send + 'static,
) where
    T: Send + Sync + 'static,
    F: for<'a> Fn(&'a T) -> BoxFuture<'a, Result<bool>> + Send + 'static,
{
    let weak: Weak<T> = Arc::downgrade(it);
    tokio::spawn(async move {
        let mut backoff = IDLE;
        loop {
            let Some(it) = weak.upgrade() else {
                release().await;
                return;
            };
            let wait = match turn(&it).await {
                Ok(true) => continue,
                Ok(false) => {
                    backoff = IDLE;
                    IDLE
                }
                Err(e) => {
                    failed(&it, &e);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            };
            drop(it);
            tokio::time::sleep(wait).await;
        }
    });
}
