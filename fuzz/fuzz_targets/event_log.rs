//! The event-log reader (crates/checkpoint) on an arbitrary `events.jsonl`: reading the job's
//! events, verifying the chain and reopening the log for appends (which cuts a torn tail)
//! return errors for anything malformed and never panic. The first input byte picks whether a
//! message log (the compact form's referenced messages) is planted too, from the same bytes.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use perstack_checkpoint::{EventLog, Storage, verify_event_log};

/// One state folder for the whole fuzzing process, on a RAM disk where there is one.
fn base() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let root = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        let dir = root.join(format!("perstack-fuzz-event-log-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("workspace"));
        dir
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    let base = base();
    let Ok(storage) = Storage::in_state_dir(&base.join("state"), &base.join("workspace")) else {
        return;
    };
    let Ok(run_dir) = storage.layout().run_dir("job", "run") else {
        return;
    };
    let _ = std::fs::remove_dir_all(&run_dir);
    if std::fs::create_dir_all(&run_dir).is_err() {
        return;
    }
    let events = run_dir.join("events.jsonl");
    if std::fs::write(&events, data).is_err() {
        return;
    }
    if mode & 1 == 1 {
        for generation in 0..2 {
            let _ = std::fs::write(run_dir.join(format!("messages-{generation}.jsonl")), data);
        }
    }
    let _ = storage.read_job_events("job");
    let _ = verify_event_log(&events);
    let _ = EventLog::open(&events);
});
