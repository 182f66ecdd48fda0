//! `healthCheck` over MCP, as Perstack's base skill has it (`apps/base/src/tools/health-check.ts`
//! in perstack-ai/perstack: no parameters; a JSON text with `status` "ok", `workspace`,
//! `uptime` as "<seconds>s", `memory` and `pid`; touches no file).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use perstack_skills::base::{BaseSkill, BaseSkillOptions, serve_in_process};
use pretty_assertions::assert_eq;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ContentBlock};
use serde_json::{Value, json};

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn health_check_is_listed_without_parameters_and_reports_the_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().canonicalize().unwrap();
    std::fs::write(ws.join("notes.md"), "# Notes").unwrap();
    let before = listing(&ws);
    let options = BaseSkillOptions {
        tmp_root: ws.clone(),
        ..BaseSkillOptions::default()
    };
    let served = serve_in_process(BaseSkill::new(&ws, options).unwrap());
    let client = ().serve(served.stream).await.unwrap();

    let tools = client.list_all_tools().await.unwrap();
    let tool = tools
        .iter()
        .find(|t| t.name == "healthCheck")
        .expect("listed");
    let schema = serde_json::to_value(&*tool.input_schema).unwrap();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema.get("required"), None);
    assert!(
        schema["properties"]
            .as_object()
            .is_none_or(|p| p.is_empty()),
        "{schema}"
    );

    let result = client
        .call_tool(CallToolRequestParams::new("healthCheck"))
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true));
    let text = &result
        .content
        .first()
        .and_then(ContentBlock::as_text)
        .unwrap()
        .text;
    let mut v: Value = serde_json::from_str(text).unwrap();
    let uptime = v["uptime"].as_str().unwrap().to_string();
    assert!(
        uptime.ends_with('s') && uptime.trim_end_matches('s').parse::<u64>().is_ok(),
        "{uptime}"
    );
    let rss = v["memory"]["rss"].as_str().unwrap().to_string();
    assert!(
        rss.ends_with("MB") && rss.trim_end_matches("MB").parse::<u64>().unwrap() > 0,
        "{rss}"
    );
    let obj = v.as_object_mut().unwrap();
    obj.remove("uptime");
    obj.remove("memory");
    assert_eq!(
        v,
        json!({"status": "ok", "workspace": ws.display().to_string(), "pid": std::process::id()})
    );
    assert_eq!(
        listing(&ws),
        before,
        "healthCheck must not touch the workspace"
    );
    client.cancel().await.unwrap();
}
