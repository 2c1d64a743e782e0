//! `cargo xtask install-hooks` and the pre-push hook it installs, each in a temporary git
//! repository with a bare repository as its remote. The hook's gate is replaced by a fake
//! (`PERF_GATE_CMD`), so no test benchmarks anything.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const HOOK: &str = include_str!("../../../ci/hooks/pre-push");
const ZERO: &str = "0000000000000000000000000000000000000000";

struct Repo {
    _dir: tempfile::TempDir,
    work: PathBuf,
    remote: PathBuf,
}

/// Keeps a command away from the user's and the test runner's git setup (global config, an
/// enclosing hook's `GIT_DIR`) and from a `PERF_GATE*` the developer may have exported, so it
/// behaves the same everywhere.
fn isolate(cmd: &mut Command) -> &mut Command {
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("PERF_GATE")
        .env_remove("PERF_GATE_CMD")
        .env_remove("PERF_GATE_POLICY")
}

fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    isolate(&mut cmd).current_dir(dir);
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Repo {
    /// A repository with a policy watching `router/` and `perf/`, a router file and a doc,
    /// committed and pushed to `origin` (a bare repository) as `main`.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let remote = dir.path().join("remote.git");
        std::fs::create_dir_all(&work).unwrap();
        let repo = Repo {
            _dir: dir,
            work,
            remote,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        let remote = repo.remote.to_str().unwrap().to_string();
        repo.git(&["init", "-q", "--bare", "-b", "main", &remote]);
        repo.git(&["config", "user.name", "Hook Test"]);
        repo.git(&["config", "user.email", "hook-test@example.invalid"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo.git(&["remote", "add", "origin", &remote]);
        repo.write(
            "perf/policy_cp1.json",
            r#"{"schema_version": 1, "gate": {"watch_paths": ["router/", "perf/", "Cargo.lock"]}, "rules": {}}"#,
        );
        repo.write("router/src/lib.rs", "pub fn route() {}\n");
        repo.write("docs/notes.md", "notes\n");
        repo.commit("initial");
        repo.git(&["push", "-q", "--no-verify", "origin", "main"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let out = git_command(&self.work).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    fn write(&self, rel: &str, content: &str) {
        let path = self.work.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Commits everything and returns the new commit.
    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn hook_path(&self) -> PathBuf {
        self.work.join(".git/hooks/pre-push")
    }

    fn install(&self, extra: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        isolate(&mut cmd)
            .arg("install-hooks")
            .args(extra)
            .current_dir(&self.work)
            .output()
            .expect("running xtask install-hooks")
    }

    /// Runs the installed hook as git would (from the work tree, with the remote's name and
    /// URL as arguments), with the pre-push protocol's lines on stdin.
    fn run_hook(&self, stdin: &str, envs: &[(&str, &str)]) -> Output {
        let mut hook = Command::new(self.hook_path());
        isolate(&mut hook)
            .arg("origin")
            .arg(&self.remote)
            .current_dir(&self.work)
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        bounded(hook, stdin)
    }
}

/// Runs `cmd` with `stdin`, and fails the test if it takes more than 30 s: the hook with a
/// fake gate does a few git calls and nothing else.
fn bounded(mut cmd: Command, stdin: &str) -> Output {
    let started = Instant::now();
    let mut child = cmd.spawn().expect("starting the hook");
    // A hook may exit without reading its stdin (PERF_GATE=skip does), so a broken pipe
    // here is not a failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    out
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

const FAKE_PASS: (&str, &str) = ("PERF_GATE_CMD", "echo gate-ran; exit 0");
const FAKE_FAIL: (&str, &str) = ("PERF_GATE_CMD", "echo gate-ran; exit 1");

#[test]
fn install_hooks_is_idempotent() {
    let repo = Repo::new();
    let out = repo.install(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("installed the pre-push hook"),
        "{}",
        text(&out.stderr)
    );
    let first = std::fs::read_to_string(repo.hook_path()).unwrap();
    assert_eq!(first, HOOK);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(repo.hook_path()).unwrap().permissions(),
    );
    assert_ne!(mode & 0o111, 0, "the hook is executable");

    let out = repo.install(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("already installed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(repo.hook_path()).unwrap(), first);
    assert!(!repo.work.join(".git/hooks/pre-push.bak").exists());
}

#[test]
fn install_hooks_keeps_a_foreign_hook_unless_forced() {
    let repo = Repo::new();
    let mine = "#!/bin/sh\necho my own hook\n";
    std::fs::create_dir_all(repo.hook_path().parent().unwrap()).unwrap();
    std::fs::write(repo.hook_path(), mine).unwrap();

    let out = repo.install(&[]);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(repo.hook_path()).unwrap(), mine);

    let out = repo.install(&["--force"]);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(stderr.contains("pre-push.bak"), "{stderr}");
    assert_eq!(std::fs::read_to_string(repo.hook_path()).unwrap(), HOOK);
    assert_eq!(
        std::fs::read_to_string(repo.work.join(".git/hooks/pre-push.bak")).unwrap(),
        mine
    );
}

#[test]
fn install_hooks_outside_a_repository_is_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    let out = isolate(&mut cmd)
        .arg("install-hooks")
        .current_dir(dir.path())
        .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("git"), "{}", text(&out.stderr));
}

#[test]
fn hook_skips_when_no_watched_path_changed() {
    let repo = Repo::new();
    repo.install(&[]);
    let before = repo.git(&["rev-parse", "HEAD"]);
    repo.write("docs/notes.md", "more notes\n");
    let after = repo.commit("docs only");

    let line = format!("refs/heads/main {after} refs/heads/main {before}\n");
    let out = repo.run_hook(&line, &[FAKE_PASS]);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(!text(&out.stdout).contains("gate-ran"), "{stderr}");
    assert!(stderr.contains("skipped"), "{stderr}");
    assert!(stderr.contains("watched path"), "{stderr}");
}

#[test]
fn hook_runs_the_gate_when_a_watched_path_changed() {
    let repo = Repo::new();
    repo.install(&[]);
    let before = repo.git(&["rev-parse", "HEAD"]);
    repo.write("router/src/lib.rs", "pub fn route() { /* faster */ }\n");
    let after = repo.commit("router change");
    let line = format!("refs/heads/main {after} refs/heads/main {before}\n");

    let out = repo.run_hook(&line, &[FAKE_PASS]);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(text(&out.stdout).contains("gate-ran"), "{stderr}");
    assert!(stderr.contains("router/src/lib.rs"), "{stderr}");
    assert!(stderr.contains("PERF_GATE=skip git push"), "{stderr}");
    assert!(stderr.contains("--no-verify"), "{stderr}");

    // A failing gate stops the push with the gate's exit code and says how to bypass it.
    let out = repo.run_hook(&line, &[FAKE_FAIL]);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 1, "{stderr}");
    assert!(stderr.contains("perf gate failed (exit 1)"), "{stderr}");
    assert!(stderr.contains("PERF_GATE=skip git push"), "{stderr}");
}

#[test]
fn hook_honours_perf_gate_skip() {
    let repo = Repo::new();
    repo.install(&[]);
    let before = repo.git(&["rev-parse", "HEAD"]);
    repo.write(
        "perf/policy_cp1.json",
        r#"{"gate": {"watch_paths": ["router/", "perf/"]}}"#,
    );
    let after = repo.commit("policy change");
    let line = format!("refs/heads/main {after} refs/heads/main {before}\n");

    let out = repo.run_hook(&line, &[FAKE_FAIL, ("PERF_GATE", "skip")]);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(!text(&out.stdout).contains("gate-ran"), "{stderr}");
    assert!(stderr.contains("PERF_GATE=skip"), "{stderr}");
}

#[test]
fn hook_handles_new_branches_and_deletions() {
    let repo = Repo::new();
    repo.install(&[]);
    // A new branch whose only commit beyond origin/main touches docs: skipped.
    repo.git(&["checkout", "-q", "-b", "docs"]);
    repo.write("docs/notes.md", "branch notes\n");
    let docs = repo.commit("docs on a branch");
    let out = repo.run_hook(
        &format!("refs/heads/docs {docs} refs/heads/docs {ZERO}\n"),
        &[FAKE_FAIL],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("skipped"),
        "{}",
        text(&out.stderr)
    );

    // A further commit on the branch touches Cargo.lock, a watched path: the gate runs.
    repo.write("Cargo.lock", "# lock\n");
    let lock = repo.commit("lock file");
    let out = repo.run_hook(
        &format!("refs/heads/docs {lock} refs/heads/docs {ZERO}\n"),
        &[FAKE_FAIL],
    );
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("gate-ran"));

    // Deleting a remote branch sends no code.
    let head = repo.git(&["rev-parse", "HEAD"]);
    let out = repo.run_hook(
        &format!("(delete) {ZERO} refs/heads/old {head}\n"),
        &[FAKE_FAIL],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("gate-ran"));
}

#[test]
fn git_push_runs_the_installed_hook() {
    let repo = Repo::new();
    repo.install(&[]);
    repo.write("router/src/lib.rs", "pub fn route() { /* slower */ }\n");
    repo.commit("router change");

    let push = |fake: (&str, &str)| {
        let mut cmd = git_command(&repo.work);
        cmd.args(["push", "origin", "main"])
            .env(fake.0, fake.1)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        bounded(cmd, "")
    };
    let out = push(FAKE_FAIL);
    let stderr = text(&out.stderr);
    assert_ne!(code(&out), 0, "a failing gate stops the push: {stderr}");
    assert!(stderr.contains("perf gate failed"), "{stderr}");
    let remote_head = git_command(&repo.remote)
        .args(["rev-parse", "main"])
        .output()
        .unwrap();
    assert_ne!(
        text(&remote_head.stdout).trim(),
        repo.git(&["rev-parse", "HEAD"]),
        "the remote did not get the commit"
    );

    let out = push(FAKE_PASS);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let remote_head = git_command(&repo.remote)
        .args(["rev-parse", "main"])
        .output()
        .unwrap();
    assert_eq!(
        text(&remote_head.stdout).trim(),
        repo.git(&["rev-parse", "HEAD"])
    );
}

#[test]
fn hook_reads_watch_paths_without_python() {
    let repo = Repo::new();
    repo.install(&[]);
    // A multi-line policy that watches docs/ only, read by the sed fallback: a `python3` that
    // fails comes first on PATH.
    repo.write(
        "perf/policy_cp1.json",
        "{\n  \"gate\": {\n    \"watch_paths\": [\n      \"docs/\",\n      \"Cargo.lock\"\n    ]\n  }\n}\n",
    );
    let before = repo.commit("watch docs");
    let fake_bin = repo.work.join("../fake-bin");
    std::fs::create_dir_all(&fake_bin).unwrap();
    let python = fake_bin.join("python3");
    std::fs::write(&python, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&python, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        fake_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    repo.write("docs/notes.md", "watched now\n");
    let after = repo.commit("docs change");
    let line = format!("refs/heads/main {after} refs/heads/main {before}\n");
    let out = repo.run_hook(&line, &[FAKE_PASS, ("PATH", &path)]);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(text(&out.stdout).contains("gate-ran"), "{stderr}");
    assert!(stderr.contains("docs/ Cargo.lock"), "{stderr}");

    repo.write(
        "router/src/lib.rs",
        "pub fn route() { /* unwatched now */ }\n",
    );
    let router = repo.commit("router change");
    let line = format!("refs/heads/main {router} refs/heads/main {after}\n");
    let out = repo.run_hook(&line, &[FAKE_FAIL, ("PATH", &path)]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("skipped"),
        "{}",
        text(&out.stderr)
    );
}
