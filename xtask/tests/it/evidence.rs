//! The adaptive gate's schedule (`xtask::gate::evidence::next`): more trials only while a
//! rule is undecided and none has failed, in evenly spaced looks, never past `max_trials`, the looks or the time
//! budget; and the per-look confidence that keeps repeated looks honest.

use std::time::Duration;

use xtask::gate::evaluate::{Status, evaluate};
use xtask::gate::evidence::{Next, next};
use xtask::model::{policy, run_file};

fn run(rps: &[f64]) -> run_file::RunFile {
    let text = serde_json::json!({
        "metrics": {"rps": rps[0]},
        "samples": {"rps": rps},
        "paired": {"against": "main"},
    });
    run_file::parse_str(&text.to_string(), "run.json").unwrap()
}

fn policy(gate: &str) -> policy::Policy {
    let text = format!(
        r#"{{"schema_version": 1, "gate": {{ {gate} }},
             "rules": {{"rps": {{"relative": {{"max_pct_decrease": 10}}}}}}}}"#
    );
    policy::parse_str(&text, "policy.json").unwrap()
}

const BASE: [f64; 5] = [100.0, 100.0, 100.0, 100.0, 100.0];
/// Pairs whose changes straddle -10%: undecided.
const WIDE: [f64; 5] = [80.0, 95.0, 100.0, 103.0, 110.0];
/// A clear pass.
const SAME: [f64; 5] = [100.0, 100.5, 99.5, 100.2, 99.8];

#[test]
fn adds_trials_only_while_a_rule_is_undecided() {
    let p = policy(r#""looks": 3, "max_trials": 15, "time_budget_s": 100"#);
    let wide = evaluate(&run(&BASE), &run(&WIDE), &p);
    assert_eq!(wide.rows[0].status, Status::Inconclusive);
    let second = Duration::from_secs(1);
    let left = Duration::from_secs(100);
    // Looks evenly spaced from 5 to 15 trials: two rounds of 5.
    assert_eq!(next(&wide, &p.gate, (1, 5, 5), left, second), Next::Add(5));
    assert_eq!(next(&wide, &p.gate, (2, 5, 10), left, second), Next::Add(5));
    assert!(
        matches!(next(&wide, &p.gate, (3, 5, 15), left, second), Next::Spent(w) if w.contains("looks"))
    );
    let same = evaluate(&run(&BASE), &run(&SAME), &p);
    assert_eq!(same.rows[0].status, Status::Pass);
    assert_eq!(next(&same, &p.gate, (1, 5, 5), left, second), Next::Decided);
}

#[test]
fn a_decisive_failure_ends_the_gate_though_other_rules_are_undecided() {
    let text = r#"{"schema_version": 1, "gate": {"looks": 3, "max_trials": 15, "time_budget_s": 100},
        "rules": {"rps": {"relative": {"max_pct_decrease": 10}},
                  "instructions_per_req": {"relative": {"max_pct_increase": 2}}}}"#;
    let p = policy::parse_str(text, "policy.json").unwrap();
    let side = |rps: &[f64], instructions: f64| {
        let text = serde_json::json!({
            "metrics": {"rps": rps[0], "instructions_per_req": instructions},
            "samples": {"rps": rps, "instructions_per_req": [instructions]},
            "paired": {"against": "main"},
        });
        run_file::parse_str(&text.to_string(), "run.json").unwrap()
    };
    let (left, second) = (Duration::from_secs(100), Duration::from_secs(1));
    let failing = evaluate(&side(&BASE, 20_000.0), &side(&WIDE, 22_000.0), &p);
    let status = |v: &xtask::gate::evaluate::Verdict, m: &str| {
        v.rows.iter().find(|r| r.metric == m).unwrap().status
    };
    assert_eq!(status(&failing, "rps"), Status::Inconclusive);
    assert_eq!(status(&failing, "instructions_per_req"), Status::Fail);
    assert_eq!(
        next(&failing, &p.gate, (1, 5, 5), left, second),
        Next::Failed(vec!["instructions_per_req".to_string()])
    );
    // The same undecided rps beside a passing count still gets its trials.
    let passing = evaluate(&side(&BASE, 20_000.0), &side(&WIDE, 20_010.0), &p);
    assert_eq!(status(&passing, "instructions_per_req"), Status::Pass);
    assert_eq!(
        next(&passing, &p.gate, (1, 5, 5), left, second),
        Next::Add(5)
    );
}

#[test]
fn the_budget_and_max_trials_bound_each_round() {
    let p = policy(r#""looks": 3, "max_trials": 12, "time_budget_s": 30"#);
    let wide = evaluate(&run(&BASE), &run(&WIDE), &p);
    // 4 s a trial with 10 s left: two fit of the four a round wants.
    let add = next(
        &wide,
        &p.gate,
        (1, 5, 5),
        Duration::from_secs(10),
        Duration::from_secs(4),
    );
    assert_eq!(add, Next::Add(2));
    let spent = next(
        &wide,
        &p.gate,
        (1, 5, 5),
        Duration::from_secs(3),
        Duration::from_secs(4),
    );
    assert!(matches!(spent, Next::Spent(w) if w.contains("time_budget_s")));
    let full = next(
        &wide,
        &p.gate,
        (2, 5, 12),
        Duration::from_secs(30),
        Duration::from_secs(1),
    );
    assert!(matches!(full, Next::Spent(w) if w.contains("max_trials")));
}

#[test]
fn each_look_spends_an_equal_share_of_the_error_rate() {
    let one = policy(r#""looks": 1"#);
    let three = policy(r#""looks": 3"#);
    assert!((one.gate.look_confidence() - 0.95).abs() < 1e-12);
    assert!((three.gate.look_confidence() - (1.0 - 0.05 / 3.0)).abs() < 1e-12);
    // The same data, judged with three looks' confidence, gets a wider interval (with enough
    // pairs: with five, both intervals are the smallest and largest ratio).
    let base = [100.0; 15];
    let cand: Vec<f64> = (0..15).map(|i| 88.0 + 2.0 * f64::from(i)).collect();
    let width = |p: &policy::Policy| {
        let v = evaluate(&run(&base), &run(&cand), p);
        let (lo, hi) = v.rows[0].change.unwrap().ci_pct.unwrap();
        hi - lo
    };
    assert!(
        width(&three) > width(&one),
        "{} <= {}",
        width(&three),
        width(&one)
    );
}
