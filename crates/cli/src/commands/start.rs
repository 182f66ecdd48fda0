//! `perstack start`: the run of `perstack run`, rendered for a person, answering
//! interactive tools and approvals from stdin and resuming in the same process.

use std::io::Write;
use std::sync::{Arc, Mutex};

use perstack_core::CheckpointStatus;
use perstack_runtime::{RunInput, RunOutcome, RunSetting};

use super::engine::{Engine, tokio_runtime};
use super::live::{self, Console};
use super::prepare::{Prepared, prepare};
use super::prompt::Prompter;
use crate::cli::StartArgs;
use crate::exit;
use crate::render::Invocation;

pub fn run(args: &StartArgs) -> u8 {
    let run = match super::start_args::complete(args) {
        Ok(run) => run,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    match prepare(&run) {
        Ok(p) => drive(
            p,
            Invocation::of(&run.options),
            run.options.verbose,
            args.no_prompt,
        ),
        Err(message) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
    }
}

/// Runs `p` with the live console; prompts (unless `no_prompt`) when the run stops for
/// the application, and resumes until it ends otherwise; printed commands repeat
/// `invocation`'s flags. Returns the exit code.
pub(crate) fn drive(p: Prepared, invocation: Invocation, verbose: bool, no_prompt: bool) -> u8 {
    let runtime = match tokio_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let console = Arc::new(Mutex::new(Console::new(
            verbose,
            p.setting.prices.clone(),
            invocation,
        )));
        let (engine, mut setting) = Engine::start(p, live::listener(&console));
        let ticker = live::ticker(&console);
        // Stdout closed by its reader (`| head`): stop resumably, as a signal does.
        let signal = engine.stop_signal();
        let closed = crate::stdout_pipe::watch(move || signal.stop("SIGPIPE"));
        let stdin = std::io::stdin();
        let mut prompter = Prompter::new(stdin.lock(), std::io::stderr());
        let result = loop {
            let result = engine.run(setting.clone()).await;
            let Ok(outcome) = &result else {
                break result;
            };
            if no_prompt || engine.stopped() {
                break result;
            }
            live::with(&console, |c| c.pause(true));
            let input = answer(outcome, &console, &mut prompter);
            live::with(&console, |c| c.pause(false));
            match input {
                Some(input) => setting = resumed(&setting, outcome, input),
                None => break result,
            }
        };
        ticker.abort();
        closed.abort();
        live::with(&console, Console::finish);
        if matches!(&result, Ok(o) if o.exit_code() == 3) && !no_prompt {
            eprintln!("no answer on stdin: stopped; resume later with the command shown above");
        }
        let code = engine.finish(&result).await;
        let _ = std::io::stdout().flush();
        code
    })
}

/// The input that resumes a run stopped for the application, asked on stdin; `None` when
/// the run ended otherwise or stdin has no answer.
fn answer<R: std::io::BufRead, W: Write>(
    outcome: &RunOutcome,
    console: &live::SharedConsole,
    prompter: &mut Prompter<R, W>,
) -> Option<RunInput> {
    match outcome.status() {
        CheckpointStatus::StoppedByInteractiveTool => {
            let call = outcome.checkpoint.pending_tool_calls.as_ref()?.first()?;
            // A skill's question (MCP elicitation) is answered with its fields.
            match perstack_core::elicitation::ElicitationState::of(&outcome.checkpoint)
                .filter(|s| s.tool_call_id == call.id && s.pending.is_some())
            {
                Some(state) => prompter.elicitation(&state),
                None => prompter.interactive(call),
            }
            .map(RunInput::tool_result)
        }
        CheckpointStatus::StoppedByApproval => {
            let calls = live::with(console, |c| c.awaiting_approval());
            if calls.is_empty() {
                return None;
            }
            prompter.approvals(&calls)
        }
        CheckpointStatus::Init
        | CheckpointStatus::Proceeding
        | CheckpointStatus::Completed
        | CheckpointStatus::StoppedByDelegate
        | CheckpointStatus::StoppedByExceededMaxSteps
        | CheckpointStatus::StoppedByError
        | CheckpointStatus::StoppedByBudget
        | CheckpointStatus::StoppedBySignal => None,
    }
}

/// The next run of the same job, from the stop's checkpoint, with `input`.
fn resumed(previous: &RunSetting, outcome: &RunOutcome, input: RunInput) -> RunSetting {
    let mut next = previous.clone();
    next.job_id = outcome.job.id.clone();
    next.run_id = perstack_core::id::new_id();
    next.expert_key = outcome.checkpoint.expert.key.clone();
    next.input = input;
    next.checkpoint = Some(outcome.checkpoint.clone());
    next.started_at = perstack_core::now_ms();
    next
}
