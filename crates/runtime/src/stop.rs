//! Asking running executions to stop (SIGTERM/SIGINT): they stop at once, abandoning the
//! generation or tool calls in flight, and leave a resumable `stoppedBySignal` checkpoint.

use std::sync::Arc;

use tokio::sync::watch;

/// A stop request shared by the caller and the runs it applies to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StopSignal {
    tx: Arc<watch::Sender<Option<String>>>,
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
        let name = name.into();
        self.tx.send_if_modified(|current| {
            // The first reason wins.
            if current.is_none() {
                *current = Some(name);
                true
            } else {
                false
            }
        });
    }

    /// The signal's name once it fired.
    pub fn fired(&self) -> Option<String> {
        self.tx.borrow().clone()
    }

    /// Resolves when the signal fires (at once if it already has).
    pub(crate) async fn wait(&self) -> String {
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
        assert_eq!(waiter.await.unwrap(), "SIGTERM");
        assert_eq!(s.wait().await, "SIGTERM");
        assert_eq!(s.fired().as_deref(), Some("SIGTERM"));
    }
}
