//! Asking running executions to stop (SIGTERM/SIGINT): they stop at once, abandoning the
//! generation or tool calls in flight, and leave a resumable `stoppedBySignal` checkpoint.
//! The wall-clock limit (`max_duration`) uses the same path and stops with `stoppedByBudget`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Why a run is asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// A signal (its name, e.g. `SIGTERM`).
    Signal(String),
    /// The wall-clock limit ran out.
    WallClock(Duration),
}

/// A stop request shared by the caller and the runs it applies to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StopSignal {
    tx: Arc<watch::Sender<Option<StopCause>>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal::new()
    }
}

impl StopSignal {
    /// A signal that has not fired.
    pub fn new() -> Self {
        let (tx, _rx) = watch::channel(None);
        StopSignal { tx: Arc::new(tx) }
    }

    /// Fires the signal; `name` (e.g. `SIGTERM`) is reported in `stopRunBySignal`.
    pub fn stop(&self, name: impl Into<String>) {
        self.fire(StopCause::Signal(name.into()));
    }

    /// Fires with `cause` unless the signal already fired.
    pub(crate) fn fire(&self, cause: StopCause) {
        self.tx.send_if_modified(|current| {
            // The first reason wins.
            if current.is_none() {
                *current = Some(cause);
                true
            } else {
                false
            }
        });
    }

    /// The signal's name once it fired (`maxDuration` for the wall-clock limit).
    pub fn fired(&self) -> Option<String> {
        self.tx.borrow().as_ref().map(|c| match c {
            StopCause::Signal(name) => name.clone(),
            StopCause::WallClock(_) => "maxDuration".to_string(),
        })
    }

    /// Resolves when the signal fires (at once if it already has).
    pub(crate) async fn wait(&self) -> StopCause {
        let mut rx = self.tx.subscribe();
        loop {
            if let Some(name) = rx.borrow_and_update().clone() {
                return name;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `self`; this cannot happen while we are borrowed.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_stop_wins_and_waiters_see_it() {
        let s = StopSignal::new();
        assert_eq!(s.fired(), None);
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move { s.wait().await })
        };
        s.stop("SIGTERM");
        s.stop("SIGINT");
        let sigterm = StopCause::Signal("SIGTERM".into());
        assert_eq!(waiter.await.unwrap(), sigterm);
        assert_eq!(s.wait().await, sigterm);
        assert_eq!(s.fired().as_deref(), Some("SIGTERM"));
    }
}
