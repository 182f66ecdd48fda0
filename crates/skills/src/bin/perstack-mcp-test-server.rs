//! A small MCP server on stdio for the skill host's tests (not part of the product): tools
//! that echo, sleep, crash, fail, return JSON-RPC errors, images and resources, print to
//! stderr, report their environment and ask the user (elicitation).
//!
//! Flags: `--name NAME` (server name, default `perstack-test-server`), `--hang` (never
//! answer), `--exit-at-start` (print to stderr and exit 1), `--stderr TEXT` (print a line
//! to stderr before serving), `--linger` (stay alive after the client disconnects).

use std::process::ExitCode;
use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, ElicitRequestParams, Implementation, ResourceContents,
    ServerCapabilities, ServerConfig,
};
use rmcp::{ErrorData, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

/// A 1x1 transparent PNG.
const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

#[derive(Debug, Deserialize, JsonSchema)]
struct TextParams {
    /// Text.
    text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SleepParams {
    /// Milliseconds to sleep.
    ms: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct LinesParams {
    /// Lines to print to stderr.
    lines: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct NameParams {
    /// An environment variable name.
    name: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct ConnectParams {
    /// `host:port` to connect to over TCP.
    addr: String,
    /// Bytes to send once connected.
    send: String,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
struct NoParams {}

#[derive(Debug, Clone)]
struct TestServer {
    name: String,
    tool_router: rmcp::handler::server::router::tool::ToolRouter<TestServer>,
}

type Answer = Result<CallToolResult, ErrorData>;

#[tool_router]
impl TestServer {
    #[tool(description = "Return the text.")]
    async fn echo(&self, Parameters(p): Parameters<TextParams>) -> Answer {
        Ok(CallToolResult::success(vec![ContentBlock::text(p.text)]))
    }

    #[tool(description = "Sleep, then answer.")]
    async fn sleep(&self, Parameters(p): Parameters<SleepParams>) -> Answer {
        tokio::time::sleep(Duration::from_millis(p.ms)).await;
        Ok(CallToolResult::success(vec![ContentBlock::text("slept")]))
    }

    #[tool(description = "Exit the server process at once (code 3).")]
    async fn crash(&self, _p: Parameters<NoParams>) -> Answer {
        std::process::exit(3)
    }

    #[tool(description = "Answer with a tool error (isError).")]
    async fn fail(&self, Parameters(p): Parameters<TextParams>) -> Answer {
        Ok(CallToolResult::error(vec![ContentBlock::text(p.text)]))
    }

    #[tool(description = "Answer with a JSON-RPC error.")]
    async fn rpc_error(&self, Parameters(p): Parameters<TextParams>) -> Answer {
        Err(ErrorData::invalid_params(p.text, None))
    }

    #[tool(description = "Return an image, an embedded text resource and a PDF blob.")]
    async fn media(&self, _p: Parameters<NoParams>) -> Answer {
        Ok(CallToolResult::success(vec![
            ContentBlock::image(PNG_1X1, "image/png"),
            ContentBlock::embedded_text("file:///note.txt", "a note"),
            ContentBlock::resource(ResourceContents::BlobResourceContents {
                uri: "file:///doc.pdf".into(),
                mime_type: Some("application/pdf".into()),
                blob: "JVBERi0xLjQK".into(),
                meta: None,
            }),
        ]))
    }

    #[tool(description = "Print lines to stderr.")]
    async fn stderr(&self, Parameters(p): Parameters<LinesParams>) -> Answer {
        for line in &p.lines {
            eprintln!("{line}");
        }
        Ok(CallToolResult::success(vec![ContentBlock::text("printed")]))
    }

    #[tool(description = "Return nothing.")]
    async fn empty(&self, _p: Parameters<NoParams>) -> Answer {
        Ok(CallToolResult::success(vec![]))
    }

    #[tool(description = "The value of an environment variable, or <unset>.")]
    async fn env(&self, Parameters(p): Parameters<NameParams>) -> Answer {
        let value = std::env::var(&p.name).unwrap_or_else(|_| "<unset>".into());
        Ok(CallToolResult::success(vec![ContentBlock::text(value)]))
    }

    #[tool(
        description = "Connect over TCP, send the text, answer with the first bytes received or the error."
    )]
    async fn connect(&self, Parameters(p): Parameters<ConnectParams>) -> Answer {
        use std::io::{Read, Write};
        let outcome = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(&p.addr)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(p.send.as_bytes())?;
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
        })();
        Ok(match outcome {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
            Err(e) => {
                CallToolResult::error(vec![ContentBlock::text(format!("connect failed: {e}"))])
            }
        })
    }

    #[tool(description = "Ask the user for a name and an age (elicitation); return the answer.")]
    async fn ask(&self, peer: rmcp::Peer<rmcp::RoleServer>, _p: Parameters<NoParams>) -> Answer {
        let declared = peer
            .peer_info()
            .is_some_and(|i| i.capabilities.elicitation.is_some());
        if !declared {
            return Ok(CallToolResult::success(vec![ContentBlock::text(
                "the client declared no elicitation",
            )]));
        }
        let request = serde_json::json!({
            "mode": "form",
            "message": "Who are you?",
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "default": "Ada"},
                    "age": {"type": "integer"}
                }
            }
        });
        let params: ElicitRequestParams = serde_json::from_value(request)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let answer = peer
            .create_elicitation(params)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let body = serde_json::to_string(&answer).unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::text(body)]))
    }

    #[tool(description = "The server's process id and working directory.")]
    async fn whoami(&self, _p: Parameters<NoParams>) -> Answer {
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let body =
            serde_json::json!({ "pid": std::process::id(), "cwd": cwd, "server": self.name });
        Ok(CallToolResult::success(vec![ContentBlock::text(
            body.to_string(),
        )]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(self.name.clone(), "9.9.9"))
    }
}

fn main() -> ExitCode {
    let mut name = "perstack-test-server".to_string();
    let mut args = std::env::args().skip(1);
    let mut hang = false;
    let mut linger = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--name" => name = args.next().unwrap_or(name),
            "--hang" => hang = true,
            "--linger" => linger = true,
            "--exit-at-start" => {
                eprintln!("test server: exiting at start as asked");
                return ExitCode::FAILURE;
            }
            "--stderr" => eprintln!("{}", args.next().unwrap_or_default()),
            other => {
                eprintln!("unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        if hang {
            hang_forever().await;
        }
        let server = TestServer {
            name,
            tool_router: TestServer::tool_router(),
        };
        let code = match server.serve(rmcp::transport::stdio()).await {
            Ok(running) => {
                let _ = running.waiting().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("test server: {e}");
                ExitCode::FAILURE
            }
        };
        if linger {
            hang_forever().await;
        }
        code
    })
}

async fn hang_forever() -> ! {
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
