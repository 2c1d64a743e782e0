//! Where run artifacts go and how files that matter are written: timestamps for names,
//! atomic replace (temp file + rename) so a crash never leaves half a baseline.

use std::io::Write;
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
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
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
