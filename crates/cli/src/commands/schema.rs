//! `perstack schema`.

use std::io::Write;

use perstack_events::schema::{SchemaKind, json_schema};

use crate::cli::SchemaArg;
use crate::exit;

pub fn run(kind: SchemaArg) -> u8 {
    let kind = match kind {
        SchemaArg::Events => SchemaKind::Events,
        SchemaArg::EventsCompact => SchemaKind::CompactEvents,
        SchemaArg::Config => SchemaKind::Config,
        SchemaArg::Checkpoint => SchemaKind::Checkpoint,
    };
    let text = serde_json::to_string_pretty(&json_schema(kind)).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if crate::stdout_pipe::check(writeln!(out, "{text}")).is_err() {
        return exit::ERROR;
    }
    exit::OK
}
