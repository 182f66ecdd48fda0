//! Google Gemini: `POST {base}/models/{model}:streamGenerateContent?alt=sse`.

mod decode;
mod encode;

pub(crate) use decode::GeminiDecoder;
pub(crate) use encode::encode;
