//! One scripted turn in the OpenAI Responses API's streaming form (`POST /responses`, SSE
//! with `event:` names): text as a `message` item announced, its `output_text` deltas and the
//! finished item; each tool call as a finished `function_call` item; then
//! `response.completed` with usage.

use serde_json::{Value, json};

use crate::scripted_llm::Turn;

/// The `(event name, data)` pairs answering request `n` with `turn`.
pub(crate) fn events(turn: &Turn, n: usize) -> Vec<(&'static str, String)> {
    let id = format!("resp_scripted_{n}");
    let mut out = vec![(
        "response.created",
        json!({"type": "response.created", "response": {"id": id}}),
    )];
    if let Some(text) = &turn.text {
        let item_id = format!("msg_{n}");
        // Clients attach deltas to the item announced first.
        out.push((
            "response.output_item.added",
            json!({"type": "response.output_item.added", "output_index": 0, "item": {
                "type": "message", "id": item_id, "role": "assistant", "status": "in_progress",
                "content": []}}),
        ));
        let words: Vec<&str> = text.split_inclusive(' ').collect();
        for piece in words.chunks(3) {
            out.push((
                "response.output_text.delta",
                json!({"type": "response.output_text.delta", "item_id": item_id,
                       "output_index": 0, "content_index": 0, "delta": piece.concat()}),
            ));
        }
        out.push((
            "response.output_item.done",
            json!({"type": "response.output_item.done", "output_index": 0, "item": {
                "type": "message", "id": item_id, "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}}),
        ));
    }
    for (i, call) in turn.tool_calls.iter().enumerate() {
        out.push((
            "response.output_item.done",
            json!({"type": "response.output_item.done", "output_index": i + 1, "item": {
                "type": "function_call", "id": format!("fc_{n}_{i}"),
                "call_id": format!("call_{n}_{i}"), "status": "completed",
                "name": call.name, "arguments": call.args.to_string()}}),
        ));
    }
    out.push((
        "response.completed",
        json!({"type": "response.completed", "response": {"id": id, "usage": usage(n)}}),
    ));
    out.into_iter().map(|(e, v)| (e, v.to_string())).collect()
}

fn usage(n: usize) -> Value {
    json!({
        "input_tokens": 120 + 40 * n,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 150 + 40 * n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted_llm::ScriptedCall;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_turn_streams_text_then_calls_then_completion() {
        let turn = Turn {
            text: Some("hello there".into()),
            tool_calls: vec![ScriptedCall {
                name: "shell".into(),
                args: json!({"command": ["ls"]}),
            }],
            ..Turn::default()
        };
        let ev = events(&turn, 2);
        let names: Vec<&str> = ev.iter().map(|(e, _)| *e).collect();
        assert_eq!(
            names,
            vec![
                "response.created",
                "response.output_item.added",
                "response.output_text.delta",
                "response.output_item.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let call: Value = serde_json::from_str(&ev[4].1).unwrap();
        assert_eq!(
            call["item"],
            json!({"type": "function_call", "id": "fc_2_0", "call_id": "call_2_0",
                   "status": "completed", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"})
        );
        let done: Value = serde_json::from_str(&ev[5].1).unwrap();
        assert_eq!(done["response"]["usage"]["total_tokens"], json!(230));
    }
}
