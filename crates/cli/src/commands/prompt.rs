//! Answers read line by line (stdin: a person at a terminal, or a pipe in tests) for runs
//! that stop for an interactive tool or an approval. Prompts go to stderr, so the transcript
//! on stdout stays what `replay` prints.

use std::io::{BufRead, Write};

use perstack_core::ToolCall;
use perstack_core::elicitation::{ElicitationReply, ElicitationState};
use perstack_runtime::{InteractiveToolCallResult, RunInput};

/// Reads answers from `input`, writing prompts to `prompts`.
pub(crate) struct Prompter<R, W> {
    input: R,
    prompts: W,
}

impl<R: BufRead, W: Write> Prompter<R, W> {
    /// A prompter over `input` and `prompts`.
    pub(crate) fn new(input: R, prompts: W) -> Self {
        Prompter { input, prompts }
    }

    /// One line after `prompt`, without its line ending; `None` at end of input.
    fn ask(&mut self, prompt: &str) -> Option<String> {
        let _ = write!(self.prompts, "{prompt}");
        let _ = self.prompts.flush();
        let mut line = String::new();
        match self.input.read_line(&mut line) {
            Ok(0) | Err(_) => {
                let _ = writeln!(self.prompts);
                None
            }
            Ok(_) => {
                let trimmed = line.strip_suffix('\n').unwrap_or(&line);
                Some(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string())
            }
        }
    }

    /// The answer to the interactive call `call` (its question is in the transcript).
    pub(crate) fn interactive(&mut self, call: &ToolCall) -> Option<InteractiveToolCallResult> {
        let name = crate::terminal::neutralise(&call.tool_name);
        let text = self.ask(&format!("answer to {name} > "))?;
        Some(InteractiveToolCallResult {
            tool_call_id: call.id.clone(),
            tool_name: call.tool_name.clone(),
            skill_name: call.skill_name.clone(),
            text,
            is_error: None,
        })
    }

    /// The answer to a skill's question (MCP elicitation): the question and the requested
    /// fields are shown; asked again until it is a JSON object, `decline` or `cancel`.
    pub(crate) fn elicitation(
        &mut self,
        state: &ElicitationState,
    ) -> Option<InteractiveToolCallResult> {
        let request = state.pending.as_ref()?;
        let fields: Vec<&str> = request
            .requested_schema
            .get("properties")
            .and_then(serde_json::Value::as_object)
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        // The skill's text is shown with control characters escaped.
        let safe = |s: &str| crate::terminal::neutralise(s).into_owned();
        let _ = writeln!(
            self.prompts,
            "{} asks: {}\nfields: {}",
            safe(&state.skill_name),
            safe(&request.message),
            safe(&fields.join(", "))
        );
        loop {
            let text = self.ask("answer (JSON object of the fields, decline or cancel) > ")?;
            match ElicitationReply::parse(&text) {
                Ok(_) => {
                    return Some(InteractiveToolCallResult {
                        tool_call_id: state.tool_call_id.clone(),
                        tool_name: state.tool_name.clone(),
                        skill_name: state.skill_name.clone(),
                        text,
                        is_error: None,
                    });
                }
                Err(e) => {
                    let _ = writeln!(self.prompts, "{e}");
                }
            }
        }
    }

    /// A decision for every call in `calls`: y approves; n denies, with an optional reason.
    pub(crate) fn approvals(&mut self, calls: &[ToolCall]) -> Option<RunInput> {
        let mut input = RunInput::default();
        for c in calls {
            let prompt = crate::terminal::neutralise(&format!(
                "approve {} › {} ({})? [y/n] > ",
                c.skill_name, c.tool_name, c.id
            ))
            .into_owned();
            loop {
                let answer = self.ask(&prompt)?;
                match answer.trim().to_ascii_lowercase().as_str() {
                    "y" | "yes" => {
                        input = input.approve(c.id.clone());
                        break;
                    }
                    "n" | "no" => {
                        let reason = self.ask("reason (optional) > ")?;
                        let reason = Some(reason.trim().to_string()).filter(|r| !r.is_empty());
                        input = input.deny(c.id.clone(), reason);
                        break;
                    }
                    _ => {
                        let _ = writeln!(self.prompts, "please answer y or n");
                    }
                }
            }
        }
        Some(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perstack_runtime::{Decision, ToolCallDecision};
    use pretty_assertions::assert_eq;

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            skill_name: "tools".into(),
            tool_name: "rm".into(),
            args: serde_json::Map::new(),
        }
    }

    #[test]
    fn approvals_take_y_and_n_with_a_reason_and_reask_on_other_input() {
        let mut p = Prompter::new(&b"maybe\ny\nn\nnot today\r\n"[..], Vec::new());
        let input = p.approvals(&[call("a"), call("b")]).unwrap();
        assert_eq!(
            input.decisions,
            vec![
                ToolCallDecision {
                    tool_call_id: "a".into(),
                    decision: Decision::Approve
                },
                ToolCallDecision {
                    tool_call_id: "b".into(),
                    decision: Decision::Deny {
                        reason: Some("not today".into())
                    }
                },
            ]
        );
        assert!(
            String::from_utf8(p.prompts)
                .unwrap()
                .contains("please answer y or n")
        );
    }

    #[test]
    fn end_of_input_gives_no_answer() {
        let mut p = Prompter::new(&b""[..], Vec::new());
        assert_eq!(p.interactive(&call("a")), None);
        let mut p = Prompter::new(&b"y\n"[..], Vec::new());
        assert_eq!(p.approvals(&[call("a"), call("b")]), None);
    }

    #[test]
    fn an_elicitation_shows_the_question_and_reasks_until_the_answer_has_a_form() {
        let state = ElicitationState {
            tool_call_id: "c1".into(),
            skill_name: "test".into(),
            tool_name: "ask".into(),
            pending: Some(perstack_core::elicitation::ElicitationRequest {
                message: "Who are you?".into(),
                requested_schema: serde_json::json!({"properties": {"name": {}, "age": {}}}),
            }),
            answered: Vec::new(),
        };
        let mut p = Prompter::new(&b"Ada\n{\"age\": 41}\n"[..], Vec::new());
        let answer = p.elicitation(&state).unwrap();
        assert_eq!(
            (answer.tool_call_id.as_str(), answer.text.as_str()),
            ("c1", r#"{"age": 41}"#)
        );
        let prompts = String::from_utf8(p.prompts).unwrap();
        assert!(
            prompts.starts_with("test asks: Who are you?\nfields: "),
            "{prompts}"
        );
        assert!(
            prompts.contains("age") && prompts.contains("name"),
            "{prompts}"
        );
        assert!(prompts.contains("JSON object"), "{prompts}");
    }

    #[test]
    fn an_interactive_answer_is_the_line() {
        let mut p = Prompter::new(&b"blue\n"[..], Vec::new());
        assert_eq!(p.interactive(&call("a")).unwrap().text, "blue");
    }
}
