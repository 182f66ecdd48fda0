//! The perstack event stream.
//!
//! Every state change of a run is one [`Event`]: a [`RunEvent`] (the Expert's state machine and
//! its streaming output, named and shaped as Perstack's `RunEvent`) or a [`RuntimeEvent`]
//! (infrastructure: runtime start, skill lifecycle). Events travel as JSON Lines: one object per
//! line, `type` in camelCase. [`JsonlWriter`] flushes after every line; [`JsonlReader`] reads a
//! log back and tolerates a torn last line (a crash mid-write). The [`compact`] stream says
//! each message once; [`CompactReader`] reads it and [`Rebuilder`] turns it back into events.

mod anchor;
pub mod compact;
mod error;
mod event;
mod jsonl;
mod run;
mod runtime;
pub mod schema;

pub use anchor::{AuditAnchor, AuditAnchorType};
pub use compact::{CompactEvent, Rebuilder};
pub use error::EventsError;
pub use event::Event;
pub use jsonl::{CompactReader, JsonlReader, JsonlWriter, ReadItem};
pub use run::{BudgetExceeded, RunEvent, RunEventMeta, RunEventPayload};
pub use runtime::{
    ConfinementSummary, InteractiveToolCallInfo, LayerStatus, ProviderEndpoint, ProxyAction,
    RuntimeEvent, RuntimeEventPayload, ServerInfo,
};

/// Version of the event wire format. Bumped on any incompatible change; additive changes
/// (a new event type, a new optional field) keep it.
pub const EVENT_SCHEMA_VERSION: &str = "1";
