//! Where run artifacts go and how files that matter are written: timestamps for names,
//! atomic replace (temp file + rename) so a crash never leaves half a baseline.

use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};

/// Current UTC time as RFC 3339 with seconds, e.g. `2026-11-22T08:01:02Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// A compact UTC timestamp for artifact file names, e.g. `20261122T080102Z`.
pub fn file_stamp() -> String {
    now_rfc3339().replace(['-', ':'], "")
}

/// Claims a timestamp for one run's artifacts, `<dir>/<prefix>_<stamp>.<ext>` for each of
/// `names`: each file is created empty with `create_new`, so two runs that start in the same
/// second never share a name, whatever the timing (a check-then-write could not promise
/// that). When any name is taken, the files just created are removed and the next stamp is
/// tried: `-2`, `-3`, ... Writers then replace the claimed files (atomically) or append to
/// them.
pub fn claim<S: AsRef<str>>(dir: &Path, names: &[(S, &str)]) -> Result<String> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating artifacts directory {}", dir.display()))?;
    let base = file_stamp();
    for n in 1..=10_000 {
        let stamp = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let mut created = Vec::with_capacity(names.len());
        let mut taken = false;
        for (prefix, ext) in names {
            let path = dir.join(format!("{}_{stamp}.{ext}", prefix.as_ref()));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => created.push(path),
                Err(e) => {
                    for p in &created {
                        let _ = std::fs::remove_file(p);
                    }
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        taken = true;
                        break;
                    }
                    return Err(e).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
        if !taken {
            return Ok(stamp);
        }
    }
    anyhow::bail!(
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
    keep_permissions(path, tmp.as_file())?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// The mode a new file is created with before the umask, as `File::create` does.
const CREATE_MODE: u32 = 0o666;

/// The directory a file at `path` lives in (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Gives `file`, about to replace `target`, the permissions `target` has, when it exists.
fn keep_permissions(target: &Path, file: &std::fs::File) -> Result<()> {
    match std::fs::metadata(target) {
        Ok(meta) => file
            .set_permissions(meta.permissions())
            .with_context(|| format!("copying the permissions of {}", target.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            Err(e).with_context(|| format!("reading the permissions of {}", target.display()))
        }
    }
}

/// Pretty JSON with a trailing newline, written atomically.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("encoding JSON")?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_has_no_separators() {
        let s = file_stamp();
        assert_eq!(s.len(), "20261122T080102Z".len(), "{s}");
        assert!(!s.contains(':') && !s.contains('-'));
    }

    #[test]
    fn claims_never_share_a_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let names = [("perf_gate", "json"), ("perf_gate", "log")];
        let stamps: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| claim(dir.path(), &names).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let distinct: std::collections::BTreeSet<_> = stamps.iter().collect();
        assert_eq!(distinct.len(), 8, "{stamps:?}");
        // Every claimed name exists, and nothing else does.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 16);
    }

    /// The mode bits of a file.
    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn atomic_write_keeps_the_mode_of_the_file_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("baseline.json");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(mode(&p), 0o640);
        std::fs::set_permissions(&p, Permissions::from_mode(0o664)).unwrap();
        write_atomic(&p, b"newer").unwrap();
        assert_eq!(mode(&p), 0o664);
    }

    #[test]
    fn atomic_write_gives_a_new_file_the_mode_of_a_plain_create() {
        // Not the temp file's 0600: what `File::create` gives under this umask (0644 under
        // the usual 022).
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let p = dir.path().join("new.json");
        write_atomic(&p, b"new").unwrap();
        assert_eq!(mode(&p), mode(&plain));
        assert_ne!(mode(&p), 0o600);
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        // Only the target remains: no temp files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
