//! [`Rebuilder`]: Perstack's full events from the compact stream.

use std::collections::HashMap;

use super::conversation::Conversation;
use super::types::CompactEvent;
use crate::EventsError;
use crate::event::Event;
use crate::run::RunEvent;

/// Turns compact lines back into the events of the full stream, in order. Keeps each run's
/// conversation, so feed it every line from the first.
#[derive(Debug, Default)]
pub struct Rebuilder {
    runs: HashMap<String, Conversation>,
}

impl Rebuilder {
    /// A rebuilder that has read nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The full event for the next compact line.
    pub fn rebuild(&mut self, event: CompactEvent) -> Result<Event, EventsError> {
        let run = match event {
            CompactEvent::Runtime(e) => return Ok(Event::Runtime(e)),
            CompactEvent::Unknown(v) => return Ok(Event::Unknown(v)),
            CompactEvent::Run(e) => *e,
        };
        let conversation = self.runs.entry(run.run_id.clone()).or_default();
        if let Some(update) = run.conversation {
            conversation.apply(update)?;
        }
        let payload = conversation.decode(run.payload)?;
        Ok(Event::from(RunEvent {
            id: run.id,
            timestamp: run.timestamp,
            job_id: run.job_id,
            run_id: run.run_id,
            expert_key: run.expert_key,
            step_number: run.step_number,
            payload,
        }))
    }

    /// The conversation of `run_id` as read so far.
    pub fn conversation(&self, run_id: &str) -> Option<&Conversation> {
        self.runs.get(run_id)
    }
}

/// Every full event of a compact stream, in order.
pub fn rebuild_events(
    events: impl IntoIterator<Item = CompactEvent>,
) -> Result<Vec<Event>, EventsError> {
    let mut rebuilder = Rebuilder::new();
    events.into_iter().map(|e| rebuilder.rebuild(e)).collect()
}
