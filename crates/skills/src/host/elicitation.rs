//! Servers asking the user for input (`elicitation/create`): the application answers
//! through an [`ElicitationHandler`]; fields the answer leaves out get the schema's
//! defaults (SEP-1034). Without a handler the host declares no elicitation capability, so
//! servers do not ask, unless `HostOptions::elicitation_stops` is set: then an elicitation
//! stops the tool call for the application ([`ElicitationStops`]), which answers it when
//! it calls the tool again with a [`KnownAnswer`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use serde_json::{Map, Value};
use tokio::sync::oneshot;

/// The application's answer to one elicitation request.
#[derive(Debug, Clone, PartialEq)]
pub enum ElicitationAnswer {
    /// The user gave these fields.
    Accept(Map<String, Value>),
    /// The user said no.
    Decline,
    /// The user dismissed the request.
    Cancel,
}

/// Answers skills' elicitation requests.
pub trait ElicitationHandler: Send + Sync {
    /// Answers `request` (the request's params: `message`, `requestedSchema`, or `url`
    /// for a URL elicitation) from `skill`.
    fn elicit(
        &self,
        skill: &str,
        request: Value,
    ) -> Pin<Box<dyn Future<Output = ElicitationAnswer> + Send>>;
}

/// An answer the application already gave to one elicitation of a tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownAnswer {
    /// The request's `message`.
    pub message: String,
    /// The request's `requestedSchema`.
    pub requested_schema: Value,
    /// The answer (accepted fields still get the schema's defaults).
    pub answer: ElicitationAnswer,
}

impl KnownAnswer {
    fn answers(&self, request: &Value) -> bool {
        request.get("message").and_then(Value::as_str) == Some(self.message.as_str())
            && request.get("requestedSchema").unwrap_or(&Value::Null) == &self.requested_schema
    }
}

/// One tool call in flight on a session that stops for elicitations.
struct Slot {
    id: u64,
    known: Vec<KnownAnswer>,
    /// Tells the call which request stopped it.
    stop: Option<oneshot::Sender<Value>>,
    /// Resolves once the call has been abandoned (its request cancelled).
    abandoned: Option<oneshot::Receiver<()>>,
}

/// The elicitation handler of a session whose elicitations stop the tool call: a request
/// the call's known answers cover is answered at once, any other stops the call.
#[derive(Default)]
pub(crate) struct ElicitationStops {
    calls: Mutex<(u64, Vec<Slot>)>,
}

impl std::fmt::Debug for ElicitationStops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElicitationStops").finish_non_exhaustive()
    }
}

/// A registered call; unregisters on drop.
pub(crate) struct CallScope<'a> {
    stops: &'a ElicitationStops,
    id: u64,
    /// The request that stopped the call.
    pub stopped: oneshot::Receiver<Value>,
    /// Dropped with the scope, after the call was abandoned, so the server's request is
    /// answered `cancel` only once the tool call was cancelled.
    _abandoned: oneshot::Sender<()>,
}

impl Drop for CallScope<'_> {
    fn drop(&mut self) {
        let mut calls = self.stops.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.1.retain(|s| s.id != self.id);
    }
}

impl ElicitationStops {
    /// Registers a call answering `known` elicitations.
    pub fn register(&self, known: Vec<KnownAnswer>) -> CallScope<'_> {
        let (stop, stopped) = oneshot::channel();
        let (abandoned, abandoned_rx) = oneshot::channel();
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.0 += 1;
        let id = calls.0;
        calls.1.push(Slot {
            id,
            known,
            stop: Some(stop),
            abandoned: Some(abandoned_rx),
        });
        CallScope {
            stops: self,
            id,
            stopped,
            _abandoned: abandoned,
        }
    }

    /// The answer to `request`: a known one, or `cancel` once the call it belongs to is
    /// stopped and abandoned.
    pub fn elicit(
        &self,
        skill: &str,
        request: Value,
    ) -> Pin<Box<dyn Future<Output = ElicitationAnswer> + Send>> {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        // MCP does not say which call a request belongs to: with several calls of the
        // skill in flight it cannot be put to the application for one of them.
        let [slot] = calls.1.as_mut_slice() else {
            tracing::warn!(
                skill,
                in_flight = calls.1.len(),
                "elicitation outside a single tool call of the skill: answered cancel"
            );
            return Box::pin(async { ElicitationAnswer::Cancel });
        };
        if let Some(known) = slot.known.iter().find(|k| k.answers(&request)) {
            let answer = known.answer.clone();
            return Box::pin(async move { answer });
        }
        let abandoned = slot.abandoned.take();
        if let Some(stop) = slot.stop.take() {
            // The call may already be gone; then the request is cancelled below anyway.
            let _ = stop.send(request);
        }
        Box::pin(async move {
            if let Some(abandoned) = abandoned {
                let _ = abandoned.await;
            }
            ElicitationAnswer::Cancel
        })
    }
}

/// `content` with every property the schema gives a `default` for and `content` lacks.
pub fn with_defaults(mut content: Map<String, Value>, schema: &Value) -> Map<String, Value> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return content;
    };
    for (name, property) in properties {
        if let Some(default) = property.get("default")
            && !content.contains_key(name)
        {
            content.insert(name.clone(), default.clone());
        }
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn defaults_fill_only_missing_fields() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "default": "John Doe"},
                "age": {"type": "integer", "default": 30},
                "score": {"type": "number", "default": 95.5},
                "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"},
                "verified": {"type": "boolean", "default": true},
                "note": {"type": "string"}
            }
        });
        let given = json!({"age": 41}).as_object().cloned().unwrap();
        assert_eq!(
            Value::Object(with_defaults(given, &schema)),
            json!({"age": 41, "name": "John Doe", "score": 95.5, "status": "active", "verified": true})
        );
        let given = json!({"x": 1}).as_object().cloned().unwrap();
        assert_eq!(with_defaults(given.clone(), &json!({})), given);
    }
}
