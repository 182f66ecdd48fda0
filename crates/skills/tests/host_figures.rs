//! Startup and call-overhead figures of the skill host, printed to stderr (run with
//! `cargo test --release -p perstack-skills --test host_figures -- --nocapture`). The
//! test checks that the measured work succeeded; it asserts nothing about durations.

// Test code: panicking helpers are fine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use perstack_core::config::ExpertConfig;
use perstack_skills::host::{NoEvents, SkillHost};
use serde_json::json;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn time_start(expert: &ExpertConfig, ws: &Ws, runs: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let host = SkillHost::start(expert, &no_experts(), options(ws), Arc::new(NoEvents))
            .await
            .unwrap();
        times.push(t.elapsed());
        host.shutdown().await;
    }
    median(times)
}

async fn time_calls(host: &SkillHost, tool: &str, calls: usize) -> Duration {
    let t = Instant::now();
    for i in 0..calls {
        let out = host
            .call(&i.to_string(), tool, args(json!({"text": "ping"})))
            .await
            .into_output()
            .unwrap();
        assert!(!out.is_error, "{out:?}");
    }
    t.elapsed() / u32::try_from(calls).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_and_call_overhead_figures() {
    let ws = workspace();
    let base_only = ExpertConfig {
        instruction: "x".into(),
        ..ExpertConfig::default()
    };
    let mut with_stdio = expert_with(vec![("t", test_server_skill(&[]))]);
    with_stdio.skills.as_mut().unwrap().insert(
        "@perstack/base".into(),
        perstack_core::config::SkillConfig::McpStdioSkill(Default::default()),
    );
    let runs = 15;
    let base = time_start(&base_only, &ws, runs).await;
    let both = time_start(&with_stdio, &ws, runs).await;

    let host = SkillHost::start(&with_stdio, &no_experts(), options(&ws), Arc::new(NoEvents))
        .await
        .unwrap();
    assert_eq!(host.running_skills(), vec!["t", "@perstack/base"]);
    let calls = 300;
    time_calls(&host, "echo", 20).await; // warm-up
    let stdio_call = time_calls(&host, "echo", calls).await;
    let t = Instant::now();
    for i in 0..calls {
        host.call(&i.to_string(), "clearTodo", args(json!({})))
            .await;
    }
    let base_call = t.elapsed() / u32::try_from(calls).unwrap();
    host.shutdown().await;

    eprintln!("skill host figures (median of {runs} starts; mean of {calls} calls):");
    eprintln!("  start → catalogue ready, base skill alone:        {base:?}");
    eprintln!("  start → catalogue ready, base + one stdio skill:  {both:?}");
    eprintln!("  trivial stdio tool call (echo), per call:         {stdio_call:?}");
    eprintln!("  trivial base tool call (clearTodo), per call:     {base_call:?}");
}
