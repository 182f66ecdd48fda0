//! A skill that fails to start (a command that does not exist, a server that exits at once,
//! a remote endpoint where nothing listens) ends `perstack run` with `stopRunByError`, a
//! resumable checkpoint holding the query, exit 1 and one line on stderr; continuing the
//! job after fixing the config starts the skill and goes on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::Value;
use support::{
    Endpoint, Setup, assert_completed, config_with_skill, free_port, job_id, run_event_types,
};

fn stop_error(events: &[Value]) -> Value {
    events
        .iter()
        .find(|e| e["type"] == "stopRunByError")
        .map(|e| e["error"].clone())
        .expect("a stopRunByError event")
}

#[test]
fn a_skill_that_does_not_start_stops_the_run_and_the_job_resumes_after_the_fix() {
    let port = free_port();
    let cases = [
        (
            r#"type = "mcpStdioSkill"
command = "/nonexistent/perstack-no-such-server"
args = []"#
                .to_string(),
            "/nonexistent/perstack-no-such-server",
        ),
        (
            r#"type = "mcpStdioSkill"
command = "sh"
args = ["-c", "echo 'cannot read config.json' >&2; exit 3"]"#
                .to_string(),
            "(the process exited (exit status: 3); its last stderr line: cannot read config.json)",
        ),
        (
            format!("type = \"mcpHttpSkill\"\nendpoint = \"http://127.0.0.1:{port}/mcp\""),
            "MCP handshake failed",
        ),
    ];
    for (skill, why) in cases {
        let setup = Setup::new();
        setup.write_config(&config_with_skill("broken", &skill));
        let llm = ScriptedLlm::start(vec![Turn::text("Resumed and done.")]).unwrap();
        let endpoint = Endpoint::openai(&llm.base_url);
        let failed = setup.run(&endpoint, &[], "Summarise the workspace");
        assert_eq!(failed.code(), Some(1), "{skill}: {}", failed.stderr);
        assert_eq!(
            run_event_types(&failed.events),
            vec!["startRun", "stopRunByError"],
            "{skill}"
        );
        let error = stop_error(&failed.events);
        assert_eq!(error["name"], "SkillStartError", "{skill}");
        let message = error["message"].as_str().unwrap();
        for part in [
            "expert \"worker\": skill \"broken\" failed to start",
            why,
            "Fix the skill",
        ] {
            assert!(message.contains(part), "{skill}: {message}");
        }
        assert_eq!(llm.served(), 0, "no model call before the skills are up");
        let last = failed.stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: the run stopped with an error: expert \"worker\"")
                && last.contains("--continue-job"),
            "{}",
            failed.stderr
        );
        let job = job_id(&failed.events);
        assert_eq!(setup.job(&job)["status"], "stoppedByError");

        // Fixed: the skill is gone, the base skill serves the Expert again.
        setup.write_config(support::CONFIG);
        let resumed = setup.run(&endpoint, &["--continue-job", &job], "");
        assert_completed(&resumed);
        assert_eq!(job_id(&resumed.events), job);
        assert_eq!(llm.served(), 1);
        // The model saw the query of the failed run.
        let sent = llm.requests()[0].to_string();
        assert!(sent.contains("Summarise the workspace"), "{sent}");
        assert_eq!(setup.job(&job)["status"], "completed");
    }
}
