//! `perstack run`: one Expert execution, every event as one JSON line on stdout.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use perstack_events::{Event, JsonlWriter};

use super::engine::{Engine, tokio_runtime};
use super::prepare::prepare;
use crate::cli::RunArgs;
use crate::exit;

pub fn run(args: &RunArgs) -> u8 {
    let prepared = match prepare(args) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let runtime = match tokio_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let out = Arc::new(Mutex::new(JsonlWriter::new(std::io::stdout())));
        let listener = Arc::new(move |e: &Event| {
            let mut w = out.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(err) = w.write(e) {
                tracing::error!("{err}");
            }
        });
        let (engine, setting) = Engine::start(prepared, listener);
        let result = engine.run(setting).await;
        let code = engine.finish(&result).await;
        let _ = std::io::stdout().flush();
        code
    })
}
