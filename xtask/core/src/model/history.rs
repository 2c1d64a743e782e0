//! The history store: one compact JSON record per bench or gate run, one per line, appended to
//! `perf/history.jsonl` (or `--history PATH`); the format is documented in perf/README.md.
//! Appends never rewrite earlier lines (one `O_APPEND` write of a whole line under a flock),
//! so a crash can at worst leave a torn last line. Reading is bounded and per line: a line
//! that is not UTF-8 or not a record is a warning, never the end of the read.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::model::run_file::RunFile;

/// Where `--history` without a path (and `perf-history`) puts the store, under the workspace.
pub const DEFAULT_PATH: &str = "perf/history.jsonl";

/// Version of the record shape; bumped only when a field changes meaning.
pub const FORMAT_VERSION: u32 = 1;

/// Largest history store read: about 150,000 records. A store is read whole, so a larger one
/// (or an endless one, like `/dev/zero`) is refused rather than filling memory.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// How long an append waits for another process's append to the same file: each holds the
/// lock for one write and an fsync.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// One run in the history. Unknown fields are ignored on reading, so records may grow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Always `FORMAT_VERSION` when written by this version.
    pub history_version: u32,
    /// When the run was measured (the run file's `timestamp`), RFC 3339 UTC.
    pub timestamp: String,
    /// The measured commit and whether the work tree had uncommitted changes.
    pub commit: Option<String>,
    pub dirty: Option<bool>,
    pub workload: String,
    /// `env.fingerprint` of the run: runs are only comparable within one fingerprint.
    pub env_fingerprint: Option<String>,
    /// Which command appended it: `perf-bench` or `perf-gate`.
    pub source: String,
    /// The run's `run.status` (`ok`, `failed`, `timeout`); trends use only `ok` runs.
    pub status: String,
    /// The gate's outcome (`pass`, `fail`, `bench_failed`, `input_error`); absent for a bench.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Trials the medians are over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials: Option<u64>,
    /// The median over trials of every metric that has a finite value.
    pub metrics: BTreeMap<String, f64>,
}

impl Record {
    /// The record of a run file; `source` and `verdict` say who appends it.
    pub fn from_run(run: &RunFile, source: &str, verdict: Option<&str>) -> Record {
        // A run file without a status says by its failure whether it completed.
        let status = run.run.failure().map_or("ok", |_| "failed");
        Record {
            history_version: FORMAT_VERSION,
            timestamp: run
                .timestamp
                .clone()
                .unwrap_or_else(crate::model::artifacts::now_rfc3339),
            commit: run.git.commit.clone(),
            dirty: run.git.dirty,
            workload: run.workload.clone().unwrap_or_else(|| "unknown".into()),
            env_fingerprint: run.env.fingerprint.clone(),
            source: source.to_string(),
            status: run.run.status.clone().unwrap_or_else(|| status.into()),
            verdict: verdict.map(str::to_string),
            trials: run.trials.map(u64::from),
            metrics: run
                .metrics
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.number()?)))
                .collect(),
        }
    }
}

/// The default store is the workspace's `perf/history.jsonl` wherever the command starts;
/// any other path is taken as given (relative to the current directory).
pub fn resolve(path: &Path) -> PathBuf {
    if path == Path::new(DEFAULT_PATH) {
        crate::model::paths::perf_root().join(path)
    } else {
        path.to_path_buf()
    }
}

/// Appends one record as one line, on a fresh line after a torn last one. The file is locked
/// (flock) from that check to the fsync, so concurrent appends neither interleave nor both
/// "repair" the same torn line. A failed write is an error at once (exit 2), not retried.
pub fn append(path: &Path, record: &Record) -> Result<()> {
    let dir = crate::model::artifacts::parent_dir(path);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    crate::model::lock::lock_waiting(&file, path, LOCK_WAIT)?;
    let mut line = String::new();
    if ends_torn(&mut file).with_context(|| format!("reading {}", path.display()))? {
        line.push('\n');
    }
    line.push_str(&serde_json::to_string(record).context("encoding a history record")?);
    line.push('\n');
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| {
            format!(
                "appending to {}: the run was not recorded in the history (the write is not \
                 retried; exit 2)",
                path.display()
            )
        })
    // Closing the file releases the lock.
}

/// True when the file is not empty and does not end with a newline.
fn ends_torn(file: &mut std::fs::File) -> std::io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// A history file as read: the good records and every line that is not one.
#[derive(Debug, Default)]
pub struct History {
    /// (1-based line number, record), in file order, which is run order.
    pub records: Vec<(usize, Record)>,
    /// Lines that could not be used, each naming its line number; never silently dropped.
    pub problems: Vec<String>,
}

/// Reads a history file: a missing file is an error naming the fix, and so is one larger than
/// `MAX_BYTES`.
pub fn read(path: &Path) -> Result<History> {
    let bytes = read_bounded(path, MAX_BYTES)?;
    Ok(parse_bytes(&bytes, &path.display().to_string()))
}

/// The whole file, refusing more than `max` bytes without reading much beyond them.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (record runs into it with `cargo xtask perf-gate \
             --history` or `cargo xtask perf-bench --history`)"
        } else {
            ""
        };
        anyhow::Error::new(e).context(format!("reading {}{hint}", path.display()))
    })?;
    crate::model::json::read_limited(file, max)
        .with_context(|| format!("reading {}", path.display()))?
        .with_context(|| {
            format!(
                "{} is larger than the history store's limit of {} MiB; keep its newest lines \
                 (e.g. `tail -n 100000`) in a new file",
                path.display(),
                max >> 20
            )
        })
}

/// Parses history text; `source` names it in problems.
pub fn parse(text: &str, source: &str) -> History {
    parse_bytes(text.as_bytes(), source)
}

/// Parses a history file's bytes; `source` names it in problems. A line that is not UTF-8 is
/// reported with its number and skipped, as any other line that is not a record.
pub fn parse_bytes(bytes: &[u8], source: &str) -> History {
    let mut history = History::default();
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let number = i + 1;
        // Only the last line can lack its newline: a torn tail.
        let (line, is_tail) = line
            .strip_suffix(b"\n")
            .map_or((line, true), |l| (l, false));
        let line = match std::str::from_utf8(line) {
            Ok(line) => line,
            Err(e) => {
                let column = e.valid_up_to() + 1;
                history.problems.push(format!(
                    "{source}:{number}: not UTF-8 (invalid byte at column {column}); the line is \
                     ignored"
                ));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) if !is_tail => history.records.push((number, r)),
            Ok(_) => history.problems.push(format!(
                "{source}:{number}: the last line has no trailing newline (an append was \
                 interrupted); it is ignored"
            )),
            Err(e) if is_tail => history.problems.push(format!(
                "{source}:{number}: torn last line (an append was interrupted): {e}; it is \
                 ignored, and the next append starts on a fresh line"
            )),
            Err(e) => history
                .problems
                .push(format!("{source}:{number}: not a history record: {e}")),
        }
    }
    history
}

// Tests of private helpers; the public interface is tested in tests/it/unit/history.rs.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        std::fs::write(&path, [b'x'; 100]).unwrap();
        assert_eq!(read_bounded(&path, 100).unwrap().len(), 100);
        let err = read_bounded(&path, 99).unwrap_err();
        assert!(
            format!("{err:#}").contains("history.jsonl is larger than"),
            "{err:#}"
        );
        // An endless device stops one byte past the limit.
        let err = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            format!("{err:#}").contains("/dev/zero is larger than"),
            "{err:#}"
        );
    }
}
