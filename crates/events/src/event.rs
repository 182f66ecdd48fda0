//! [`Event`]: any line of the stream.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::run::{RunEvent, RunEventPayload};
use crate::runtime::{RuntimeEvent, RuntimeEventPayload};

/// One event of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The Expert's state machine or streaming output.
    Run(Box<RunEvent>),
    /// Infrastructure.
    Runtime(Box<RuntimeEvent>),
    /// A `type` this version does not know (written by a newer runtime); kept verbatim so
    /// readers can skip it without losing it.
    Unknown(Value),
}

impl Event {
    /// The event's `type`.
    pub fn type_name(&self) -> &str {
        match self {
            Event::Run(e) => e.payload.type_name(),
            Event::Runtime(e) => e.payload.type_name(),
            Event::Unknown(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// The job id.
    pub fn job_id(&self) -> &str {
        match self {
            Event::Run(e) => &e.job_id,
            Event::Runtime(e) => &e.job_id,
            Event::Unknown(v) => v.get("jobId").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        match self {
            Event::Run(e) => &e.run_id,
            Event::Runtime(e) => &e.run_id,
            Event::Unknown(v) => v.get("runId").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// Parses one event from a JSON value, dispatching on `type`.
    pub fn from_value(value: Value) -> Result<Event, serde_json::Error> {
        let ty = value.get("type").and_then(Value::as_str).unwrap_or("");
        if RunEventPayload::TYPES.contains(&ty) {
            serde_json::from_value(value).map(|e| Event::Run(Box::new(e)))
        } else if RuntimeEventPayload::TYPES.contains(&ty) {
            serde_json::from_value(value).map(|e| Event::Runtime(Box::new(e)))
        } else if ty.is_empty() {
            Err(serde::de::Error::custom("missing string field `type`"))
        } else {
            Ok(Event::Unknown(value))
        }
    }
}

impl From<RunEvent> for Event {
    fn from(e: RunEvent) -> Self {
        Event::Run(Box::new(e))
    }
}

impl From<RuntimeEvent> for Event {
    fn from(e: RuntimeEvent) -> Self {
        Event::Runtime(Box::new(e))
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Event::Run(e) => e.serialize(s),
            Event::Runtime(e) => e.serialize(s),
            Event::Unknown(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Event::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// Schema-only mirror of [`Event`]: a line is a run event or a runtime event.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // only its JsonSchema impl is used
pub(crate) enum EventSchema {
    /// A run event.
    Run(RunEvent),
    /// A runtime event.
    Runtime(RuntimeEvent),
    /// The last line of `perstack run` (ours, never stored).
    AuditAnchor(crate::anchor::AuditAnchor),
}
