//! OpenAI Chat Completions: `POST {base}/chat/completions` with `stream: true`, also used
//! for Azure OpenAI and OpenAI-compatible servers.

mod decode;
mod encode;

pub(crate) use decode::OpenAiDecoder;
pub(crate) use encode::encode;
