//! Stdout closed by its reader (`perstack … | head`). Rust ignores SIGPIPE, so writes to a
//! closed pipe fail with `BrokenPipe`; every command then stops writing, prints nothing on
//! stderr and exits with 141 (128 + SIGPIPE, what a shell reports for a program SIGPIPE
//! killed). `perstack run` stops its run like a signal does: resumable, never "running".

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status of a command whose stdout was closed: 128 + SIGPIPE.
pub const EXIT: u8 = 141;

static CLOSED: AtomicBool = AtomicBool::new(false);

/// True when `err` says the reader of stdout went away.
pub fn is_broken_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

/// Passes a stdout write's result through, remembering a broken pipe.
pub fn check<T>(result: io::Result<T>) -> io::Result<T> {
    if let Err(e) = &result
        && is_broken_pipe(e)
    {
        CLOSED.store(true, Ordering::SeqCst);
    }
    result
}

/// True once a stdout write failed because the reader went away.
pub fn closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// Watches stdout while nothing is written to it (a long generation or tool call): once its
/// reader is gone (a pipe's write end reports an error), records it and calls `on_close`.
/// Must be called inside a tokio runtime; abort the task when done.
pub fn watch(on_close: impl FnOnce() + Send + 'static) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            every.tick().await;
            if closed() || reader_gone() {
                CLOSED.store(true, Ordering::SeqCst);
                on_close();
                return;
            }
        }
    })
}

/// True when stdout is a pipe or socket whose other end is closed (POLLERR/POLLHUP).
fn reader_gone() -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    use std::os::fd::AsFd;
    let stdout = std::io::stdout();
    let fd = stdout.as_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::empty())];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&zero)) {
        Ok(n) if n > 0 => fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP),
        Ok(_) | Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn only_a_broken_pipe_counts_as_closed() {
        assert!(check(Err::<(), _>(io::Error::other("disk full"))).is_err());
        assert_eq!(closed(), false);
        assert!(check(Err::<(), _>(io::Error::from(io::ErrorKind::BrokenPipe))).is_err());
        assert_eq!(closed(), true);
    }
}
