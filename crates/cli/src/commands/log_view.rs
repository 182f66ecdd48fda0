//! Perstack's `log --context`, `--messages` and `--verbose`: which events are shown around
//! the matches, a checkpoint's message history, and an event's full details.

use std::collections::BTreeSet;

use perstack_checkpoint::Storage;
use perstack_checkpoint::query::EventQuery;
use perstack_core::{Checkpoint, Job};
use perstack_events::Event;
use serde_json::Value;

/// What a selection found: the events to show and how many matched.
pub(super) struct Selection {
    /// The page of matches plus their context, in log order.
    pub(super) events: Vec<Event>,
    /// Matches on the page (context left out).
    pub(super) shown_matches: usize,
    /// Matches before `--offset`/`--take`.
    pub(super) total_matches: usize,
}

/// Applies `query` to `events`; with `context` > 0, each match on the page brings the
/// `context` events before and after it in the log (Perstack's `--context N`).
pub(super) fn select(
    events: Vec<Event>,
    query: &EventQuery,
    context: usize,
) -> Result<Selection, String> {
    let unpaged = EventQuery {
        offset: 0,
        take: None,
        ..query.clone()
    };
    let mut matched = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if !unpaged
            .apply(vec![e.clone()])
            .map_err(|e| e.to_string())?
            .is_empty()
        {
            matched.push(i);
        }
    }
    let total_matches = matched.len();
    let page: Vec<usize> = matched
        .into_iter()
        .skip(query.offset)
        .take(query.take.unwrap_or(usize::MAX))
        .collect();
    let shown: BTreeSet<usize> = page
        .iter()
        .flat_map(|&i| i.saturating_sub(context)..=i.saturating_add(context))
        .filter(|&i| i < events.len())
        .collect();
    Ok(Selection {
        shown_matches: page.len(),
        total_matches,
        events: events
            .into_iter()
            .enumerate()
            .filter(|(i, _)| shown.contains(i))
            .map(|(_, e)| e)
            .collect(),
    })
}

/// The checkpoint's message history, one line per message (Perstack's `--messages`): its
/// type and what it says (text, tool calls, tool results), clipped.
pub(super) fn messages(cp: &Checkpoint) -> String {
    let mut s = format!(
        "messages of checkpoint {} ({}):\n",
        cp.id,
        cp.messages.len()
    );
    for m in &cp.messages {
        let v = serde_json::to_value(m).unwrap_or(Value::Null);
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("message");
        let parts: Vec<String> = v
            .get("contents")
            .and_then(Value::as_array)
            .map(|parts| parts.iter().map(part).collect())
            .unwrap_or_default();
        s.push_str(&format!(
            "  [{kind}] {}\n",
            super::log::clip(&parts.join(" | "), 200)
        ));
    }
    s
}

/// One content part as text: its text, a tool call with its arguments, a tool result.
fn part(p: &Value) -> String {
    let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
    match field("type") {
        "textPart" | "thinkingPart" | "reasoningPart" => field("text").to_string(),
        "toolCallPart" => format!(
            "call {}({})",
            field("toolName"),
            p.get("args").map(Value::to_string).unwrap_or_default()
        ),
        "toolResultPart" => {
            let texts: Vec<String> = p
                .get("contents")
                .and_then(Value::as_array)
                .map(|c| c.iter().map(part).collect())
                .unwrap_or_default();
            format!("result {}: {}", field("toolName"), texts.join(" "))
        }
        other => format!("({other})"),
    }
}

/// The event's full details (Perstack's `--verbose`): every field, as one JSON line.
pub(super) fn details(e: &Event) -> String {
    let json = serde_json::to_string(e).unwrap_or_default();
    format!("    {}", crate::terminal::json_for_terminal(&json))
}

/// The job's latest checkpoint of its own Expert (the conversation), else its latest one.
pub(super) fn latest_checkpoint(
    storage: &Storage,
    job: &Job,
) -> Result<Option<Checkpoint>, String> {
    let list = storage
        .list_checkpoints(&job.id)
        .map_err(|e| e.to_string())?;
    let Some(id) = list
        .iter()
        .rfind(|c| c.expert_key == job.coordinator_expert_key)
        .or(list.last())
        .map(|c| c.id.clone())
    else {
        return Ok(None);
    };
    storage
        .load_checkpoint(&job.id, &id)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Says when the page left matches out, and how many events `--context` added.
pub(super) fn footer(sel: &Selection) -> String {
    let context = sel.events.len().saturating_sub(sel.shown_matches);
    let mut s = String::new();
    if sel.total_matches > sel.shown_matches {
        s.push_str(&format!(
            "(showing {} of {} matching events; --take and --offset page, --take 0 shows all)\n",
            sel.shown_matches, sel.total_matches
        ));
    }
    if context > 0 {
        s.push_str(&format!("(+{context} events of context)\n"));
    }
    s
}
