//! Messages and their parts, serialized exactly as Perstack's `Message` / `MessagePart`.
//!
//! Each message kind admits only the part kinds Perstack allows in it, so an invalid
//! combination (a tool result inside a user message, say) cannot be represented.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::id::new_id;

mod tool_message;

/// Plain text (`textPart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextPart {
    /// Part id.
    pub id: String,
    /// The text.
    pub text: String,
}

impl TextPart {
    /// A text part with a fresh id.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            id: new_id(),
            text: text.into(),
        }
    }
}

/// An image or file referenced by URL (`imageUrlPart` / `fileUrlPart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UrlPart {
    /// Part id.
    pub id: String,
    /// Where the content lives (an absolute URL: Perstack's schema checks it is one).
    #[schemars(url)]
    pub url: String,
    /// MIME type of the content.
    pub mime_type: String,
}

/// An image with base64 data inline (`imageInlinePart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageInlinePart {
    /// Part id.
    pub id: String,
    /// Base64-encoded bytes.
    pub encoded_data: String,
    /// MIME type, e.g. `image/png`.
    pub mime_type: String,
}

/// A file with base64 data inline (`fileInlinePart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileInlinePart {
    /// Part id.
    pub id: String,
    /// Base64-encoded bytes.
    pub encoded_data: String,
    /// MIME type, e.g. `application/pdf`.
    pub mime_type: String,
}

/// Binary content held in memory (`imageBinaryPart` / `fileBinaryPart`, Perstack-internal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BinaryPart {
    /// Part id.
    pub id: String,
    /// The data as Perstack stores it (a string).
    pub data: String,
    /// MIME type of the content.
    pub mime_type: String,
}

/// A tool call the model made (`toolCallPart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallPart {
    /// Part id.
    pub id: String,
    /// Provider-assigned id that the result must echo.
    pub tool_call_id: String,
    /// Tool name as the model saw it.
    pub tool_name: String,
    /// Arguments as the model produced them (normally an object).
    pub args: Value,
}

/// Reasoning the model produced (`thinkingPart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingPart {
    /// Part id.
    pub id: String,
    /// Reasoning text (empty for redacted thinking).
    pub thinking: String,
    /// Provider signature that must be sent back unchanged (Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// What a tool result may contain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ToolResultContent {
    /// Text output.
    #[serde(rename = "textPart")]
    Text(TextPart),
    /// An image.
    #[serde(rename = "imageInlinePart")]
    Image(ImageInlinePart),
    /// A file.
    #[serde(rename = "fileInlinePart")]
    File(FileInlinePart),
}

/// The result of one tool call (`toolResultPart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultPart {
    /// Part id.
    pub id: String,
    /// The id of the call this answers.
    pub tool_call_id: String,
    /// The tool that was called.
    pub tool_name: String,
    /// Result content.
    pub contents: Vec<ToolResultContent>,
    /// True when the tool reported an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

/// Parts allowed in an instruction message (text only, tagged like every part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum InstructionPart {
    /// Text.
    #[serde(rename = "textPart")]
    Text(TextPart),
}

/// Parts allowed in a user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum UserPart {
    /// Text.
    #[serde(rename = "textPart")]
    Text(TextPart),
    /// Image by URL.
    #[serde(rename = "imageUrlPart")]
    ImageUrl(UrlPart),
    /// Inline image.
    #[serde(rename = "imageInlinePart")]
    ImageInline(ImageInlinePart),
    /// Binary image.
    #[serde(rename = "imageBinaryPart")]
    ImageBinary(BinaryPart),
    /// File by URL.
    #[serde(rename = "fileUrlPart")]
    FileUrl(UrlPart),
    /// Inline file.
    #[serde(rename = "fileInlinePart")]
    FileInline(FileInlinePart),
    /// Binary file.
    #[serde(rename = "fileBinaryPart")]
    FileBinary(BinaryPart),
}

/// Parts allowed in an expert (model) message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ExpertPart {
    /// Text.
    #[serde(rename = "textPart")]
    Text(TextPart),
    /// A tool call.
    #[serde(rename = "toolCallPart")]
    ToolCall(ToolCallPart),
    /// Reasoning.
    #[serde(rename = "thinkingPart")]
    Thinking(ThinkingPart),
}

/// Any message part (Perstack's `MessagePart`), as carried by a [`crate::ToolResult`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum MessagePart {
    /// Text.
    #[serde(rename = "textPart")]
    Text(TextPart),
    /// Image by URL.
    #[serde(rename = "imageUrlPart")]
    ImageUrl(UrlPart),
    /// Inline image.
    #[serde(rename = "imageInlinePart")]
    ImageInline(ImageInlinePart),
    /// Binary image.
    #[serde(rename = "imageBinaryPart")]
    ImageBinary(BinaryPart),
    /// File by URL.
    #[serde(rename = "fileUrlPart")]
    FileUrl(UrlPart),
    /// Inline file.
    #[serde(rename = "fileInlinePart")]
    FileInline(FileInlinePart),
    /// Binary file.
    #[serde(rename = "fileBinaryPart")]
    FileBinary(BinaryPart),
    /// A tool call.
    #[serde(rename = "toolCallPart")]
    ToolCall(ToolCallPart),
    /// A tool result.
    #[serde(rename = "toolResultPart")]
    ToolResult(ToolResultPart),
    /// Reasoning.
    #[serde(rename = "thinkingPart")]
    Thinking(ThinkingPart),
}

/// One message of a conversation (Perstack's `Message`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Message {
    /// The system prompt.
    #[serde(rename_all = "camelCase")]
    InstructionMessage {
        /// Message id.
        id: String,
        /// Text of the instruction.
        contents: Vec<InstructionPart>,
        /// Prompt-caching hint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache: Option<bool>,
    },
    /// Input from the user or the application.
    #[serde(rename_all = "camelCase")]
    UserMessage {
        /// Message id.
        id: String,
        /// Content.
        contents: Vec<UserPart>,
        /// Prompt-caching hint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache: Option<bool>,
    },
    /// What the model generated.
    #[serde(rename_all = "camelCase")]
    ExpertMessage {
        /// Message id.
        id: String,
        /// Content.
        contents: Vec<ExpertPart>,
        /// Prompt-caching hint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache: Option<bool>,
    },
    /// Tool results returned to the model.
    #[serde(rename_all = "camelCase")]
    ToolMessage {
        /// Message id.
        id: String,
        /// Results, each written tagged as a `toolResultPart` (older untagged files still read).
        #[serde(with = "tool_message")]
        #[schemars(with = "Vec<tool_message::ToolMessagePart<'static>>")]
        contents: Vec<ToolResultPart>,
        /// Prompt-caching hint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache: Option<bool>,
    },
}

impl Message {
    /// An instruction message with one text part.
    pub fn instruction(text: impl Into<String>) -> Self {
        Message::InstructionMessage {
            id: new_id(),
            contents: vec![InstructionPart::Text(TextPart::new(text))],
            cache: None,
        }
    }

    /// A user message with one text part.
    pub fn user_text(text: impl Into<String>) -> Self {
        Message::UserMessage {
            id: new_id(),
            contents: vec![UserPart::Text(TextPart::new(text))],
            cache: None,
        }
    }

    /// An expert message made of the given parts.
    pub fn expert(contents: Vec<ExpertPart>) -> Self {
        Message::ExpertMessage {
            id: new_id(),
            contents,
            cache: None,
        }
    }

    /// A tool message made of the given results.
    pub fn tool(contents: Vec<ToolResultPart>) -> Self {
        Message::ToolMessage {
            id: new_id(),
            contents,
            cache: None,
        }
    }

    /// The message id.
    pub fn id(&self) -> &str {
        match self {
            Message::InstructionMessage { id, .. }
            | Message::UserMessage { id, .. }
            | Message::ExpertMessage { id, .. }
            | Message::ToolMessage { id, .. } => id,
        }
    }

    /// All text parts of the message joined by newlines (tool results included).
    pub fn text(&self) -> String {
        let mut texts: Vec<&str> = Vec::new();
        match self {
            Message::InstructionMessage { contents, .. } => {
                for InstructionPart::Text(t) in contents {
                    texts.push(&t.text);
                }
            }
            Message::UserMessage { contents, .. } => {
                for part in contents {
                    if let UserPart::Text(t) = part {
                        texts.push(&t.text);
                    }
                }
            }
            Message::ExpertMessage { contents, .. } => {
                for part in contents {
                    if let ExpertPart::Text(t) = part {
                        texts.push(&t.text);
                    }
                }
            }
            Message::ToolMessage { contents, .. } => {
                for result in contents {
                    for c in &result.contents {
                        if let ToolResultContent::Text(t) = c {
                            texts.push(&t.text);
                        }
                    }
                }
            }
        }
        texts.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn expert_message_matches_perstack_wire_shape() {
        let msg = Message::ExpertMessage {
            id: "m1".into(),
            contents: vec![
                ExpertPart::Thinking(ThinkingPart {
                    id: "p0".into(),
                    thinking: "hmm".into(),
                    signature: Some("sig".into()),
                }),
                ExpertPart::ToolCall(ToolCallPart {
                    id: "p1".into(),
                    tool_call_id: "call_1".into(),
                    tool_name: "readTextFile".into(),
                    args: json!({"path": "a.txt"}),
                }),
            ],
            cache: None,
        };
        let v = serde_json::to_value(&msg).unwrap();
        assert_eq!(
            v,
            json!({
                "type": "expertMessage",
                "id": "m1",
                "contents": [
                    {"type": "thinkingPart", "id": "p0", "thinking": "hmm", "signature": "sig"},
                    {"type": "toolCallPart", "id": "p1", "toolCallId": "call_1",
                     "toolName": "readTextFile", "args": {"path": "a.txt"}}
                ]
            })
        );
        let back: Message = serde_json::from_value(v).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn tool_result_part_rejected_in_user_message() {
        let v = json!({
            "type": "userMessage", "id": "m",
            "contents": [{"type": "toolResultPart", "id": "p", "toolCallId": "c",
                          "toolName": "t", "contents": []}]
        });
        assert!(serde_json::from_value::<Message>(v).is_err());
    }

    #[test]
    fn text_joins_text_parts() {
        let m = Message::tool(vec![ToolResultPart {
            id: "r".into(),
            tool_call_id: "c".into(),
            tool_name: "t".into(),
            contents: vec![
                ToolResultContent::Text(TextPart::new("a")),
                ToolResultContent::Text(TextPart::new("b")),
            ],
            is_error: Some(false),
        }]);
        assert_eq!(m.text(), "a\nb");
    }
}
