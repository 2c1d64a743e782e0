//! Where run artifacts go and how files that matter are written: timestamps for names,
//! atomic replace (temp file + rename) so a crash never leaves half a baseline, and
//! `replace_together` with its journal so a crash never leaves half a set of files.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Current UTC time as RFC 3339 with seconds, e.g. `2026-11-22T08:01:02Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// A compact UTC timestamp for artifact file names, e.g. `20261122T080102Z`.
pub fn file_stamp() -> String {
    now_rfc3339().replace(['-', ':'], "")
}

/// Claims a timestamp for one run's artifacts, `<dir>/<prefix>_<stamp>.<ext>` for each of
/// `names`, each created empty with `create_new` so that two runs never share a name. When a
/// name is taken, the files just created are removed and the next stamp is tried: `-2`, ...
pub fn claim<S: AsRef<str>>(dir: &Path, names: &[(S, &str)]) -> Result<String> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating artifacts directory {}", dir.display()))?;
    let base = file_stamp();
    'stamps: for n in 1..=10_000 {
        let stamp = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let mut created = Vec::with_capacity(names.len());
        for (prefix, ext) in names {
            let path = dir.join(format!("{}_{stamp}.{ext}", prefix.as_ref()));
            if let Err(e) = OpenOptions::new().write(true).create_new(true).open(&path) {
                for p in &created {
                    let _ = std::fs::remove_file(p);
                }
                if e.kind() == ErrorKind::AlreadyExists {
                    continue 'stamps;
                }
                return Err(e).with_context(|| format!("creating {}", path.display()));
            }
            created.push(path);
        }
        return Ok(stamp);
    }
    bail!(
        "no free artifact name in {} after 10000 tries; clean it up",
        dir.display()
    )
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync, rename.
/// The file keeps the permissions of the one it replaces; a new file gets those of a plain
/// create (0666 less the umask, so usually 0644), not the temp file's private 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .permissions(Permissions::from_mode(CREATE_MODE))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    fill(tmp.as_file_mut(), path, bytes, path)?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// The mode a new file is created with before the umask, as `File::create` does.
const CREATE_MODE: u32 = 0o666;

/// The directory a file at `path` lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Gives `file`, about to replace `target`, the permissions `target` has (when it exists),
/// then writes `bytes` to it and fsyncs it; a failed write names `shown`.
fn fill(file: &mut File, target: &Path, bytes: &[u8], shown: &Path) -> Result<()> {
    match std::fs::metadata(target) {
        Ok(meta) => file
            .set_permissions(meta.permissions())
            .with_context(|| format!("copying the permissions of {}", target.display()))?,
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e)
                .with_context(|| format!("reading the permissions of {}", target.display()));
        }
    }
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", shown.display()))
}

/// Where `replace_together` stages the new content of `target`: a hidden file next to it
/// (same directory, so the rename is atomic), `.<name>.staged`.
fn staged_path(target: &Path) -> PathBuf {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    parent_dir(target).join(format!(".{name}.staged"))
}

/// Writes `bytes` to `staged_path(target)` and fsyncs it, with the permissions `target` will
/// keep. A leftover file of that name (from an interrupted run) is replaced.
fn stage(target: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let staged = staged_path(target);
    let dir = parent_dir(target);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    remove_if_present(&staged)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(CREATE_MODE)
        .open(&staged)
        .with_context(|| format!("creating {}", staged.display()))?;
    fill(&mut file, target, bytes, &staged)?;
    Ok(staged)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        done => done.with_context(|| format!("removing {}", path.display())),
    }
}

/// Makes the entries of `dir` (new names, renames, removals) durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

/// Writes `bytes` to `path` atomically through its staged name, then makes the rename durable.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let staged = stage(path, bytes)?;
    std::fs::rename(&staged, path).with_context(|| format!("replacing {}", path.display()))?;
    sync_dir(parent_dir(path))
}

/// Replaces several files as one: after a crash at any point, either none of them changed or,
/// once the next `recover_journal` has run, all of them did. The journal (naming every staged,
/// target and `claimed` file) is written as `staging`, the contents are staged and fsynced,
/// the journal is rewritten as `committed` (the commit point), the staged files are renamed
/// over their targets, and the journal is removed; nothing is written under a random name.
/// `step` is called after each step (`prepared`, `staged`, `committed`, `renamed-1`, ...,
/// `finished`) so a test can stop there. The caller must hold a lock that keeps every other
/// writer out.
pub fn replace_together(
    journal: &Path,
    files: &[(PathBuf, Vec<u8>)],
    claimed: &[PathBuf],
    step: &mut dyn FnMut(&str),
) -> Result<()> {
    let absolute =
        |p: &Path| std::path::absolute(p).with_context(|| format!("resolving {}", p.display()));
    let mut record = JournalRecord {
        journal_version: JOURNAL_VERSION,
        state: JournalState::Staging,
        written_by: format!("pid {} at {}", std::process::id(), now_rfc3339()),
        renames: files
            .iter()
            .map(|(target, _)| {
                Ok(Rename {
                    staged: absolute(&staged_path(target))?,
                    target: absolute(target)?,
                })
            })
            .collect::<Result<_>>()?,
        claimed: claimed.iter().map(|p| absolute(p)).collect::<Result<_>>()?,
    };
    if journal.exists() {
        bail!(
            "{} exists: an earlier write is unfinished; recover it first",
            journal.display()
        );
    }
    write_durably(journal, &pretty_json(&record, "the journal")?)?;
    step("prepared");
    for (target, bytes) in files {
        stage(target, bytes)?;
    }
    let dirs: BTreeSet<&Path> = files.iter().map(|(target, _)| parent_dir(target)).collect();
    dirs.iter().try_for_each(|dir| sync_dir(dir))?;
    step("staged");
    record.state = JournalState::Committed;
    write_durably(journal, &pretty_json(&record, "the journal")?)?;
    step("committed");
    for (i, rename) in record.renames.iter().enumerate() {
        std::fs::rename(&rename.staged, &rename.target)
            .with_context(|| format!("replacing {}", rename.target.display()))?;
        step(&format!("renamed-{}", i + 1));
    }
    dirs.iter().try_for_each(|dir| sync_dir(dir))?;
    std::fs::remove_file(journal).with_context(|| format!("removing {}", journal.display()))?;
    sync_dir(parent_dir(journal))?;
    step("finished");
    Ok(())
}

/// Whether a `replace_together` left its journal behind (it was interrupted).
pub fn journal_pending(journal: &Path) -> bool {
    journal.exists()
}

/// Finishes or undoes what an interrupted `replace_together` left: a journal still `staging`
/// is undone (its staged and still-empty claimed files removed), a `committed` one finished
/// (a staged file that is gone was already moved). `None` when there was nothing to do, else
/// a sentence saying what was done. The caller holds the same lock as the writer did.
pub fn recover_journal(journal: &Path) -> Result<Option<String>> {
    // A journal that was being written when the process died: the journal before it, if
    // any, still says what to do.
    remove_if_present(&staged_path(journal))?;
    if !journal.exists() {
        return Ok(None);
    }
    let text = crate::model::json::read_input(journal, MAX_JOURNAL_BYTES)?;
    let record: JournalRecord = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a journal this xtask can read; look at the files it names and delete it",
            journal.display()
        )
    })?;
    let done = match record.state {
        JournalState::Staging => {
            for rename in &record.renames {
                remove_if_present(&rename.staged)?;
            }
            for claimed in &record.claimed {
                // Only while still empty: an artifact name claimed but never written.
                if std::fs::metadata(claimed).is_ok_and(|m| m.len() == 0) {
                    remove_if_present(claimed)?;
                }
            }
            format!(
                "undid an interrupted write ({}) that had not committed: removed what it had staged; none of its {} file(s) had been replaced",
                record.written_by,
                record.renames.len()
            )
        }
        JournalState::Committed => {
            let mut moved = Vec::new();
            let mut missing = Vec::new();
            for rename in &record.renames {
                if rename.staged.exists() {
                    std::fs::rename(&rename.staged, &rename.target).with_context(|| {
                        format!(
                            "finishing the write journalled in {}: replacing {}",
                            journal.display(),
                            rename.target.display()
                        )
                    })?;
                    moved.push(rename.target.display().to_string());
                } else if !rename.target.exists() {
                    missing.push(rename.target.display().to_string());
                }
                let _ = sync_dir(parent_dir(&rename.target));
            }
            let mut done = format!(
                "finished an interrupted write ({}) that had committed: {}",
                record.written_by,
                if moved.is_empty() {
                    "every file was already in place".to_string()
                } else {
                    format!("moved {} into place", moved.join(", "))
                }
            );
            if !missing.is_empty() {
                done.push_str(&format!(
                    "; {} neither staged nor in place (deleted by hand?)",
                    missing.join(", ")
                ));
            }
            done
        }
    };
    std::fs::remove_file(journal).with_context(|| format!("removing {}", journal.display()))?;
    sync_dir(parent_dir(journal))?;
    Ok(Some(done))
}

const JOURNAL_VERSION: u32 = 1;
/// A journal names a handful of files; anything larger is not one.
const MAX_JOURNAL_BYTES: u64 = 1 << 20;

/// The journal of a `replace_together`.
#[derive(Debug, Serialize, Deserialize)]
struct JournalRecord {
    journal_version: u32,
    state: JournalState,
    /// Which process wrote it and when, for the recovery message and a curious reader.
    written_by: String,
    /// In the order they are done; absolute paths, so recovery works from any directory.
    renames: Vec<Rename>,
    /// Files created empty for this write (claimed names), removed when it is undone.
    #[serde(default)]
    claimed: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum JournalState {
    /// Files are being staged; nothing is replaced yet. Recovery undoes it.
    Staging,
    /// Every file is staged and durable; the renames are on. Recovery finishes it.
    Committed,
}

#[derive(Debug, Serialize, Deserialize)]
struct Rename {
    staged: PathBuf,
    target: PathBuf,
}

/// Pretty JSON with a trailing newline, as xtask writes every JSON file; `what` names it in
/// the error.
pub fn pretty_json(value: &impl Serialize, what: &str) -> Result<Vec<u8>> {
    let mut text = serde_json::to_vec_pretty(value).with_context(|| format!("encoding {what}"))?;
    text.push(b'\n');
    Ok(text)
}

/// Pretty JSON with a trailing newline, written atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    write_atomic(path, &pretty_json(value, "JSON")?)
}

/// The most recently modified file in `dir` whose name `pick` accepts (on a tie the greater
/// name); `None` when no name is.
pub fn newest_file(dir: &Path, pick: impl Fn(&str) -> bool) -> std::io::Result<Option<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| pick(&e.file_name().to_string_lossy()))
        .max_by_key(|e| (e.metadata().and_then(|m| m.modified()).ok(), e.path()))
        .map(|e| e.path()))
}
