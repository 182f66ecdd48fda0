//! The compact form of events in stored lines (stored-line format 2): a conversation array
//! that repeats a prefix of a run's message log is stored as a reference to that prefix plus
//! the messages after it. See `docs/storage.md`, "Event log".

use perstack_core::{Checkpoint, Message};
use perstack_events::{Event, RunEvent, RunEventPayload};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::StorageError;
use crate::message_log::{LogCache, MessageRef};

/// The stored-line format this version writes. Lines without `v` are format 1 (the event
/// stored whole); format 2 may hold message references at the [`Slot`]s.
pub(crate) const FORMAT: u32 = 2;

/// A place in a run event that holds a whole conversation. The only places a format-2 line
/// may hold a reference; everything else is stored as emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// `startGeneration.messages`.
    Messages,
    /// `checkpoint.messages` (continue, stop and complete events).
    Checkpoint,
    /// `continueToNextStep.nextCheckpoint.messages`.
    NextCheckpoint,
    /// `startRun.initialCheckpoint.messages`.
    InitialCheckpoint,
}

impl Slot {
    const ALL: [Slot; 4] = [
        Slot::Messages,
        Slot::Checkpoint,
        Slot::NextCheckpoint,
        Slot::InitialCheckpoint,
    ];

    /// JSON pointer of the slot inside the event object.
    fn pointer(self) -> &'static str {
        match self {
            Slot::Messages => "/messages",
            Slot::Checkpoint => "/checkpoint/messages",
            Slot::NextCheckpoint => "/nextCheckpoint/messages",
            Slot::InitialCheckpoint => "/initialCheckpoint/messages",
        }
    }
}

/// A reference as stored in place of a conversation array.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredRef {
    /// Message log, relative to the job folder.
    pub(crate) log: String,
    /// Leading lines of it that the conversation starts with.
    pub(crate) count: usize,
    /// SHA-256 of those lines.
    pub(crate) sha256: String,
    /// The messages after them (not carried by an earlier line of the event log when the
    /// event was written; the event log's own copy of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tail: Vec<Message>,
}

fn checkpoint_slot(slot: Slot, cp: &mut Checkpoint) -> (Slot, &str, &mut Vec<Message>) {
    let Checkpoint {
        run_id, messages, ..
    } = cp;
    (slot, run_id, messages)
}

/// The conversation arrays of a run event, each with the run whose message log may hold it.
pub(crate) fn slots_mut(event: &mut RunEvent) -> Vec<(Slot, &str, &mut Vec<Message>)> {
    let RunEvent {
        run_id, payload, ..
    } = event;
    match payload {
        RunEventPayload::StartGeneration { messages } => {
            vec![(Slot::Messages, run_id.as_str(), messages)]
        }
        RunEventPayload::StartRun {
            initial_checkpoint, ..
        } => vec![checkpoint_slot(Slot::InitialCheckpoint, initial_checkpoint)],
        RunEventPayload::ContinueToNextStep {
            checkpoint,
            next_checkpoint,
            ..
        } => vec![
            checkpoint_slot(Slot::Checkpoint, checkpoint),
            checkpoint_slot(Slot::NextCheckpoint, next_checkpoint),
        ],
        RunEventPayload::StopRunByInteractiveTool { checkpoint, .. }
        | RunEventPayload::StopRunByDelegate { checkpoint, .. }
        | RunEventPayload::StopRunByExceededMaxSteps { checkpoint, .. }
        | RunEventPayload::StopRunByError { checkpoint, .. }
        | RunEventPayload::CompleteRun { checkpoint, .. }
        | RunEventPayload::StopRunByApproval { checkpoint, .. }
        | RunEventPayload::StopRunByBudget { checkpoint, .. }
        | RunEventPayload::StopRunBySignal { checkpoint, .. } => {
            vec![checkpoint_slot(Slot::Checkpoint, checkpoint)]
        }
        RunEventPayload::Retry { .. }
        | RunEventPayload::CallTools { .. }
        | RunEventPayload::CallInteractiveTool { .. }
        | RunEventPayload::CallDelegate { .. }
        | RunEventPayload::ResolveToolResults { .. }
        | RunEventPayload::AttemptCompletion { .. }
        | RunEventPayload::FinishToolCall { .. }
        | RunEventPayload::ResumeToolCalls { .. }
        | RunEventPayload::FinishAllToolCalls { .. }
        | RunEventPayload::StartStreamingReasoning {}
        | RunEventPayload::StreamReasoning { .. }
        | RunEventPayload::CompleteStreamingReasoning { .. }
        | RunEventPayload::StartStreamingRunResult {}
        | RunEventPayload::StreamRunResult { .. }
        | RunEventPayload::CompleteStreamingRunResult { .. } => Vec::new(),
    }
}

fn serialize<T: Serialize>(what: &'static str, v: &T) -> Result<Value, StorageError> {
    serde_json::to_value(v).map_err(|source| StorageError::Serialize { what, source })
}

/// Encodes `event` in format 2. `refer(run, messages)` returns the reference to store for
/// `messages`: a prefix of the run's message log, the rest going inline after it (a count
/// of 0 still names the log whose lines the inline messages are); None stores the array.
/// The conversations are lent out of `event` (not copied) and put back before returning;
/// with `lent`, every conversation slot holds `lent` instead (the event's are left empty).
pub(crate) fn encode(
    event: &mut Event,
    lent: Option<&[Message]>,
    mut refer: impl FnMut(&str, &[Message]) -> Option<MessageRef>,
) -> Result<Value, StorageError> {
    let Event::Run(run) = event else {
        return serialize("event", event);
    };
    let mut taken: Vec<(Slot, String, Vec<Message>)> = slots_mut(run)
        .into_iter()
        .map(|(slot, run_id, msgs)| (slot, run_id.to_string(), std::mem::take(msgs)))
        .collect();
    let encoded = (|| {
        let mut value = serialize("event", &*run)?;
        for (slot, run_id, own) in &taken {
            let Some(place) = value.pointer_mut(slot.pointer()) else {
                continue;
            };
            // A lent conversation stands for every slot (left empty by the caller).
            let msgs = lent.unwrap_or(own);
            *place = match refer(run_id, msgs) {
                Some(r) => {
                    let stored = StoredRef {
                        log: r.rel,
                        count: r.count,
                        sha256: r.sha256,
                        tail: Vec::new(),
                    };
                    let mut v = serialize("message reference", &stored)?;
                    let tail = msgs.get(r.count..).unwrap_or_default();
                    if !tail.is_empty()
                        && let Value::Object(map) = &mut v
                    {
                        map.insert("tail".into(), serialize("messages", &tail)?);
                    }
                    v
                }
                None => serialize("messages", &msgs)?,
            };
        }
        Ok(value)
    })();
    for ((_, _, place), (_, _, msgs)) in slots_mut(run).into_iter().zip(taken.iter_mut()) {
        *place = std::mem::take(msgs);
    }
    encoded
}

/// Takes the references out of a format-2 event object, leaving empty arrays in their place.
pub(crate) fn take_refs(value: &mut Value) -> Result<Vec<(Slot, StoredRef)>, String> {
    let mut out = Vec::new();
    for slot in Slot::ALL {
        if let Some(place) = value.pointer_mut(slot.pointer())
            && place.is_object()
        {
            let raw = std::mem::replace(place, Value::Array(Vec::new()));
            let r: StoredRef = serde_json::from_value(raw)
                .map_err(|e| format!("malformed message reference at {}: {e}", slot.pointer()))?;
            out.push((slot, r));
        }
    }
    Ok(out)
}

/// Checks that every reference of a stored event resolves (exists, long enough, same hash).
pub(crate) fn check_refs(mut value: Value, cache: &mut LogCache) -> Result<(), String> {
    for (_, r) in take_refs(&mut value)? {
        cache.resolve(&r.log, r.count, &r.sha256)?;
    }
    Ok(())
}

/// Decodes a stored event of `format` back into the event as it was emitted.
pub(crate) fn decode(mut value: Value, format: u32, cache: &mut LogCache) -> Result<Event, String> {
    let refs = match format {
        1 => Vec::new(),
        FORMAT => take_refs(&mut value)?,
        other => return Err(format!("unknown stored-line format {other}")),
    };
    let mut event = Event::from_value(value).map_err(|e| format!("not a valid event: {e}"))?;
    if refs.is_empty() {
        return Ok(event);
    }
    let Event::Run(run) = &mut event else {
        return Err("message reference in an event that holds no conversation".into());
    };
    let mut slots = slots_mut(run);
    for (slot, r) in refs {
        let prefix = cache.resolve(&r.log, r.count, &r.sha256)?;
        let Some((_, _, place)) = slots.iter_mut().find(|(s, ..)| *s == slot) else {
            return Err(format!(
                "message reference at {}, which this event type does not have",
                slot.pointer()
            ));
        };
        let mut msgs = Vec::with_capacity(prefix.len() + r.tail.len());
        msgs.extend_from_slice(prefix);
        msgs.extend(r.tail);
        **place = msgs;
    }
    Ok(event)
}
