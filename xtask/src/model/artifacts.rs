//! Where run artifacts go and how files that matter are written: timestamps for names,
//! atomic replace (temp file + rename) so a crash never leaves half a baseline.

use std::io::Write;
use std::path::{Path, PathBuf};
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

/// Creates the artifacts directory if needed and returns `dir/<prefix>_<stamp>.<ext>`.
pub fn artifact_path(dir: &Path, prefix: &str, stamp: &str, ext: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating artifacts directory {}", dir.display()))?;
    Ok(dir.join(format!("{prefix}_{stamp}.{ext}")))
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
