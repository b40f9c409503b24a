//! The minimum transfer rate of an upload body: a body that delivers fewer than
//! `min_rate × window` bytes in any window is aborted, so a client trickling
//! bytes cannot hold an upload (a connection, a multipart upload, a temporary
//! blob) open for good.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::error::Error;

/// The least an upload must keep up: `min_rate` bytes per second on average over
/// each `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferFloor {
    pub min_rate: u64,
    pub window: Duration,
}

impl TransferFloor {
    fn min_bytes(&self) -> u64 {
        self.min_rate.saturating_mul(self.window.as_secs().max(1))
    }
}

/// An upload body held to a floor (or to none). Errors of the body itself read
/// as an interrupted upload; falling below the floor is `UploadTooSlow`. After an
/// error it ends.
pub struct Floored<S> {
    inner: S,
    floor: Option<TransferFloor>,
    deadline: Pin<Box<Sleep>>,
    received: u64,
    ended: bool,
}

pub fn floored<S>(floor: Option<TransferFloor>, inner: S) -> Floored<S> {
    let window = floor.map_or(Duration::from_secs(3600), |f| f.window);
    Floored {
        inner,
        floor,
        deadline: Box::pin(tokio::time::sleep(window)),
        received: 0,
        ended: false,
    }
}

impl<S> Floored<S> {
    /// At the end of a window: an error when too little arrived in it, else a new
    /// window (whose timer is registered with `cx`).
    fn judge_window(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        let floor = self.floor?;
        while self.deadline.as_mut().poll(cx).is_ready() {
            if self.received < floor.min_bytes() {
                self.ended = true;
                return Some(Error::UploadTooSlow {
                    min_bytes: floor.min_bytes(),
                    window_secs: floor.window.as_secs().max(1),
                });
            }
            self.received = 0;
            let next = Instant::now() + floor.window;
            self.deadline.as_mut().reset(next);
        }
        None
    }
}

impl<S, E> Stream for Floored<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        let item = match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.received = this.received.saturating_add(chunk.len() as u64);
                Some(Ok(chunk))
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::info!(error = %e, "upload body ended early");
                this.ended = true;
                return Poll::Ready(Some(Err(Error::invalid("the upload was interrupted"))));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => None,
        };
        if let Some(e) = this.judge_window(cx) {
            return Poll::Ready(Some(Err(e)));
        }
        match item {
            Some(chunk) => Poll::Ready(Some(chunk)),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn floor() -> Option<TransferFloor> {
        Some(TransferFloor {
            min_rate: 100,
            window: Duration::from_secs(2),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_below_the_floor_is_aborted() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, String>>();
        tx.unbounded_send(Ok(Bytes::from(vec![0; 150]))).unwrap();
        let mut body = floored(floor(), rx);
        assert_eq!(body.next().await.unwrap().unwrap().len(), 150);
        // Nothing more arrives: the first window ends with 150 < 200 bytes.
        match body.next().await {
            Some(Err(Error::UploadTooSlow { min_bytes, .. })) => assert_eq!(min_bytes, 200),
            other => panic!("{other:?}"),
        }
        assert!(body.next().await.is_none());
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_up_is_not() {
        let chunks = (0..10).map(|_| Ok::<_, String>(Bytes::from(vec![0; 300])));
        let paced = futures::stream::iter(chunks).then(|c| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            c
        });
        let body = floored(floor(), Box::pin(paced));
        let got: Vec<_> = body.collect().await;
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(Result::is_ok));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_floor_a_slow_body_is_left_alone() {
        let paced = futures::stream::iter([Ok::<_, String>(Bytes::from_static(b"x"))]).then(
            |c| async move {
                tokio::time::sleep(Duration::from_secs(3600 * 5)).await;
                c
            },
        );
        let got: Vec<_> = floored(None, Box::pin(paced)).collect().await;
        assert_eq!(got.len(), 1);
    }
}
