//! Advisory locks (flock(2)) that keep two xtask processes from changing the same files at
//! once: the bump's exclusive lock on `perf/`, a lock file that names its holder and is never
//! waited for, and the history appender's short wait for the history file itself. The kernel
//! drops a flock when its holder dies, so a killed process never leaves a lock behind: at
//! most a stale lock file, which the next holder takes over.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

/// Longest holder description read from a lock file (it is a few lines).
const MAX_HOLDER_BYTES: u64 = 4096;
/// Longest command line written into a lock file.
const MAX_COMMAND_CHARS: usize = 300;

/// An exclusive lock held through a lock file such as `perf/.lock`. While it is held the
/// file says who holds it (pid, start time, command line), which a refused contender
/// prints. Dropping it removes the file, so a clean work tree stays clean, and then
/// releases the lock.
#[derive(Debug)]
pub struct LockFile {
    /// Open for as long as the lock is held: closing it releases the lock.
    file: File,
    path: PathBuf,
}

impl LockFile {
    /// Takes the lock at `path` without waiting. When another process holds it, fails at once
    /// with a message naming that process; `what` says what the lock guards.
    pub fn acquire(path: &Path, what: &str) -> Result<LockFile> {
        // A holder removes the file before it unlocks; a contender that opened the file just
        // before the removal may then lock a file that is no longer there, while a third
        // process creates and locks a new one. So after locking, the path must still name
        // the locked file; if not, start over.
        for _ in 0..100 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| format!("opening the lock file {}", path.display()))?;
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Err(Errno::WOULDBLOCK) => bail!(
                    "{} is locked: {what} is already under way ({}); wait for it to finish (a \
                     killed holder releases the lock by itself)",
                    path.display(),
                    read_holder(&mut file)
                ),
                Err(e) => return Err(locking(path, e)),
                Ok(()) if !names_file(path, &file) => continue,
                Ok(()) => {}
            }
            let holder = holder_text();
            file.set_len(0)
                .and_then(|()| file.write_all(holder.as_bytes()))
                .with_context(|| format!("writing the lock holder into {}", path.display()))?;
            return Ok(LockFile {
                file,
                path: path.to_path_buf(),
            });
        }
        bail!(
            "could not lock {}: it was replaced 100 times while locking it",
            path.display()
        )
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // Removed while still locked, so nobody locks it in between; only when it is still
        // the file this process locked (someone may have deleted it by hand meanwhile).
        if names_file(&self.path, &self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
        // Closing `self.file` (dropped after this) releases the lock.
    }
}

/// Locks `file` (at `path`, for messages) exclusively, waiting at most `wait` for another
/// holder. Where flock is not supported (a pipe, some network file systems) it goes on
/// unlocked: the caller's single `O_APPEND` write still keeps lines whole there.
pub fn lock_waiting(file: &File, path: &Path, wait: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(Errno::WOULDBLOCK) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(Errno::WOULDBLOCK) => bail!(
                "{} stayed locked by another process for {} s; is a stopped xtask holding it?",
                path.display(),
                wait.as_secs()
            ),
            Err(Errno::NOLCK | Errno::OPNOTSUPP | Errno::INVAL) => return Ok(()),
            Err(e) => return Err(locking(path, e)),
        }
    }
}

fn locking(path: &Path, e: Errno) -> anyhow::Error {
    anyhow::Error::new(std::io::Error::from(e)).context(format!("locking {}", path.display()))
}

/// Whether `path` still names the open `file` (same device and inode).
fn names_file(path: &Path, file: &File) -> bool {
    match (rustix::fs::stat(path), rustix::fs::fstat(file)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

/// What a lock file says about its holder: `pid N`, `started T`, `command ...` lines.
fn holder_text() -> String {
    let mut command: String = std::env::args_os()
        .map(|a| {
            let a = a.to_string_lossy().into_owned();
            if a.is_empty() || a.contains(char::is_whitespace) {
                format!("{a:?}")
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    if command.chars().count() > MAX_COMMAND_CHARS {
        command = command.chars().take(MAX_COMMAND_CHARS).collect();
        command.push('…');
    }
    format!(
        "pid {}\nstarted {}\ncommand {}\n",
        std::process::id(),
        crate::model::artifacts::now_rfc3339(),
        command.replace('\n', " ")
    )
}

/// The holder of a lock, as one phrase for a message: `pid N since T: command`.
fn read_holder(file: &mut File) -> String {
    let mut bytes = Vec::new();
    let read = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.take(MAX_HOLDER_BYTES).read_to_end(&mut bytes));
    if read.is_err() || bytes.is_empty() {
        return "its holder has not written its pid yet".to_string();
    }
    describe_holder(&String::from_utf8_lossy(&bytes))
}

fn describe_holder(text: &str) -> String {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    format!(
        "held by pid {}{}{}",
        field("pid").unwrap_or("unknown"),
        field("started").map_or(String::new(), |s| format!(" since {s}")),
        field("command").map_or(String::new(), |c| format!(", running `{c}`"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_at_once_naming_the_holder_and_the_file_goes_with_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let first = LockFile::acquire(&path, "a bump").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(&format!("pid {}\nstarted ", std::process::id())),
            "{text}"
        );
        let start = Instant::now();
        let err = LockFile::acquire(&path, "a bump").unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(1));
        let msg = format!("{err:#}");
        assert!(
            msg.contains(".lock is locked: a bump is already under way")
                && msg.contains(&format!("held by pid {} since ", std::process::id()))
                && msg.contains("running `"),
            "{msg}"
        );
        drop(first);
        assert!(!path.exists(), "the lock file outlived its lock");
        LockFile::acquire(&path, "a bump").unwrap();
    }

    #[test]
    fn a_stale_lock_file_is_taken_over() {
        // A killed holder leaves its file; the kernel has released its lock.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        std::fs::write(&path, "pid 1\nstarted long ago\ncommand gone\n").unwrap();
        let _lock = LockFile::acquire(&path, "a bump").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&format!("pid {}\n", std::process::id())));
        assert!(!text.contains("gone"), "{text}");
    }

    #[test]
    fn waiting_for_a_lock_gives_up_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let held = File::create(&path).unwrap();
        lock_waiting(&held, &path, Duration::ZERO).unwrap();
        let other = File::open(&path).unwrap();
        let err = lock_waiting(&other, &path, Duration::from_millis(50)).unwrap_err();
        assert!(
            format!("{err:#}").contains("h.jsonl stayed locked"),
            "{err:#}"
        );
        drop(held);
        lock_waiting(&other, &path, Duration::ZERO).unwrap();
    }

    #[test]
    fn the_holder_is_described_from_its_lines() {
        assert_eq!(
            describe_holder("pid 42\nstarted 2026-11-28T08:00:00Z\ncommand xtask bump\n"),
            "held by pid 42 since 2026-11-28T08:00:00Z, running `xtask bump`"
        );
        assert_eq!(describe_holder("garbage"), "held by pid unknown");
    }
}
