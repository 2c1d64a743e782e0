//! Unit tests of `xtask::model::artifacts`.

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::Result;

use xtask::model::artifacts::*;

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

/// Three files, one of them new, replaced together; `crash_at` makes the write stop
/// (panic) after that step, as a killed process would.
fn write_three(dir: &Path, crash_at: Option<&str>) -> std::thread::Result<Result<()>> {
    let files = vec![
        (dir.join("a/archive.json"), b"archived".to_vec()),
        (dir.join("a/LOG.md"), b"log 2".to_vec()),
        (dir.join("baseline.json"), b"baseline 2".to_vec()),
    ];
    let claimed = vec![dir.join("report.md")];
    std::fs::write(&claimed[0], "").unwrap();
    let journal = dir.join(".journal.json");
    let crash_at = crash_at.map(str::to_string);
    std::panic::catch_unwind(move || {
        replace_together(&journal, &files, &claimed, &mut |step| {
            if crash_at.as_deref() == Some(step) {
                panic!("crash after {step}");
            }
        })
    })
}

/// Every file under `dir`, relative, with its content.
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn old_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("a/LOG.md"), "log 1").unwrap();
    std::fs::write(dir.join("baseline.json"), "baseline 1").unwrap();
}

#[test]
fn files_replaced_together_end_up_all_old_or_all_new_whatever_step_a_crash_hits() {
    let new = {
        let dir = tempfile::tempdir().unwrap();
        old_tree(dir.path());
        write_three(dir.path(), None).unwrap().unwrap();
        tree(dir.path())
    };
    let names: Vec<&str> = new.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["a/LOG.md", "a/archive.json", "baseline.json", "report.md"]
    );
    let steps = [
        ("prepared", false),
        ("staged", false),
        ("committed", true),
        ("renamed-1", true),
        ("renamed-2", true),
        ("renamed-3", true),
        ("finished", true),
    ];
    for (step, committed) in steps {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        old_tree(d);
        let old = tree(d);
        assert!(write_three(d, Some(step)).is_err(), "{step}");
        let pending = journal_pending(&d.join(".journal.json"));
        assert_eq!(pending, step != "finished", "{step}");
        let note = recover_journal(&d.join(".journal.json")).unwrap();
        assert_eq!(note.is_some(), pending, "{step}");
        if committed {
            assert_eq!(tree(d), new, "after a crash at {step}");
        } else {
            // Undone, down to the claimed empty report.
            assert_eq!(tree(d), old, "after a crash at {step}");
            assert!(note.unwrap().contains("had not committed"), "{step}");
        }
        // Recovering twice changes nothing.
        assert_eq!(recover_journal(&d.join(".journal.json")).unwrap(), None);
    }
}

#[test]
fn a_journal_torn_while_written_is_removed_and_the_previous_one_stands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    old_tree(d);
    let old = tree(d);
    // Crashed while staging, then while writing the commit record.
    assert!(write_three(d, Some("staged")).is_err());
    std::fs::write(d.join("..journal.json.staged"), "{\"journal_ver").unwrap();
    let note = recover_journal(&d.join(".journal.json")).unwrap().unwrap();
    assert!(note.contains("had not committed"), "{note}");
    assert_eq!(tree(d), old);
    // With no journal at all, a torn first journal is just removed.
    std::fs::write(d.join("..journal.json.staged"), "{").unwrap();
    assert_eq!(recover_journal(&d.join(".journal.json")).unwrap(), None);
    assert!(!d.join("..journal.json.staged").exists());
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
