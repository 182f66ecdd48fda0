//! [`Storage`]'s event-log side: appending events in their compact stored form and reading
//! them back as emitted.

use perstack_events::Event;

use crate::StorageError;
use crate::compact;
use crate::event_log::EventLog;
use crate::store::{Storage, lock};

/// What [`Storage::append_event`] gives back.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// The event, unchanged.
    pub event: Event,
    /// Bytes appended to `events.jsonl` (for benchmarks and tests of storage growth).
    pub bytes: u64,
}

impl Storage {
    /// Appends `event` to `log` (the log of the event's run) as one chained line. A
    /// conversation the event carries (`startGeneration.messages`, a checkpoint's `messages`)
    /// is stored as a reference to the prefix of the run's message log it repeats, plus the
    /// messages after that prefix, so a step costs bytes in proportion to its new content.
    /// Only message-log lines an earlier line of this event log carries inline are
    /// referenced; the others are stored inline once (in the `tail`), so the event log alone
    /// holds every step and its single `fdatasync` (`durable`, for events that carry a
    /// checkpoint) is the step's only durable sync. Store the checkpoints an event carries
    /// first ([`Storage::store_checkpoint`]).
    pub fn append_event(
        &self,
        log: &mut EventLog,
        event: Event,
        durable: bool,
    ) -> Result<Appended, StorageError> {
        self.append(log, event, durable, None)
    }

    /// [`Storage::append_event`] for a run event whose conversations are all `conversation`
    /// and left out of it (its `messages` slots empty; stored and read back whole): a caller
    /// that keeps the conversation apart lends it instead of copying it into each slot.
    /// Not for `startRun`, whose initial checkpoint holds less than the conversation.
    pub fn append_event_lent(
        &self,
        log: &mut EventLog,
        event: Event,
        durable: bool,
        conversation: &[perstack_core::Message],
    ) -> Result<Appended, StorageError> {
        self.append(log, event, durable, Some(conversation))
    }

    fn append(
        &self,
        log: &mut EventLog,
        mut event: Event,
        durable: bool,
        lent: Option<&[perstack_core::Message]>,
    ) -> Result<Appended, StorageError> {
        let job_id = event.job_id().to_string();
        let run_id = event.run_id().to_string();
        let mlog = self.message_log(&job_id, &run_id);
        // Lines of the message log this line carries inline (made referable once written).
        let mut carried = None;
        let value = compact::encode(&mut event, lent, |slot_run, messages| {
            // Only the run's own message log: its lines are carried by this event log.
            let mlog = mlog.as_ref().filter(|_| slot_run == run_id)?;
            let mlog = lock(mlog);
            // Reference only lines an earlier line of this log (or an earlier slot of this
            // line) holds inline, so the event log alone rebuilds every referenced line and
            // one fdatasync of it makes a step durable; the rest goes inline, once.
            let on_disk = mlog.common_prefix(messages);
            if on_disk == 0 {
                return None; // nothing of it is a line of the log: stored as the array
            }
            let known = carried.unwrap_or(mlog.carried).max(mlog.carried);
            carried = Some(known.max(on_disk));
            Some(mlog.prefix_ref(on_disk.min(known)))
        })?;
        let bytes = log.append_value(value, durable)?;
        if let (Some(mlog), Some(carried)) = (&mlog, carried) {
            let mut mlog = lock(mlog);
            mlog.carried = mlog.carried.max(carried);
        }
        crate::store::lock(&self.heads).insert((job_id, run_id), log.head());
        Ok(Appended { event, bytes })
    }

    /// Every event of a job as emitted, runs merged in emission order: by timestamp, each
    /// run's own order kept, ties going to the run that started first.
    pub fn read_job_events(&self, job_id: &str) -> Result<Vec<Event>, StorageError> {
        let mut runs: Vec<std::vec::IntoIter<Event>> = Vec::new();
        let mut heads: Vec<Option<Event>> = Vec::new();
        let mut per_run = Vec::new();
        for run in self.list_runs(job_id)? {
            let events = self.read_run_events(job_id, &run)?;
            if !events.is_empty() {
                per_run.push(events);
            }
        }
        per_run.sort_by_key(|events| events.first().map(timestamp));
        for events in per_run {
            let mut it = events.into_iter();
            heads.push(it.next());
            runs.push(it);
        }
        let mut out = Vec::new();
        loop {
            let next = heads
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.as_ref().map(|e| (timestamp(e), i)))
                .min();
            let Some((_, i)) = next else {
                return Ok(out);
            };
            let (Some(head), Some(run)) = (heads.get_mut(i), runs.get_mut(i)) else {
                return Ok(out);
            };
            if let Some(e) = std::mem::replace(head, run.next()) {
                out.push(e);
            }
        }
    }
}

/// An event's emission time (0 for an unknown event without one).
fn timestamp(e: &Event) -> u64 {
    match e {
        Event::Run(r) => r.timestamp,
        Event::Runtime(r) => r.timestamp,
        Event::Unknown(v) => v
            .get("timestamp")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0),
    }
}
