//! `toolMessage.contents` on the wire: every entry tagged `"type": "toolResultPart"`, as
//! Perstack's `toolMessageSchema` requires (its runtime rejects a conversation without it).
//!
//! The Rust type stays `Vec<ToolResultPart>` (a tool message can hold nothing else); the tag
//! is added on write and checked on read. Entries without the tag, as perstack wrote them
//! before it was added, are still read, so old checkpoints and message logs resume; the next
//! write carries the tag.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ToolResultPart;

/// One entry of a tool message as written: a `toolResultPart`, tagged.
#[derive(Serialize, JsonSchema)]
#[serde(tag = "type")]
pub(super) enum ToolMessagePart<'a> {
    /// The result of one tool call.
    #[serde(rename = "toolResultPart")]
    ToolResult(&'a ToolResultPart),
}

/// The only tag a tool message entry may carry.
#[derive(Deserialize)]
enum ToolResultTag {
    #[serde(rename = "toolResultPart")]
    ToolResult,
}

/// One entry as read: the tag is checked when present and may be absent (older files).
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type", default)]
    tag: Option<ToolResultTag>,
    #[serde(flatten)]
    part: ToolResultPart,
}

/// Writes the parts, each tagged.
pub(super) fn serialize<S: Serializer>(
    parts: &[ToolResultPart],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(parts.iter().map(ToolMessagePart::ToolResult))
}

/// Reads the parts, tagged or (older files) untagged.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ToolResultPart>, D::Error> {
    let incoming = Vec::<Incoming>::deserialize(deserializer)?;
    Ok(incoming
        .into_iter()
        .map(|entry| match entry.tag {
            Some(ToolResultTag::ToolResult) | None => entry.part,
        })
        .collect())
}
