//! Where events go: the CLI prints them, an embedding program handles them.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use perstack_events::Event;

/// Receives every event of a run, in order, after its checkpoint is stored.
///
/// Called on the runtime's tasks: keep it quick (write a line, push to a channel).
pub trait EventListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> EventListener for F {
    fn on_event(&self, event: &Event) {
        self(event)
    }
}

/// A listener that keeps every event in memory (tests, small embeddings).
#[derive(Default)]
pub struct CollectingListener {
    events: Mutex<Vec<Event>>,
}

impl CollectingListener {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events received so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for CollectingListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("CollectingListener")
            .field("events", &n)
            .finish()
    }
}

impl EventListener for CollectingListener {
    fn on_event(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
    }
}
