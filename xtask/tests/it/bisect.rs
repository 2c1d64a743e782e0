//! `perf-bisect` over a scratch repository: the workspace's router crate in a minimal
//! workspace, a good commit, then four commits of which one adds work to every decision.
//! The routers are built in the dev profile (`--debug-build`), in the shared
//! `target/paired/build`, so dependencies are compiled once.

use std::path::Path;
use std::process::{Command, Output};

use super::bench::{binaries, have_valgrind, root, serial};

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Edits `file` in `repo` with `edit` and commits it; returns the commit.
fn commit(repo: &Path, file: &str, subject: &str, edit: impl FnOnce(String) -> String) -> String {
    let path = repo.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, edit(text)).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", subject]);
    git(repo, &["rev-parse", "HEAD"])
}

/// The scratch repository: (its directory, the good commit, the commits after it).
fn scratch() -> (tempfile::TempDir, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let copied = Command::new("cp")
        .arg("-r")
        .arg(root().join("router"))
        .arg(root().join("Cargo.lock"))
        .arg(repo)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::write(
        repo.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"router\"]\n\n[workspace.package]\n\
         edition = \"2024\"\nlicense = \"MIT OR Apache-2.0\"\npublish = false\n",
    )
    .unwrap();
    git(repo, &["init", "--quiet"]);
    let good = commit(repo, "NOTES", "good: the router as it is", |_| {
        "notes\n".into()
    });
    let service = "router/src/service.rs";
    let call = "burn_cpu(self.config.slowdown_iters);";
    let after = vec![
        commit(repo, "NOTES", "notes only", |t| t + "more notes\n"),
        commit(repo, service, "a comment in the request path", |t| {
            t.replacen(
                call,
                &format!("// A comment changes no instruction.\n        {call}"),
                1,
            )
        }),
        commit(repo, service, "decide: extra work on every decision", |t| {
            assert!(t.contains(call));
            t.replacen(call, "burn_cpu(self.config.slowdown_iters + 5_000);", 1)
        }),
        commit(repo, "NOTES", "notes after the slowdown", |t| {
            t + "even more\n"
        }),
    ];
    (dir, good, after)
}

fn bisect(repo: &Path, artifacts: &Path, extra: &[&str]) -> Output {
    let (_, loadgen) = binaries();
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("perf-bisect")
        .args(extra)
        .arg("--loadgen-bin")
        .arg(loadgen)
        .arg("--artifacts-dir")
        .arg(artifacts)
        .current_dir(repo)
        .env_remove("ROUTER_TEST_SLOWDOWN_ITERS")
        .output()
        .unwrap()
}

#[test]
fn bisect_on_counts_names_the_commit_that_added_work() {
    if !have_valgrind("bisect_on_counts_names_the_commit_that_added_work") {
        return;
    }
    let _serial = serial();
    let (dir, good, after) = scratch();
    let artifacts = dir.path().join("artifacts");
    let started = std::time::Instant::now();
    let out = bisect(
        dir.path(),
        &artifacts,
        &[
            "--good",
            &good,
            "--bad",
            "HEAD",
            "--debug-build",
            "--counter-requests",
            "100",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "perf-bisect in {:.0} s:\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let bad = &after[2][..12];
    assert!(
        stdout.contains(&format!(
            "first bad commit: {bad} decide: extra work on every decision"
        )),
        "{stdout}"
    );
    // Every step prints its commit, subject and change; the bad end is tried first.
    let steps: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("good ") || l.starts_with("bad "))
        .collect();
    assert!(steps.len() >= 3, "{stdout}");
    assert!(
        steps[1].starts_with(&format!(
            "bad   {} notes after the slowdown",
            &after[3][..12]
        )),
        "{stdout}"
    );
    assert!(
        steps.iter().skip(1).all(|l| l.contains("% against --good")),
        "{stdout}"
    );
    let log = std::fs::read_dir(&artifacts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("perf_bisect_<ts>.log");
    assert_eq!(std::fs::read_to_string(log).unwrap().trim(), stdout.trim());

    // A second bisect builds nothing again: every router is cached per commit.
    let out = bisect(
        dir.path(),
        &artifacts,
        &[
            "--good",
            &after[2],
            "--bad",
            "HEAD",
            "--debug-build",
            "--counter-requests",
            "100",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The commit after the bad one is no regression of the bad one: not found.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("building the router"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("not found"));
}

#[test]
fn bisect_refuses_a_dirty_tree_and_refs_out_of_order() {
    let (dir, good, after) = scratch();
    let artifacts = dir.path().join("artifacts");
    let run =
        |good: &str, bad: &str| bisect(dir.path(), &artifacts, &["--good", good, "--bad", bad]);
    let out = run(&after[3], &good);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be an ancestor of --bad"));
    let out = run("no-such-ref", "HEAD");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--good no-such-ref: not a commit"));
    std::fs::write(dir.path().join("NOTES"), "edited\n").unwrap();
    let out = run(&good, "HEAD");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("uncommitted changes") && stderr.contains("NOTES"),
        "{stderr}"
    );
    // Refused before anything ran: no artifacts.
    assert!(!artifacts.exists());
}

#[test]
fn bisect_help_states_its_exit_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf-bisect", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for line in [
        "0  found",
        "1  not found",
        "2  bad usage",
        "3  a step's benchmark",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(!text.contains("--debug-build"), "hidden: {text}");
}
