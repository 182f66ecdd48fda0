//! `perstack log`: recorded events, checkpoints and the audit chain.

use std::collections::BTreeMap;
use std::io::Write;

use perstack_checkpoint::query::{EventQuery, FilterExpr, StepFilter};
use perstack_events::{Event, RunEventPayload};

use super::log_cost::{self, JobCost};
use crate::cli::LogArgs;
use crate::exit;

pub fn run(args: &LogArgs) -> u8 {
    match execute(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
    }
}

fn execute(args: &LogArgs) -> Result<u8, String> {
    let workspace = match &args.workspace {
        Some(w) => w.clone(),
        None => std::env::current_dir().map_err(|e| e.to_string())?,
    };
    if args.jobs {
        let text = super::jobs::list(
            Some(&workspace),
            &args.storage,
            args.config.as_deref(),
            args.json,
        )?;
        println_out(&text);
        return Ok(exit::OK);
    }
    let storage = crate::state_dir::open(&args.storage, &workspace)?;
    if args.verify {
        // Before the job is loaded: a missing or corrupt job.json is a finding, not an error.
        return super::log_verify::verify(
            &storage,
            args.job.as_deref(),
            args.expect.as_deref(),
            &mut println_out,
        );
    }
    if args.expect.is_some() {
        return Err("--expect goes with --verify".into());
    }
    let job = match &args.job {
        Some(id) => storage.load_job(id).map_err(|e| e.to_string())?,
        None => match storage.latest_job().map_err(|e| e.to_string())? {
            Some(j) => j,
            None => {
                println_out(&format!(
                    "No data found: no jobs under {}",
                    storage.layout().root().display()
                ));
                return Ok(exit::OK);
            }
        },
    };
    let checkpoint = match &args.checkpoint {
        Some(id) => Some(
            storage
                .load_checkpoint(&job.id, id)
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let runs: Vec<String> = match (&args.run, &checkpoint) {
        (Some(r), _) => vec![r.clone()],
        (None, Some(cp)) => vec![cp.run_id.clone()],
        (None, None) => storage.list_runs(&job.id).map_err(|e| e.to_string())?,
    };
    let query = EventQuery {
        step: args.step.as_deref().map(StepFilter::parse).transpose()?,
        event_type: args.event_type.clone(),
        errors: args.errors,
        tools: args.tools,
        delegations: args.delegations,
        filter: args.filter.as_deref().map(FilterExpr::parse).transpose()?,
        offset: args.offset,
        take: (args.take > 0).then_some(args.take),
    };
    let mut events = Vec::new();
    for r in &runs {
        events.extend(
            storage
                .read_run_events(&job.id, r)
                .map_err(|e| e.to_string())?,
        );
    }
    let cost = if args.summary {
        let prices = log_cost::prices(args.config.as_deref())?;
        let mut all = Vec::new();
        for r in storage.list_runs(&job.id).map_err(|e| e.to_string())? {
            all.extend(
                storage
                    .read_events(&job.id, &r)
                    .map_err(|e| e.to_string())?,
            );
        }
        Some(JobCost::of(&job, &all, &prices))
    } else {
        None
    };
    let selection = super::log_view::select(events, &query, args.context.unwrap_or(0))?;
    let events = &selection.events;
    // `--messages` without `--checkpoint`: the job's latest checkpoint.
    let history = match (&checkpoint, args.messages) {
        (_, false) => None,
        (Some(cp), true) => Some(cp.clone()),
        (None, true) => super::log_view::latest_checkpoint(&storage, &job)?,
    };
    let json = args.json || args.pretty;
    let text = if let Some(cost) = cost {
        let value = summary(&job, events, &cost);
        if json {
            to_json(&value, args.pretty)
        } else {
            summary_text(&job, events, &cost)
        }
    } else if json {
        let value = serde_json::json!({
            "job": job,
            "checkpoint": checkpoint.as_ref().or(history.as_ref()),
            "events": events,
        });
        to_json(&value, args.pretty)
    } else {
        let mut s = format!(
            "job {} ({:?}, expert {}, {} steps, {} tokens)\n",
            job.id, job.status, job.coordinator_expert_key, job.total_steps, job.usage.total_tokens
        );
        if let Some(cp) = &checkpoint {
            s.push_str(&format!(
                "checkpoint {} (run {}, step {}, {:?}, {} messages)\n",
                cp.id,
                cp.run_id,
                cp.step_number,
                cp.status,
                cp.messages.len()
            ));
        }
        if let Some(cp) = &history {
            s.push_str(&super::log_view::messages(cp));
        }
        for e in events {
            s.push_str(&line(e));
            s.push('\n');
            if args.verbose {
                s.push_str(&super::log_view::details(e));
                s.push('\n');
            }
        }
        if events.is_empty() {
            s.push_str("No events match.\n");
        }
        s.push_str(&super::log_view::footer(&selection));
        s
    };
    // JSON stays JSON: C1 and bidi characters, which serde leaves raw, become `\uXXXX`.
    let text = if json {
        crate::terminal::json_for_terminal(text.trim_end()).into_owned()
    } else {
        text.trim_end().to_string()
    };
    println_out(&text);
    Ok(exit::OK)
}

fn summary(job: &perstack_core::Job, events: &[Event], cost: &JobCost) -> serde_json::Value {
    serde_json::json!({
        "jobId": job.id,
        "status": job.status,
        "totalSteps": job.total_steps,
        "usage": job.usage,
        "model": match cost {
            JobCost::Estimated { model, .. } | JobCost::UnknownPrice(model) => Some(model),
            JobCost::SeveralModels(_) | JobCost::UnknownModel => None,
        },
        "estimatedCostUsd": cost.usd(),
        "events": events.len(),
        "byType": by_type(events),
    })
}

fn by_type(events: &[Event]) -> BTreeMap<&str, usize> {
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for e in events {
        *by_type.entry(e.type_name()).or_default() += 1;
    }
    by_type
}

fn summary_text(job: &perstack_core::Job, events: &[Event], cost: &JobCost) -> String {
    let mut s = format!(
        "job {}: {:?}, {} steps, {} input + {} output tokens, {} events\n",
        job.id,
        job.status,
        job.total_steps,
        job.usage.input_tokens,
        job.usage.output_tokens,
        events.len()
    );
    s.push_str(&format!("  {}\n", cost.line()));
    for (t, n) in by_type(events) {
        s.push_str(&format!("  {t:<28} {n}\n"));
    }
    s
}

/// `--json` is one line, `--pretty` indented (as Perstack's log).
fn to_json(value: &serde_json::Value, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    text.unwrap_or_default()
}

/// One line per event: step, type, and what matters about it.
fn line(e: &Event) -> String {
    match e {
        Event::Run(r) => format!(
            "[step {:>3}] {:<28} {}",
            r.step_number,
            r.payload.type_name(),
            detail(&r.payload)
        ),
        Event::Runtime(r) => format!(
            "[runtime ] {:<28} {}",
            r.payload.type_name(),
            runtime_detail(&r.payload)
        )
        .trim_end()
        .to_string(),
        Event::Unknown(v) => format!(
            "[unknown ] {}",
            v.get("type").unwrap_or(&serde_json::Value::Null)
        ),
    }
}

/// What matters about a runtime event: the skill, and what it printed (skill crashes and
/// errors stay readable after the fact).
fn runtime_detail(p: &perstack_events::RuntimeEventPayload) -> String {
    use perstack_events::RuntimeEventPayload as R;
    match p {
        R::SkillStderr {
            skill_name,
            message,
        } => clip(&format!("{skill_name}: {message}"), 100),
        R::SkillStarting { skill_name, .. }
        | R::SkillConnected { skill_name, .. }
        | R::SkillDisconnected { skill_name }
        | R::SkillLockMismatch { skill_name, .. }
        | R::SkillToolsNotOffered { skill_name, .. } => skill_name.clone(),
        R::InitializeRuntime { .. } | R::ProxyAccess { .. } => String::new(),
    }
}

pub(super) fn clip(s: &str, n: usize) -> String {
    let one_line = s.replace('\n', " ");
    match one_line.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

fn detail(p: &RunEventPayload) -> String {
    match p {
        RunEventPayload::CallTools { tool_calls, .. }
        | RunEventPayload::CallDelegate { tool_calls, .. } => tool_calls
            .iter()
            .map(|c| format!("{}/{}", c.skill_name, c.tool_name))
            .collect::<Vec<_>>()
            .join(", "),
        RunEventPayload::CallInteractiveTool { tool_call, .. } => {
            format!("{}/{}", tool_call.skill_name, tool_call.tool_name)
        }
        RunEventPayload::StopRunByApproval { tool_calls, .. } => tool_calls
            .iter()
            .map(|c| format!("{} ({})", c.tool_name, c.id))
            .collect::<Vec<_>>()
            .join(", "),
        RunEventPayload::ResolveToolResults { tool_results } => {
            format!("{} result(s)", tool_results.len())
        }
        RunEventPayload::StopRunByError { error, .. } => {
            clip(&format!("{}: {}", error.name, error.message), 100)
        }
        RunEventPayload::Retry { reason, .. } => clip(reason, 100),
        RunEventPayload::StopRunByBudget { reason, .. } => clip(reason, 100),
        RunEventPayload::StopRunBySignal { signal, .. } => signal.clone(),
        RunEventPayload::CompleteRun { text, .. }
        | RunEventPayload::CompleteStreamingReasoning { text }
        | RunEventPayload::CompleteStreamingRunResult { text } => clip(text, 100),
        RunEventPayload::StreamReasoning { delta } | RunEventPayload::StreamRunResult { delta } => {
            clip(delta, 60)
        }
        RunEventPayload::StartRun { .. }
        | RunEventPayload::StartGeneration { .. }
        | RunEventPayload::AttemptCompletion { .. }
        | RunEventPayload::FinishToolCall { .. }
        | RunEventPayload::ResumeToolCalls { .. }
        | RunEventPayload::FinishAllToolCalls { .. }
        | RunEventPayload::ContinueToNextStep { .. }
        | RunEventPayload::StopRunByInteractiveTool { .. }
        | RunEventPayload::StopRunByDelegate { .. }
        | RunEventPayload::StopRunByExceededMaxSteps { .. }
        | RunEventPayload::StartStreamingReasoning {}
        | RunEventPayload::StartStreamingRunResult {} => String::new(),
    }
}

/// Prints `s` with its control characters neutralised (model and tool text is in it).
fn println_out(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = crate::stdout_pipe::check(writeln!(out, "{}", crate::terminal::neutralise(s)));
}
