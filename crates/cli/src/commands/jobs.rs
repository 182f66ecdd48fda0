//! `perstack jobs` (also `perstack log --jobs`): every recorded job, newest first, with its
//! status, Expert, steps, tokens, estimated cost, age and the command that continues it.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use perstack_checkpoint::Storage;
use perstack_core::{Job, JobStatus};
use perstack_events::Event;
use serde_json::{Value, json};

use super::log_cost::{self, JobCost};
use crate::cli::{JobsArgs, StorageArgs};
use crate::exit;
use crate::render::shell_word;

/// `perstack jobs`.
pub fn run(args: &JobsArgs) -> u8 {
    let listed = list(
        args.workspace.as_deref(),
        &args.storage,
        args.config.as_deref(),
        args.json,
    );
    match listed {
        Ok(text) => {
            // A closed pipe (`perstack jobs | head`) is not an error.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            exit::OK
        }
        Err(message) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
    }
}

/// The listing as text (or JSON), for `perstack jobs` and `perstack log --jobs`.
pub fn list(
    workspace: Option<&Path>,
    storage_args: &StorageArgs,
    config: Option<&Path>,
    json: bool,
) -> Result<String, String> {
    let workspace = match workspace {
        Some(w) => w.to_path_buf(),
        None => std::env::current_dir().map_err(|e| e.to_string())?,
    };
    let storage = crate::state_dir::open(storage_args, &workspace)?;
    let prices = log_cost::prices(config)?;
    let jobs = storage.list_jobs().map_err(|e| e.to_string())?;
    let rows: Vec<Row> = jobs
        .into_iter()
        .map(|job| {
            let cost = JobCost::of(&job, &job_events(&storage, &job.id), &prices);
            Row { job, cost }
        })
        .collect();
    let now = now_ms();
    if json {
        let values: Vec<Value> = rows.iter().map(|r| r.json(now)).collect();
        return serde_json::to_string_pretty(&values).map_err(|e| e.to_string());
    }
    if rows.is_empty() {
        return Ok(format!(
            "No jobs under {}",
            storage.layout().root().display()
        ));
    }
    Ok(table(&rows, now))
}

/// A job and its estimated cost.
struct Row {
    job: Job,
    cost: JobCost,
}

impl Row {
    fn json(&self, now: u64) -> Value {
        let j = &self.job;
        json!({
            "id": j.id,
            "status": j.status,
            "expert": j.coordinator_expert_key,
            "steps": j.total_steps,
            "maxSteps": j.max_steps,
            "usage": j.usage,
            "estimatedCostUsd": self.cost.usd(),
            "startedAt": j.started_at,
            "finishedAt": j.finished_at,
            "ageMs": now.saturating_sub(j.started_at),
            "continue": continue_command(j),
        })
    }
}

/// Every event of every run of the job; unreadable logs count as none (cost then unknown).
fn job_events(storage: &Storage, job_id: &str) -> Vec<Event> {
    let mut all = Vec::new();
    for run in storage.list_runs(job_id).unwrap_or_default() {
        match storage.read_events(job_id, &run) {
            Ok(events) => all.extend(events),
            Err(e) => tracing::warn!("job {job_id}, run {run}: {e}"),
        }
    }
    all
}

fn table(rows: &[Row], now: u64) -> String {
    let header = [
        "JOB", "STATUS", "EXPERT", "STEPS", "TOKENS", "COST", "AGE", "CONTINUE",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let j = &r.job;
            [
                j.id.clone(),
                status_word(j.status).to_string(),
                j.coordinator_expert_key.clone(),
                match j.max_steps {
                    Some(max) => format!("{}/{max}", j.total_steps),
                    None => j.total_steps.to_string(),
                },
                format!("{}", j.usage.input_tokens + j.usage.output_tokens),
                match r.cost.usd() {
                    Some(usd) => format!("${usd:.4}"),
                    None => "-".to_string(),
                },
                age(now.saturating_sub(j.started_at)),
                continue_command(j).unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
            if i + 1 == cols.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s
    };
    let mut out = vec![line(header.to_vec())];
    for row in &cells {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

/// The status as a short word.
fn status_word(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Running => "running",
        JobStatus::Completed => "completed",
        JobStatus::StoppedByMaxSteps => "max-steps",
        JobStatus::StoppedByInteractiveTool => "interactive",
        JobStatus::StoppedByError => "error",
        JobStatus::StoppedByApproval => "approval",
        JobStatus::StoppedByBudget => "budget",
        JobStatus::StoppedBySignal => "signal",
    }
}

/// The command that continues the job (placeholders in capitals), or none while it runs.
fn continue_command(job: &Job) -> Option<String> {
    let flags = match job.status {
        JobStatus::Running => return None,
        JobStatus::Completed => {
            return Some(format!(
                "perstack run --continue-job {} {} 'NEXT QUERY'",
                shell_word(&job.id),
                shell_word(&job.coordinator_expert_key)
            ));
        }
        JobStatus::StoppedByInteractiveTool => {
            return Some(format!(
                "perstack run --continue-job {} -i {} ANSWER",
                shell_word(&job.id),
                shell_word(&job.coordinator_expert_key)
            ));
        }
        JobStatus::StoppedByApproval => " --approve CALL_ID",
        JobStatus::StoppedByMaxSteps => " --max-steps N",
        JobStatus::StoppedByBudget => " --max-total-tokens N",
        JobStatus::StoppedByError | JobStatus::StoppedBySignal => "",
    };
    Some(format!(
        "perstack run --continue-job {}{flags} {} \"\"",
        shell_word(&job.id),
        shell_word(&job.coordinator_expert_key)
    ))
}

/// A short age: 42s, 5m, 3h, 2d.
fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perstack_core::Usage;
    use pretty_assertions::assert_eq;

    fn job(id: &str, status: JobStatus, started_at: u64) -> Job {
        Job {
            id: id.into(),
            status,
            coordinator_expert_key: "writer".into(),
            total_steps: 3,
            max_steps: Some(100),
            usage: Usage {
                input_tokens: 1000,
                output_tokens: 234,
                ..Usage::default()
            },
            started_at,
            finished_at: None,
        }
    }

    #[test]
    fn continue_commands_match_the_stop() {
        assert_eq!(continue_command(&job("j", JobStatus::Running, 0)), None);
        assert_eq!(
            continue_command(&job("j", JobStatus::StoppedByApproval, 0)).as_deref(),
            Some("perstack run --continue-job j --approve CALL_ID writer \"\"")
        );
        // As in Perstack, -i makes the query the answer.
        assert_eq!(
            continue_command(&job("j", JobStatus::StoppedByInteractiveTool, 0)).as_deref(),
            Some("perstack run --continue-job j -i writer ANSWER")
        );
        assert_eq!(
            continue_command(&job("it's", JobStatus::StoppedBySignal, 0)).as_deref(),
            Some(r#"perstack run --continue-job 'it'\''s' writer """#)
        );
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(
            [0, 59_999, 60_000, 7_200_000, 172_800_000].map(age),
            ["0s", "59s", "1m", "2h", "2d"].map(String::from)
        );
    }

    #[test]
    fn table_lists_newest_first_as_given() {
        let rows = vec![
            Row {
                job: job("job-b", JobStatus::Completed, 2_000),
                cost: JobCost::Estimated {
                    model: "m".into(),
                    usd: 0.0123,
                },
            },
            Row {
                job: job("job-a", JobStatus::StoppedByError, 1_000),
                cost: JobCost::UnknownModel,
            },
        ];
        insta::assert_snapshot!(table(&rows, 62_000));
    }
}
