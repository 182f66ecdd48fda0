//! Reading the operator's input files (config, env files, lockfile) with a bound: only a
//! regular file is read, and only up to a size cap, so `--config /dev/zero` fails at once
//! instead of growing memory, and a FIFO fails instead of hanging.
//!
//! The file type is checked twice: on the path before opening (a device is never opened),
//! then on the opened descriptor (`fstat`), which is what is actually read, so a file swapped
//! in between cannot slip through. The open is non-blocking, so even a FIFO swapped in at
//! that moment cannot hang it. Links are followed (a config may legitimately be one).

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::CoreError;

/// Largest `perstack.toml` read (1 MiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest env file read (1 MiB).
pub const MAX_ENV_FILE_BYTES: u64 = 1 << 20;
/// Largest `perstack.lock` read (4 MiB: tool schemas of many skills).
pub const MAX_LOCKFILE_BYTES: u64 = 4 << 20;

/// Which input file is read, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFile {
    /// `perstack.toml`.
    Config,
    /// An env file.
    EnvFile,
    /// `perstack.lock`.
    Lockfile,
}

impl InputFile {
    /// Its size cap in bytes.
    pub fn cap(self) -> u64 {
        match self {
            InputFile::Config => MAX_CONFIG_BYTES,
            InputFile::EnvFile => MAX_ENV_FILE_BYTES,
            InputFile::Lockfile => MAX_LOCKFILE_BYTES,
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            InputFile::Config => "config file",
            InputFile::EnvFile => "env file",
            InputFile::Lockfile => "lockfile",
        }
    }
}

impl std::fmt::Display for InputFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads `path` as UTF-8 text: a regular file of at most `kind.cap()` bytes. A missing file
/// is [`CoreError::Read`] with `NotFound` (callers that skip missing files look for it).
pub fn read_input_file(path: &Path, kind: InputFile) -> Result<String, CoreError> {
    let read_err = |source: std::io::Error| CoreError::Read {
        path: path.to_path_buf(),
        source,
    };
    let cap = kind.cap();
    // Before opening: a device or FIFO is never opened at all.
    check(path, kind, &std::fs::metadata(path).map_err(read_err)?)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(read_err)?;
    // After opening: what the descriptor refers to is what is read.
    let meta = file.metadata().map_err(read_err)?;
    check(path, kind, &meta)?;
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow after the check: never read more than one byte past the cap.
    read_capped(file, cap, &mut data).map_err(read_err)?;
    if data.len() as u64 > cap {
        return Err(too_large(path, kind));
    }
    String::from_utf8(data).map_err(|e| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()),
        ))
    })
}

fn read_capped(file: File, cap: u64, data: &mut Vec<u8>) -> std::io::Result<()> {
    file.take(cap.saturating_add(1)).read_to_end(data)?;
    Ok(())
}

fn check(path: &Path, kind: InputFile, meta: &Metadata) -> Result<(), CoreError> {
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() {
            "a folder"
        } else if ft.is_fifo() {
            "a FIFO (named pipe)"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a file"
        };
        return Err(CoreError::NotARegularFile {
            path: path.to_path_buf(),
            kind,
            what,
        });
    }
    if meta.len() > kind.cap() {
        return Err(too_large(path, kind));
    }
    Ok(())
}

fn too_large(path: &Path, kind: InputFile) -> CoreError {
    CoreError::InputFileTooLarge {
        path: path.to_path_buf(),
        kind,
        cap: kind.cap(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_regular_file_under_the_cap_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("perstack.toml");
        std::fs::write(&p, "model = \"m\"\n").unwrap();
        assert_eq!(
            read_input_file(&p, InputFile::Config).unwrap(),
            "model = \"m\"\n"
        );
        // A link to it is followed.
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert_eq!(
            read_input_file(&link, InputFile::Config).unwrap(),
            "model = \"m\"\n"
        );
    }

    #[test]
    fn devices_folders_and_fifos_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        for (path, what) in [
            (Path::new("/dev/zero"), "a character device"),
            (dir.path(), "a folder"),
            (fifo.as_path(), "a FIFO (named pipe)"),
        ] {
            let e = read_input_file(path, InputFile::EnvFile).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "{} is {what}, not a regular file; point the env file at a regular file \
                     (perstack reads its config, env files and lockfile only from regular files)",
                    path.display()
                )
            );
        }
    }

    #[test]
    fn a_file_over_the_cap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("perstack.lock");
        let f = File::create(&p).unwrap();
        // Sparse: no disk used, but the size says what it would cost to read.
        f.set_len(MAX_LOCKFILE_BYTES + 1).unwrap();
        let e = read_input_file(&p, InputFile::Lockfile).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{} is larger than 4194304 bytes, the most a lockfile may be; check that the \
                 path names the right file, and shrink it",
                p.display()
            )
        );
        f.set_len(MAX_LOCKFILE_BYTES).unwrap();
        assert_eq!(
            read_input_file(&p, InputFile::Lockfile).unwrap().len() as u64,
            MAX_LOCKFILE_BYTES
        );
    }

    #[test]
    fn an_endless_source_is_read_only_one_byte_past_the_cap() {
        let mut data = Vec::new();
        // What `read_input_file` does after its checks, on a source larger than the cap.
        read_capped(File::open("/dev/zero").unwrap(), 10, &mut data).unwrap();
        assert_eq!(data.len(), 11);
    }
}
