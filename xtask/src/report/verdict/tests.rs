//! Unit tests of `crate::report::verdict`.

use crate::gate::evaluate::Verdict;
use crate::model::policy::Policy;
use crate::report::junit::render as junit;
use crate::report::verdict::*;
use crate::{gate::evaluate, model::policy, model::run_file};

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

/// The context every renderer test uses; shared with junit's tests.
pub(crate) fn ctx<'a>(policy: Option<&'a Policy>, candidate: &'a str) -> Context<'a> {
    Context {
        timestamp: "2026-11-22T08:01:02Z",
        workload: "cp1",
        baseline: "b.json",
        candidate,
        policy_path: "p.json",
        policy,
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
        Record::new(&v, &ctx(Some(&p), "c & <d>.json")).summary,
        "perf-gate: PASS (2 rules, 0 warnings)"
    );
}

#[test]
fn failures_are_all_listed() {
    let (v, p) = verdict(r#"{"metrics": {"rps": 500, "errors_total": 2}}"#);
    let s = Record::new(&v, &ctx(Some(&p), "c & <d>.json")).summary;
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
    let x = junit(&Record::new(&v, &ctx(Some(&p), "c & <d>.json")));
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
    let j = serde_json::to_value(Record::new(&v, &ctx(Some(&p), "c & <d>.json"))).unwrap();
    assert_eq!(j["overall"], "pass");
    assert_eq!(j["exit_code"], 0);
    assert_eq!(j["rows"].as_array().unwrap().len(), 2);
    assert_eq!(j["rows"][1]["metric"], "rps");
    assert_eq!(j["rows"][1]["method"], "bootstrap");
    assert!(j["rows"][1]["ci_low_pct"].is_f64());
    let md = markdown(&Record::new(&v, &ctx(Some(&p), "c & <d>.json")));
    assert!(md.starts_with("## ✅ perf-gate: PASS"), "{md}");
    assert!(md.contains("| rps |"), "{md}");
}

#[test]
fn input_errors_render_without_rows() {
    let v = Verdict::from_errors(vec!["p.json: field `rules.x`: bad".into()]);
    let (_, policy) = verdict("{}");
    let c = Context {
        policy: None,
        ..ctx(Some(&policy), "c & <d>.json")
    };
    let r = Record::new(&v, &c);
    assert!(r.summary.starts_with("perf-gate: ERROR"));
    let x = junit(&r);
    assert!(x.contains("[gate] inputs") && x.contains("<error "), "{x}");
    assert_eq!(r.exit_code, 2);
    assert!(log_text(&r).contains("error: p.json: field `rules.x`: bad"));
}

/// Every report shows the two values each change is computed from.
mod every_report {
    use base64::Engine as _;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};

    use serde_json::json;

    use super::super::*;
    use crate::gate::evaluate::{Verdict, evaluate, fmt_pct};
    use crate::model::{policy, run_file};

    /// A paired run of five trials whose pooled latency percentiles are far from the medians
    /// of the trials' percentiles (one trial a side with a heavy tail), and whose `rps` pairs
    /// drift together (the ratio of medians is not the median of the per-pair ratios).
    fn run(tail: (u64, u64), scale: u64, rps: [f64; 5], paired: bool) -> RunFile {
        let trial = |buckets: &[(u64, u64)]| {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
            for &(ns, n) in buckets {
                h.record_n(ns * scale / 100, n).unwrap();
            }
            h
        };
        let mut trials = vec![trial(&[(100_000, 990), (200_000, 10)]); 4];
        trials.push(trial(&[(100_000, 1000 - tail.1), tail]));
        let p99: Vec<f64> = trials
            .iter()
            .map(|h| h.value_at_quantile(0.99) as f64 / 1e6)
            .collect();
        let histograms: Vec<Value> = trials
            .iter()
            .map(|h| {
                let mut bytes = Vec::new();
                V2DeflateSerializer::new().serialize(h, &mut bytes).unwrap();
                json!({"encoding": "hdrhistogram-v2-deflate+base64", "unit": "ns",
                       "data": base64::engine::general_purpose::STANDARD.encode(bytes)})
            })
            .collect();
        let median = |v: &[f64]| crate::gate::stats::median(v).unwrap();
        let mut doc = json!({
            "metrics": {"latency_p99_ms": median(&p99), "rps": median(&rps), "errors_total": 0},
            "samples": {"latency_p99_ms": p99, "rps": rps, "errors_total": [0, 0, 0, 0, 0]},
            "histograms": {"latency": histograms},
        });
        if paired {
            doc["paired"] = json!({"against": "main"});
        }
        run_file::parse_str(&doc.to_string(), "run.json").unwrap()
    }

    fn verdict() -> (Verdict, Policy) {
        let policy = policy::parse_str(
            r#"{"schema_version": 1, "gate": {"looks": 1}, "rules": {
                "latency_p99_ms": {"relative": {"max_pct_increase": 20}},
                "rps": {"relative": {"max_pct_decrease": 10}},
                "errors_total": {"absolute": {"equals": 0}}}}"#,
            "p.json",
        )
        .unwrap();
        let b = run(
            (1_000_000, 100),
            100,
            [1000.0, 1200.0, 800.0, 1100.0, 900.0],
            false,
        );
        let c = run(
            (1_200_000, 50),
            110,
            [1030.0, 1150.0, 850.0, 1120.0, 880.0],
            true,
        );
        (evaluate(&b, &c, &policy), policy)
    }

    /// The change a reader computes from two cells as shown (four decimals at most): equal
    /// to the row's change within what the rounding of the cells allows.
    fn assert_cells_add_up(metric: &str, b: &str, c: &str, pct: f64) {
        let (b, c): (f64, f64) = (b.parse().unwrap(), c.parse().unwrap());
        let from_cells = (c / b - 1.0) * 100.0;
        let rounding = 100.0 * 0.5e-4 * (1.0 / b + c / (b * b));
        assert!(
            (from_cells - pct).abs() <= rounding + 1e-9,
            "{metric}: cells {b} -> {c} say {from_cells:+.3}%, the change is {pct:+.3}%"
        );
    }

    #[test]
    fn every_report_shows_the_values_each_change_is_computed_from() {
        let (v, p) = verdict();
        let record = Record::new(&v, &super::ctx(Some(&p), "c.json"));
        let table = table(&record.rows);
        let markdown = markdown(&record);
        let junit = crate::report::junit::render(&record);
        let html = crate::report::html::render(&crate::report::html::Report {
            verdict: Some(record.clone()),
            ..Default::default()
        });
        let p99 = &v.rows[1];
        assert_eq!(p99.metric, "latency_p99_ms");
        assert_eq!(p99.method, Method::PooledPaired);
        // The pooled p99s (1.0004 -> 0.22 ms, -78%), not the trials' medians (0.1 -> 0.11).
        assert_eq!(p99.baseline.map(fmt_num).as_deref(), Some("1.0004"));
        assert_eq!(p99.candidate.map(fmt_num).as_deref(), Some("0.22"));
        assert_eq!(p99.baseline_median.map(fmt_num).as_deref(), Some("0.1"));

        for (i, row) in v.rows.iter().enumerate() {
            let (b, c) = (
                fmt_num(row.baseline.unwrap()),
                fmt_num(row.candidate.unwrap()),
            );
            // The terminal table and the Markdown table: one line each, these cells.
            let line = table
                .lines()
                .find(|l| l.starts_with(&format!("{} ", row.metric)))
                .unwrap();
            let cells: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cells[1..3], [b.as_str(), c.as_str()], "{table}");
            let md = format!("| {} | {b} | {c} | ", row.metric);
            assert!(markdown.contains(&md), "{md}\n{markdown}");
            // The JSON (and the HTML, which renders the JSON) carries the same numbers.
            let j = &record.rows[i];
            assert_eq!(j.baseline, row.baseline, "{j:?}");
            assert_eq!(j.candidate, row.candidate, "{j:?}");
            assert_eq!(j.change_pct, row.change.map(|c| c.pct), "{j:?}");
            let td = format!("<td class=\"num\">{b}</td>\n             <td class=\"num\">{c}</td>");
            let td = td.replace("\n             ", "");
            assert!(html.contains(&td), "{td}\n{html}");
            let Some(change) = row.change else {
                continue;
            };
            assert!(cells[3].starts_with(&fmt_pct(change.pct)), "{line}");
            assert!(md_row_change(&markdown, &row.metric).starts_with(&fmt_pct(change.pct)));
            assert_cells_add_up(&row.metric, &b, &c, change.pct);
            assert_eq!(j.values.as_deref(), Some(row.method.values()));
            // JUnit has no columns: the message of a case that has one names the two values.
            let named = format!("baseline {b}, candidate {c} (");
            let has_message = row.status != crate::gate::evaluate::Status::Pass;
            assert_eq!(junit.contains(&named), has_message, "{named}\n{junit}");
        }
        // Paired rps: 1000 -> 1030, +3.0% (the ratio of the medians shown).
        assert!(table.contains("1000       1030  +3.0% ["), "{table}");
    }

    fn md_row_change<'m>(markdown: &'m str, metric: &str) -> &'m str {
        let line = markdown
            .lines()
            .find(|l| l.starts_with(&format!("| {metric} |")))
            .unwrap();
        line.split(" | ").nth(3).unwrap()
    }
}
