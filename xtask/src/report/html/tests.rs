//! Unit tests of `crate::report::html`.

use hdrhistogram::Histogram;

use crate::report::html::*;
use crate::report::verdict::RowRecord;

/// A verdict row with the fields given, over the ones every row has.
fn row(fields: serde_json::Value) -> RowRecord {
    let mut row = serde_json::json!({"metric": "m", "rule": "r", "n_baseline": 5,
        "n_candidate": 5, "method": "bootstrap", "verdict": "pass", "blocking": false,
        "message": "m"});
    row.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    serde_json::from_value(row).unwrap()
}

#[test]
fn thresholds_follow_the_rule() {
    let r = row(
        serde_json::json!({"baseline": 100.0, "rule_kind": "max_pct_increase", "threshold": 15.0}),
    );
    let above = threshold(&r).fail_above.unwrap();
    assert!((above - 115.0).abs() < 1e-9, "{above}");
    let r = row(
        serde_json::json!({"baseline": 100.0, "rule_kind": "max_pct_decrease", "threshold": 10.0}),
    );
    let below = threshold(&r).fail_below.unwrap();
    assert!((below - 90.0).abs() < 1e-9, "{below}");
    let r = row(serde_json::json!({"rule_kind": "absolute", "threshold": {"equals": 0.0}}));
    let t = threshold(&r);
    assert_eq!((t.fail_above, t.fail_below), (Some(0.0), Some(0.0)));
}

#[test]
fn a_verdict_without_a_field_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("perf_gate_x.json");
    std::fs::write(&path, r#"{"schema_version": 1, "tool": "perf-gate"}"#).unwrap();
    let err = format!("{:#}", from_verdict(dir.path(), &path).err().unwrap());
    assert!(
        err.contains("perf_gate_x.json") && err.contains("timestamp"),
        "{err}"
    );
}

#[test]
fn curve_has_fixed_points_and_rises() {
    let mut h = Histogram::<u64>::new(3).unwrap();
    for v in 1..=10_000u64 {
        h.record(v * 1000).unwrap();
    }
    let c = curve(&h, 1e6);
    assert_eq!(c.len(), CURVE_POINTS);
    assert!(c.windows(2).all(|w| w[0].1 <= w[1].1));
    assert!((c[100].1 - 9.9).abs() < 0.1, "p99 {:?}", c[100]);
}

#[test]
fn trials_merge_in_the_first_ones_unit_and_the_others_are_notes() {
    let mut h = Histogram::<u64>::new(3).unwrap();
    h.record_n(2_000, 10).unwrap();
    let in_unit = |unit: &str| crate::model::histogram::Encoded {
        unit: Some(unit.into()),
        ..crate::model::histogram::encode(&h)
    };
    let mut run = crate::model::run_file::RunFile::default();
    run.histograms.latency = ["us", "parsecs", "", "us", "ms"]
        .map(|u| (!u.is_empty()).then(|| in_unit(u)))
        .to_vec();
    let side = Side {
        path: "run.json".into(),
        run,
    };
    let mut notes = Vec::new();
    let (merged, per_ms) = merged(&side, &mut notes).unwrap();
    assert_eq!((merged.len(), per_ms), (20, 1e3));
    assert!((curve(&merged, per_ms)[0].1 - 2.0).abs() < 0.01);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("latency[1]: unknown unit"), "{notes:?}");
    assert!(
        notes[1].contains("latency[4]: not merged: another unit"),
        "{notes:?}"
    );
}
