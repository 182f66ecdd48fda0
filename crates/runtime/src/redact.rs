//! Redaction of every event before any sink sees it: the checkpoint it carries (and with it
//! the stored messages), the hash-chained event log, the listener (stdout of the CLI).
//!
//! The rule is "redact at every sink": the live run keeps the conversation as the model and
//! the tools produced it (tool calls run with the arguments the model gave, so a file the
//! Expert was asked to write holds what it wrote), while everything that leaves the loop is
//! redacted. A continued or resumed run starts from the stored, redacted conversation.

use perstack_core::Message;
use perstack_events::Event;
use perstack_sandbox::Redactor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::RuntimeError;

/// `value` with every secret replaced, in every string (keys included); `what` names it in
/// an error. A value without secrets is returned as is.
fn redact_value<T: Serialize + DeserializeOwned>(
    redactor: &Redactor,
    value: T,
    what: &str,
) -> Result<T, RuntimeError> {
    let failed = |e: serde_json::Error| RuntimeError::Redaction {
        event_type: what.to_string(),
        reason: e.to_string(),
    };
    let mut json = serde_json::to_value(&value).map_err(failed)?;
    if !redactor.redact_json(&mut json) {
        return Ok(value);
    }
    serde_json::from_value(json).map_err(failed)
}

/// `event` with every secret the redactor knows (held values and secret shapes) replaced,
/// in every string of the event, keys included. An event without secrets is returned as is.
/// The emitter hands it run events without their conversation (redacted once per message,
/// [`redact_message`]), so this costs what the event adds, not the run's history.
pub(crate) fn redact_event(redactor: &Redactor, event: Event) -> Result<Event, RuntimeError> {
    let what = event.type_name().to_string();
    redact_value(redactor, event, &what)
}

/// One message of the conversation, redacted as [`redact_event`] would inside an event.
pub(crate) fn redact_message(
    redactor: &Redactor,
    message: Message,
) -> Result<Message, RuntimeError> {
    redact_value(redactor, message, "message")
}

#[cfg(test)]
mod tests {
    use super::*;
    use perstack_events::{RuntimeEvent, RuntimeEventPayload};
    use pretty_assertions::assert_eq;

    fn stderr_event(message: &str) -> Event {
        Event::from(RuntimeEvent::new(
            "job",
            "run",
            RuntimeEventPayload::SkillStderr {
                skill_name: "s".into(),
                message: message.into(),
            },
        ))
    }

    #[test]
    fn held_value_and_shape_are_replaced() {
        let r = Redactor::new().with_secret("OPENAI_API_KEY", "held-key-0123456789");
        let event =
            stderr_event("key held-key-0123456789 and ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        let out = redact_event(&r, event).unwrap();
        let Event::Runtime(e) = out else {
            panic!("not a runtime event")
        };
        let RuntimeEventPayload::SkillStderr { message, .. } = e.payload else {
            panic!("not skillStderr")
        };
        assert_eq!(
            message,
            "key [REDACTED:OPENAI_API_KEY] and [REDACTED:github-token]"
        );
    }

    #[test]
    fn event_without_secrets_is_unchanged() {
        let r = Redactor::new().with_secret("K", "held-key-0123456789");
        let event = stderr_event("nothing to hide");
        assert_eq!(redact_event(&r, event.clone()).unwrap(), event);
    }
}
