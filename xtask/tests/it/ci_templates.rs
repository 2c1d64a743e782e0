//! The CI templates in `ci/` parse as YAML and keep the contract of perf/README.md ("In CI"):
//! an informational smoke gate on merge requests, a blocking gate on main, a scheduled full run,
//! retries on runner failures only, timeouts, and artifacts kept even when the gate fails.
//! A broken template fails here instead of in someone's first pipeline.

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

    // Scheduled: the full cp1 run and the ratchet.
    let rules = serde_yaml_ng::to_string(gitlab_key(&doc, "perf-full", "rules")).unwrap();
    assert!(rules.contains("schedule"), "{rules}");
    let full = script(&doc, "perf-full");
    assert!(full.contains("--workload cp1"), "{full}");
    assert!(full.contains("perf-baseline-bump --ratchet"), "{full}");
    assert_suites_after_the_ratchet(&full);

    for job in ["perf-smoke", "perf-gate", "perf-full"] {
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

    let full = &jobs["perf-full"];
    assert!(full["if"].as_str().unwrap().contains("schedule"));
    let runs: String = steps(full)
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(runs.contains("--workload cp1"), "{runs}");
    assert!(runs.contains("perf-baseline-bump --ratchet"), "{runs}");
    assert_suites_after_the_ratchet(&runs);

    for name in ["perf-smoke", "perf-gate", "perf-full"] {
        let job = &jobs[name];
        assert!(
            job["timeout-minutes"].as_u64().is_some(),
            "{name}: no timeout"
        );
        let runs: String = steps(job)
            .iter()
            .filter_map(|s| s["run"].as_str())
            .collect();
        assert!(runs.contains("cargo xtask perf-gate"), "{name}: {runs}");

        let upload = steps(job)
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
            })
            .unwrap_or_else(|| panic!("{name}: no artifact upload"));
        assert_eq!(upload["if"].as_str(), Some("always()"), "{name}");
        let path = upload["with"]["path"].as_str().unwrap_or_default();
        assert!(path.contains("_artifacts/"), "{name}: {path}");

        // A step that uses the checkout must fetch the history paired mode needs.
        let checkout = steps(job)
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/checkout@"))
            })
            .unwrap_or_else(|| panic!("{name}: no checkout"));
        assert_eq!(checkout["with"]["fetch-depth"].as_u64(), Some(0), "{name}");
    }
}

/// The nightly job also gates the scenarios and the components, after the ratchet (which
/// takes the newest run file, so it must come before other runs are written).
fn assert_suites_after_the_ratchet(script: &str) {
    let ratchet = script.find("--ratchet").expect("the ratchet");
    for suite in [
        "perf-gate --suite scenarios",
        "perf-gate --suite components",
    ] {
        let at = script
            .find(suite)
            .unwrap_or_else(|| panic!("`{suite}` missing: {script}"));
        assert!(at > ratchet, "`{suite}` runs before the ratchet: {script}");
    }
}
