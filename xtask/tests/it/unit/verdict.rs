//! Unit tests of `xtask::report::verdict`.

use xtask::gate::evaluate::Verdict;
use xtask::model::policy::Policy;
use xtask::report::junit::render as junit;
use xtask::report::verdict::*;
use xtask::{gate::evaluate, model::policy, model::run_file};

fn verdict(candidate_metrics: &str) -> (Verdict, Policy) {
    let policy = policy::parse_str(
        r#"{"schema_version": 1, "rules": {
                "rps": {"relative": {"max_pct_decrease": 10}, "warn_pct": 5},
                "errors_total": {"absolute": {"equals": 0}}}}"#,
        "p.json",
    )
    .unwrap();
    let b = run_file::parse_str(
        r#"{"metrics": {"rps": 1000, "errors_total": 0},
                "samples": {"rps": [1000, 990, 1010, 1005, 995]}}"#,
        "b.json",
    )
    .unwrap();
    let c = run_file::parse_str(candidate_metrics, "c & <d>.json").unwrap();
    (evaluate::evaluate(&b, &c, &policy), policy)
}

fn ctx(policy: &Policy) -> Context<'_> {
    Context {
        timestamp: "2026-11-22T08:01:02Z",
        workload: "cp1",
        baseline: "b.json",
        candidate: "c & <d>.json",
        policy_path: "p.json",
        policy: Some(policy),
        baseline_run: None,
        candidate_run: None,
        explain: None,
    }
}

#[test]
fn table_and_summary_show_every_rule() {
    let (v, p) = verdict(
        r#"{"metrics": {"rps": 1001, "errors_total": 0},
            "samples": {"rps": [1001, 991, 1011, 1006, 996]}}"#,
    );
    let t = table(&rows(&v));
    assert!(t.starts_with("metric"), "{t}");
    assert!(
        t.contains("rps") && t.contains("errors_total") && t.contains(">= -10%"),
        "{t}"
    );
    assert!(t.contains("+0.1% ["), "{t}");
    assert_eq!(
        Record::new(&v, &ctx(&p)).summary,
        "perf-gate: PASS (2 rules, 0 warnings)"
    );
}

#[test]
fn failures_are_all_listed() {
    let (v, p) = verdict(r#"{"metrics": {"rps": 500, "errors_total": 2}}"#);
    let s = Record::new(&v, &ctx(&p)).summary;
    assert!(s.starts_with("perf-gate: FAIL: "), "{s}");
    assert!(
        s.contains("rps -50.0% (point estimate, no samples) beyond -10.0%"),
        "{s}"
    );
    assert!(s.contains("errors_total = 2, must equal 0"), "{s}");
    assert_eq!(s.matches("; ").count(), 1, "{s}");
}

#[test]
fn junit_has_one_testcase_per_rule_and_escapes() {
    let (v, p) = verdict(r#"{"metrics": {"rps": 500, "errors_total": 0}}"#);
    let x = junit(&Record::new(&v, &ctx(&p)));
    assert_eq!(x.matches("<testcase ").count(), 2, "{x}");
    assert_eq!(x.matches("<failure ").count(), 1, "{x}");
    assert!(x.contains("c &amp; &lt;d&gt;.json"), "{x}");
    assert!(!x.contains("c & <d>"), "{x}");
}

#[test]
fn json_and_markdown_carry_the_numbers() {
    let (v, p) = verdict(
        r#"{"metrics": {"rps": 1001, "errors_total": 0},
            "samples": {"rps": [1001, 991, 1011, 1006, 996]}}"#,
    );
    let j = serde_json::to_value(Record::new(&v, &ctx(&p))).unwrap();
    assert_eq!(j["overall"], "pass");
    assert_eq!(j["exit_code"], 0);
    assert_eq!(j["rows"].as_array().unwrap().len(), 2);
    assert_eq!(j["rows"][1]["metric"], "rps");
    assert_eq!(j["rows"][1]["method"], "bootstrap");
    assert!(j["rows"][1]["ci_low_pct"].is_f64());
    let md = markdown(&Record::new(&v, &ctx(&p)));
    assert!(md.starts_with("## ✅ perf-gate: PASS"), "{md}");
    assert!(md.contains("| rps |"), "{md}");
}

#[test]
fn input_errors_render_without_rows() {
    let v = Verdict::from_errors(vec!["p.json: field `rules.x`: bad".into()]);
    let (_, policy) = verdict("{}");
    let c = Context {
        policy: None,
        ..ctx(&policy)
    };
    let r = Record::new(&v, &c);
    assert!(r.summary.starts_with("perf-gate: ERROR"));
    let x = junit(&r);
    assert!(x.contains("[gate] inputs") && x.contains("<error "), "{x}");
    assert_eq!(r.exit_code, 2);
    assert!(log_text(&r).contains("error: p.json: field `rules.x`: bad"));
}
