//! The system prompt: how the loop works, the Expert's instruction, skill rules, delegates.

use indexmap::IndexMap;
use perstack_core::config::ExpertConfig;
use perstack_core::{InstructionPart, Message, TextPart, id::new_id};

/// The loop rules every Expert is told (same contract as Perstack's meta instruction:
/// keep calling tools, finish with `attemptCompletion`, a reply without tools ends the run).
fn meta_instruction(started_at: u64) -> String {
    format!(
        "How you work:\n\
         You run in an agent loop. Work out from the user's message what has to be done, then \
         make progress by calling tools, checking each result before the next call, until the \
         task is done. Keep calling tools until then: a reply that calls no tool ends the loop \
         and counts as your final answer.\n\
         \n\
         Each iteration: read the latest messages and tool results, choose the next tool call, \
         wait for its result, repeat.\n\
         \n\
         When the task is done, when it is outside your expertise, or when the request cannot \
         be understood, call attemptCompletion and nothing else (no text alongside it). After \
         it returns you will be asked for the final result in a separate reply. Never call \
         other tools once the loop has to end. If the request is outside your expertise, say \
         what your expertise is in the final result.\n\
         \n\
         Environment:\n\
         - Current time is {}",
        iso8601(started_at)
    )
}

/// The instruction message that opens a fresh run (cached: it never changes within a run).
pub fn instruction_message(
    expert_key: &str,
    expert: &ExpertConfig,
    experts: &IndexMap<String, ExpertConfig>,
    started_at: u64,
) -> Message {
    let mut text = String::from(
        "You are Perstack, an AI expert that carries out the user's task with the tools \
         available to you.\n\n",
    );
    text.push_str(&meta_instruction(started_at));
    text.push_str("\n\n---\nYour task as the expert \"");
    text.push_str(expert_key);
    text.push_str("\":\n\n");
    text.push_str(expert.instruction.trim());
    let rules = skill_rules(expert);
    if !rules.is_empty() {
        text.push_str("\n\n---\nSkill rules:\n\n");
        text.push_str(&rules);
    }
    let delegates = delegate_rules(expert, experts);
    if !delegates.is_empty() {
        text.push_str(
            "\n\n---\nYou can delegate tasks to these experts by calling the tool named after \
             the expert with a `query`:\n\n",
        );
        text.push_str(&delegates);
    }
    Message::InstructionMessage {
        id: new_id(),
        contents: vec![InstructionPart::Text(TextPart::new(text))],
        cache: Some(true),
    }
}

fn skill_rules(expert: &ExpertConfig) -> String {
    let mut out = Vec::new();
    if let Some(skills) = &expert.skills {
        for (name, skill) in skills {
            if let Some(rule) = skill.rule().map(str::trim).filter(|r| !r.is_empty()) {
                out.push(format!("\"{name}\" skill rules:\n{rule}"));
            }
        }
    }
    out.join("\n\n")
}

fn delegate_rules(expert: &ExpertConfig, experts: &IndexMap<String, ExpertConfig>) -> String {
    let mut out = Vec::new();
    for key in expert.delegates.iter().flatten() {
        if let Some(delegate) = experts.get(key) {
            let description = delegate.description.as_deref().unwrap_or("").trim();
            out.push(format!("About \"{key}\":\n{description}"));
        }
    }
    out.join("\n\n")
}

/// `2024-05-01T12:34:56.789Z` for ms since the epoch (UTC, proleptic Gregorian).
pub(crate) fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut year = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    if month <= 2 {
        year += 1;
    }
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn instruction_carries_expert_instruction_rules_and_delegates() {
        let mut experts = IndexMap::new();
        let toml = r#"
            [experts.main]
            instruction = "Answer questions."
            delegates = ["helper"]
            [experts.main.skills.calc]
            type = "mcpStdioSkill"
            command = "calc"
            rule = "Use calc for arithmetic."
            [experts.helper]
            description = "Knows everything about cats."
            instruction = "Help."
        "#;
        let config: perstack_core::config::PerstackConfig = toml::from_str(toml).unwrap();
        experts.extend(config.experts.clone());
        let m = instruction_message("main", &experts["main"], &experts, 0);
        let text = m.text();
        assert!(text.contains("Answer questions."));
        assert!(text.contains("\"calc\" skill rules:\nUse calc for arithmetic."));
        assert!(text.contains("About \"helper\":\nKnows everything about cats."));
        assert!(text.contains("Current time is 1970-01-01T00:00:00.000Z"));
        assert!(matches!(
            m,
            Message::InstructionMessage {
                cache: Some(true),
                ..
            }
        ));
    }
}
