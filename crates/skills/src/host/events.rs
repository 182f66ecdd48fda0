//! Where skill lifecycle events go: any callback, or a channel of [`RuntimeEvent`]s.

use perstack_events::{RuntimeEvent, RuntimeEventPayload};
use tokio::sync::mpsc::UnboundedSender;

/// Receives skill lifecycle events (`skillStarting`, `skillConnected`, `skillStderr`,
/// `skillDisconnected`) as they happen. Called from async tasks: keep it quick.
pub trait SkillEventSink: Send + Sync {
    /// One event.
    fn emit(&self, payload: RuntimeEventPayload);
}

impl<F> SkillEventSink for F
where
    F: Fn(RuntimeEventPayload) + Send + Sync,
{
    fn emit(&self, payload: RuntimeEventPayload) {
        self(payload);
    }
}

/// Sends each event, stamped with a job and run id, on an unbounded channel.
#[derive(Debug, Clone)]
pub struct ChannelSink {
    tx: UnboundedSender<RuntimeEvent>,
    job_id: String,
    run_id: String,
}

impl ChannelSink {
    /// A sink for the run `run_id` of job `job_id`.
    pub fn new(tx: UnboundedSender<RuntimeEvent>, job_id: &str, run_id: &str) -> Self {
        ChannelSink {
            tx,
            job_id: job_id.to_string(),
            run_id: run_id.to_string(),
        }
    }
}

impl SkillEventSink for ChannelSink {
    fn emit(&self, payload: RuntimeEventPayload) {
        // A closed receiver means nobody listens any more; events are then dropped.
        let _ = self
            .tx
            .send(RuntimeEvent::new(&self.job_id, &self.run_id, payload));
    }
}

/// A sink that drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl SkillEventSink for NoEvents {
    fn emit(&self, _payload: RuntimeEventPayload) {}
}
