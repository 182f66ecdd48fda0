//! `perstack replay`: a recorded job rendered as `start` showed it, or a new run branched
//! from one of its checkpoints.

use std::io::Write;

use perstack_checkpoint::Storage;
use perstack_core::{CheckpointStatus, ToolCall};
use perstack_events::{Event, RunEventPayload};
use perstack_runtime::RunInput;

use super::prepare::{prepare, workspace};
use super::prompt::Prompter;
use super::start::drive;
use crate::cli::{EventsArg, OutputOptions, ReplayArgs, ResumeOptions, RunArgs};
use crate::exit;
use crate::render::{Invocation, Renderer, Style};

pub fn run(args: &ReplayArgs) -> u8 {
    match execute(args) {
        Ok(code) => code,
        // Stdout closed by its reader (`| head`): nothing to say (main exits 141).
        Err(_) if crate::stdout_pipe::closed() => exit::ERROR,
        Err(message) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
    }
}

fn execute(args: &ReplayArgs) -> Result<u8, String> {
    let workspace = workspace(args.options.workspace.as_deref())?;
    let storage = crate::state_dir::open(&args.options.storage, &workspace)?;
    let job = storage
        .load_job(&args.job_id)
        .map_err(|_| unknown_job(&storage, &args.job_id))?;
    if let Some(cp) = &args.resume_from {
        return branch(args, &storage, &job.id, cp);
    }
    if let Some(run) = &args.run {
        let runs = storage.list_runs(&job.id).map_err(|e| e.to_string())?;
        if !runs.contains(run) {
            return Err(format!(
                "job {} has no run {run}; its runs: {}",
                job.id,
                runs.join(", ")
            ));
        }
    }
    let events = job_events(&storage, &job.id, args.run.as_deref())?;
    // The hints name the flags this replay was given: they point at the same storage.
    let mut renderer = Renderer::new(Style::for_stdout(), args.options.verbose)
        .with_invocation(Invocation::of(&args.options));
    let mut out = std::io::stdout().lock();
    let check = crate::stdout_pipe::check;
    for e in &events {
        check(out.write_all(renderer.render(e).as_bytes())).map_err(|e| e.to_string())?;
    }
    check(
        out.write_all(renderer.finish().as_bytes())
            .and_then(|()| out.flush()),
    )
    .map_err(|e| e.to_string())?;
    Ok(exit::OK)
}

/// The stored events of a job, every run (or only `run`) merged in emission order, exactly
/// as emitted (perstack-checkpoint expands the stored message references).
pub(crate) fn job_events(
    storage: &Storage,
    job_id: &str,
    run: Option<&str>,
) -> Result<Vec<Event>, String> {
    match run {
        Some(r) => storage.read_run_events(job_id, r),
        None => storage.read_job_events(job_id),
    }
    .map_err(|e| e.to_string())
}

/// `--resume-from`: a new run of the job from `checkpoint_id`, rendered like `start`.
fn branch(
    args: &ReplayArgs,
    storage: &Storage,
    job_id: &str,
    checkpoint_id: &str,
) -> Result<u8, String> {
    let cp = storage
        .load_checkpoint(job_id, checkpoint_id)
        .map_err(|_| unknown_checkpoint(storage, job_id, checkpoint_id))?;
    let run_args = RunArgs {
        expert_key: cp.expert.key.clone(),
        query: args.query.clone().unwrap_or_default(),
        options: args.options.clone(),
        resume: ResumeOptions {
            continue_job: Some(job_id.to_string()),
            resume_from: Some(checkpoint_id.to_string()),
            ..ResumeOptions::default()
        },
        // Rendered as a transcript: the event form does not apply.
        output: OutputOptions {
            events: EventsArg::Full,
        },
    };
    let mut prepared = prepare(&run_args)?;
    // A checkpoint that waits for the application is answered here, before the run starts.
    let answered = answer_checkpoint(args, storage, &cp, &mut prepared.setting.input)?;
    match answered {
        Answered::NotNeeded => Ok(drive(
            prepared,
            Invocation::of(&args.options),
            args.options.verbose,
            false,
        )),
        Answered::With(input) => {
            prepared.setting.input = input;
            Ok(drive(
                prepared,
                Invocation::of(&args.options),
                args.options.verbose,
                false,
            ))
        }
        Answered::NoAnswer => {
            eprintln!(
                "no answer on stdin: checkpoint {checkpoint_id} waits for the application; nothing was run"
            );
            Ok(STOPPED_FOR_APPLICATION)
        }
    }
}

/// What a checkpoint waiting for the application was answered with.
enum Answered {
    /// The checkpoint does not wait (or the query answers it).
    NotNeeded,
    /// Run with this input.
    With(RunInput),
    /// Stdin ended first.
    NoAnswer,
}

/// Asks on stdin for what a checkpoint stopped for an approval or an interactive tool
/// waits on. The stdin lock is released on return: the run's own prompts take it again.
fn answer_checkpoint(
    args: &ReplayArgs,
    storage: &Storage,
    cp: &perstack_core::Checkpoint,
    input: &mut RunInput,
) -> Result<Answered, String> {
    let stdin = std::io::stdin();
    let mut prompter = Prompter::new(stdin.lock(), std::io::stderr());
    let answered = match cp.status {
        CheckpointStatus::StoppedByApproval => {
            let calls = awaiting_approval(storage, &cp.job_id, &cp.id)?;
            prompter.approvals(&calls).map(|mut decided| {
                decided.text = input.text.take();
                decided
            })
        }
        CheckpointStatus::StoppedByInteractiveTool if args.query.is_none() => {
            match cp.pending_tool_calls.as_ref().and_then(|p| p.first()) {
                Some(call) => prompter.interactive(call).map(RunInput::tool_result),
                None => None,
            }
        }
        CheckpointStatus::StoppedByInteractiveTool
        | CheckpointStatus::Init
        | CheckpointStatus::Proceeding
        | CheckpointStatus::Completed
        | CheckpointStatus::StoppedByDelegate
        | CheckpointStatus::StoppedByExceededMaxSteps
        | CheckpointStatus::StoppedByError
        | CheckpointStatus::StoppedByBudget
        | CheckpointStatus::StoppedBySignal => return Ok(Answered::NotNeeded),
    };
    Ok(answered.map_or(Answered::NoAnswer, Answered::With))
}

/// Exit code of a run stopped for the application (as `perstack run`).
const STOPPED_FOR_APPLICATION: u8 = 3;

/// The calls an approval stop waits on, from the event that stored `checkpoint_id`.
fn awaiting_approval(
    storage: &Storage,
    job_id: &str,
    checkpoint_id: &str,
) -> Result<Vec<ToolCall>, String> {
    let events = job_events(storage, job_id, None)?;
    events
        .iter()
        .find_map(|e| {
            if let Event::Run(r) = e
                && let RunEventPayload::StopRunByApproval {
                    checkpoint,
                    tool_calls,
                    ..
                } = &r.payload
                && checkpoint.id == checkpoint_id
            {
                Some(tool_calls.clone())
            } else {
                None
            }
        })
        .ok_or_else(|| format!("no stopRunByApproval event stored checkpoint {checkpoint_id}"))
}

fn unknown_job(storage: &Storage, job_id: &str) -> String {
    let jobs = storage.list_jobs().unwrap_or_default();
    if jobs.is_empty() {
        return format!(
            "no job {job_id}: there are no jobs under {}",
            storage.layout().root().display()
        );
    }
    let list: Vec<String> = jobs
        .iter()
        .map(|j| {
            format!(
                "  {}  {}  {:?}  {} steps",
                j.id, j.coordinator_expert_key, j.status, j.total_steps
            )
        })
        .collect();
    format!(
        "no job {job_id}; the jobs are (newest first):\n{}",
        list.join("\n")
    )
}

fn unknown_checkpoint(storage: &Storage, job_id: &str, checkpoint_id: &str) -> String {
    let cps = storage.list_checkpoints(job_id).unwrap_or_default();
    let list: Vec<String> = cps
        .iter()
        .map(|c| {
            format!(
                "  {}  step {:>3}  {}  {:?}  run {}",
                c.id, c.step_number, c.expert_key, c.status, c.run_id
            )
        })
        .collect();
    format!(
        "job {job_id} has no checkpoint {checkpoint_id}; its checkpoints:\n{}",
        list.join("\n")
    )
}
