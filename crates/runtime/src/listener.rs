//! Where events go: the CLI prints them, an embedding program handles them.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use perstack_events::{CompactEvent, Event};

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

/// Receives every event of a run in the compact form (`--events compact`,
/// [`crate::Runtime::with_compact_listener`]): each message once, when it joins the
/// conversation; checkpoints and steps by reference. `perstack_events::Rebuilder` turns the
/// events back into Perstack's.
///
/// Called on the runtime's tasks: keep it quick.
pub trait CompactEventListener: Send + Sync {
    /// One event.
    fn on_compact_event(&self, event: &CompactEvent);
}

impl<F: Fn(&CompactEvent) + Send + Sync> CompactEventListener for F {
    fn on_compact_event(&self, event: &CompactEvent) {
        self(event)
    }
}

/// Where a run's events go, in the form the listener takes.
#[derive(Clone)]
pub(crate) enum Sink {
    /// Perstack's events.
    Full(Arc<dyn EventListener>),
    /// The compact stream.
    Compact(Arc<dyn CompactEventListener>),
}

impl Sink {
    /// An event that is the same in both forms (runtime events, unknown ones).
    pub(crate) fn plain(&self, event: &Event) {
        match self {
            Sink::Full(l) => l.on_event(event),
            Sink::Compact(l) => {
                let compact = match event {
                    Event::Runtime(e) => CompactEvent::Runtime(e.clone()),
                    Event::Unknown(v) => CompactEvent::Unknown(v.clone()),
                    // Run events go through the emitter, which knows their conversation;
                    // one arriving here is passed on whole rather than dropped.
                    Event::Run(e) => {
                        CompactEvent::Unknown(serde_json::to_value(e).unwrap_or_default())
                    }
                };
                l.on_compact_event(&compact);
            }
        }
    }
}
