//! JSON Schemas of the wire formats, generated from the Rust types.

use perstack_core::schema::emitted_schema;
use serde_json::Value;

use crate::compact::types::CompactEventSchema;
use crate::event::EventSchema;

/// The wire formats that have a published schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// One line of the event stream.
    Events,
    /// One line of the compact event stream (`--events compact`).
    CompactEvents,
    /// `perstack.toml`.
    Config,
    /// A checkpoint file.
    Checkpoint,
}

impl SchemaKind {
    /// Every kind.
    pub const ALL: [SchemaKind; 4] = [
        SchemaKind::Events,
        SchemaKind::CompactEvents,
        SchemaKind::Config,
        SchemaKind::Checkpoint,
    ];

    /// Name used on the command line and as the file stem under `docs/schema/`.
    pub fn name(self) -> &'static str {
        match self {
            SchemaKind::Events => "events",
            SchemaKind::CompactEvents => "events-compact",
            SchemaKind::Config => "config",
            SchemaKind::Checkpoint => "checkpoint",
        }
    }
}

/// The JSON Schema of `kind`, pretty-printable.
pub fn json_schema(kind: SchemaKind) -> Value {
    let mut schema = match kind {
        SchemaKind::Events => emitted_schema::<EventSchema>(),
        SchemaKind::CompactEvents => emitted_schema::<CompactEventSchema>(),
        SchemaKind::Config => perstack_core::config::config_json_schema(),
        SchemaKind::Checkpoint => emitted_schema::<perstack_core::Checkpoint>(),
    };
    if let Some(obj) = schema.as_object_mut() {
        let title = match kind {
            SchemaKind::Events => "perstack event (one JSON Lines record)",
            SchemaKind::CompactEvents => "perstack compact event (one JSON Lines record)",
            SchemaKind::Config => "perstack.toml",
            SchemaKind::Checkpoint => "perstack checkpoint",
        };
        obj.insert("title".into(), Value::String(title.into()));
        if matches!(kind, SchemaKind::Events | SchemaKind::CompactEvents) {
            obj.insert(
                "x-event-schema-version".into(),
                Value::String(crate::EVENT_SCHEMA_VERSION.into()),
            );
        }
    }
    schema
}
