//! Anthropic Messages API: `POST {base}/messages` with `stream: true`.

mod decode;
mod encode;

pub(crate) use decode::AnthropicDecoder;
pub(crate) use encode::encode;
