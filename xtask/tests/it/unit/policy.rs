//! Unit tests of `xtask::model::policy`.

use std::path::Path;

use xtask::model::policy::*;

const CP1: &str = include_str!("../../../../perf/policy_cp1.json");

fn err(text: &str) -> String {
    format!(
        "{:#}",
        parse_str(text, "perf/policy_test.json").unwrap_err()
    )
}

/// A minimal valid policy with `gate` and one `rules.rps` rule spliced in.
fn with(gate: &str, rps_rule: &str) -> String {
    format!(r#"{{ "schema_version": 1, "gate": {{ {gate} }}, "rules": {{ "rps": {rps_rule} }} }}"#)
}

#[test]
fn the_committed_failover_policy_parses_with_absolute_rules() {
    let text = include_str!("../../../../perf/policy_failover_nats.json");
    let p = parse_str(text, "perf/policy_failover_nats.json").unwrap();
    assert_eq!(
        p.rules["failover_lost_requests"].check,
        Check::Absolute(Bounds {
            max: Some(9.0),
            ..Bounds::default()
        })
    );
    assert!(
        p.rules
            .values()
            .all(|r| matches!(r.check, Check::Absolute(_)))
    );
}

#[test]
fn the_committed_cp1_policy_parses() {
    let p = parse_str(CP1, "perf/policy_cp1.json").unwrap();
    // The CP1 contract's eight rules, and the counts that decide on CPU and kernel work.
    assert_eq!(p.rules.len(), 10);
    assert_eq!(
        p.rules["syscalls_per_req"].check,
        Check::Relative {
            direction: Direction::Increase,
            max_pct: 5.0
        }
    );
    assert_eq!(
        p.rules["instructions_per_req"].check,
        Check::Relative {
            direction: Direction::Increase,
            max_pct: 2.0
        }
    );
    assert!(p.gate.always_paired);
    assert_eq!(
        p.rules["rps"].check,
        Check::Relative {
            direction: Direction::Decrease,
            max_pct: 10.0
        }
    );
    assert_eq!(
        p.rules["errors_total"].check,
        Check::Absolute(Bounds {
            equals: Some(0.0),
            ..Bounds::default()
        })
    );
    assert_eq!(p.gate.confidence, 0.95);
    assert!(p.gate.watch_paths.iter().any(|w| w == "router/"));
}

#[test]
fn defaults_fill_a_missing_gate() {
    let p = parse_str(
        r#"{"schema_version": 1, "rules": {"ramp_knee_pct": {"absolute": {"min": 1, "max": 5}}}}"#,
        "p.json",
    )
    .unwrap();
    assert_eq!(p.gate, GateSettings::default());
    assert_eq!(p.rules["ramp_knee_pct"].check.to_string(), "in [1, 5]");
}

#[test]
fn rejects_bad_policies_naming_file_and_field() {
    let ok_rule = r#"{"relative": {"max_pct_decrease": 10}, "warn_pct": 5}"#;
    // (policy text, text that must appear in the error)
    let cases: Vec<(String, &str)> = vec![
        ("{ not json".into(), "parsing perf/policy_test.json"),
        ("[]".into(), "top level"),
        (
            r#"{"schema_version": 1, "rules": {}, "extra": 1}"#.into(),
            "rules",
        ),
        (
            r#"{"schema_version": 1, "rules": {"rps": {"absolute": {"equals": 0}}}, "extra": 1}"#
                .into(),
            "field `extra`: unknown key",
        ),
        (
            r#"{"rules": {"rps": {"absolute": {"equals": 0}}}}"#.into(),
            "field `schema_version`: is required",
        ),
        (
            with("", r#"{"absolute": {"min": 0.8, "judged": "mean"}}"#),
            "field `rules.rps.absolute.judged`: expected \"every_trial\" or \"median\", got \"mean\"",
        ),
        (
            r#"{"schema_version": 2, "rules": {"rps": {"absolute": {"equals": 0}}}}"#.into(),
            "unsupported version 2",
        ),
        (
            with(r#""confidenc": 0.9"#, ok_rule),
            "field `gate.confidenc`: unknown key",
        ),
        (
            with(r#""confidence": 1.0"#, ok_rule),
            "field `gate.confidence`",
        ),
        (
            with(r#""confidence": 0.5"#, ok_rule),
            "strictly between 0.5 and 1",
        ),
        (
            with(r#""confidence": "high""#, ok_rule),
            "expected a number",
        ),
        (
            with(r#""bootstrap_resamples": 5"#, ok_rule),
            "field `gate.bootstrap_resamples`",
        ),
        (
            with(r#""env_mismatch": "ignore""#, ok_rule),
            "field `gate.env_mismatch`",
        ),
        (
            with(r#""inconclusive": "maybe""#, ok_rule),
            "field `gate.inconclusive`",
        ),
        (
            with(r#""require_all_metrics_present": "yes""#, ok_rule),
            "expected true or false",
        ),
        (
            with(r#""watch_paths": [1]"#, ok_rule),
            "field `gate.watch_paths[0]`",
        ),
        (
            with(
                "",
                r#"{"relative": {"max_pct_decrease": 10}, "wran_pct": 5}"#,
            ),
            "field `rules.rps.wran_pct`: unknown key",
        ),
        (
            with("", r#"{"relative": {"max_pct_decrese": 10}}"#),
            "field `rules.rps.relative`",
        ),
        (
            with("", r#"{"relative": {"max_pct_decrease": -10}}"#),
            "must not be negative",
        ),
        (
            with("", r#"{"relative": {"max_pct_increase": -1}}"#),
            "field `rules.rps.relative.max_pct_increase`",
        ),
        (
            with(
                "",
                r#"{"relative": {"max_pct_decrease": 10}, "warn_pct": 10}"#,
            ),
            "must be below the fail threshold",
        ),
        (
            with(
                "",
                r#"{"relative": {"max_pct_decrease": 10}, "warn_pct": 12}"#,
            ),
            "field `rules.rps.warn_pct`",
        ),
        (
            with(
                "",
                r#"{"relative": {"max_pct_decrease": 10}, "warn_pct": -1}"#,
            ),
            "must not be negative",
        ),
        (
            with("", r#"{"warn_pct": 1}"#),
            "needs `relative` or `absolute`",
        ),
        (
            with(
                "",
                r#"{"relative": {"max_pct_decrease": 10}, "absolute": {"min": 1}}"#,
            ),
            "not both",
        ),
        (
            with(
                "",
                r#"{"relative": {"max_pct_decrease": 10, "max_pct_increase": 10}}"#,
            ),
            "one direction",
        ),
        (
            with("", r#"{"relative": {"max_pct_decrease": 100}}"#),
            "below 100",
        ),
        (
            with("", r#"{"absolute": {}}"#),
            "field `rules.rps.absolute`: needs",
        ),
        (
            with("", r#"{"absolute": {"equals": 0, "max": 1}}"#),
            "cannot be combined",
        ),
        (
            with("", r#"{"absolute": {"min": 5, "max": 1}}"#),
            "field `rules.rps.absolute.min`",
        ),
        (
            with("", r#"{"absolute": {"equals": 0}, "warn_pct": 1}"#),
            "only relative rules",
        ),
        (
            with("", r#"{"absolute": {"equals": "0"}}"#),
            "expected a number",
        ),
        (
            with("", r#"{"absolute": {"equals": 0}, "description": 3}"#),
            "field `rules.rps.description`",
        ),
        (with("", "[]"), "field `rules.rps`: expected an object"),
    ];
    for (text, needle) in cases {
        let e = err(&text);
        assert!(
            e.contains("perf/policy_test.json"),
            "no file name in {e:?} for {text}"
        );
        assert!(e.contains(needle), "{needle:?} not in {e:?} for {text}");
    }
}

#[test]
fn every_committed_policy_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../perf");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("policy_") && name.ends_with(".json") {
            let p = load(&path).unwrap_or_else(|e| panic!("{e:#}"));
            assert!(!p.rules.is_empty(), "{name}");
            names.push(name);
        }
    }
    assert!(names.iter().any(|n| n == "policy_cp1.json"), "{names:?}");
}

#[test]
fn adaptive_gate_keys_have_defaults_and_ranges() {
    let ok_rule = r#"{"relative": {"max_pct_decrease": 10}}"#;
    let p = parse_str(&with("", ok_rule), "p.json").unwrap();
    assert_eq!(
        (p.gate.max_trials, p.gate.time_budget_s, p.gate.looks),
        (15, 120.0, 3)
    );
    let p = parse_str(
        &with(
            r#""max_trials": 200, "time_budget_s": 0.5e1, "looks": 10"#,
            ok_rule,
        ),
        "p.json",
    )
    .unwrap();
    assert_eq!(
        (p.gate.max_trials, p.gate.time_budget_s, p.gate.looks),
        (200, 5.0, 10)
    );
    let p = parse_str(
        &with(
            r#""max_trials": 3, "time_budget_s": 3600, "looks": 1"#,
            ok_rule,
        ),
        "p.json",
    )
    .unwrap();
    assert_eq!(
        (p.gate.max_trials, p.gate.time_budget_s, p.gate.looks),
        (3, 3600.0, 1)
    );
    for (gate, needle) in [
        (
            r#""max_trials": 2"#,
            "field `gate.max_trials`: must be an integer from 3 to 200, got 2",
        ),
        (r#""max_trials": 201"#, "field `gate.max_trials`"),
        (
            r#""max_trials": 4294967299"#,
            "from 3 to 200, got 4294967299",
        ),
        (
            r#""max_trials": 5.5"#,
            "field `gate.max_trials`: invalid type: floating point",
        ),
        (
            r#""max_trials": -3"#,
            "field `gate.max_trials`: invalid value: integer `-3`",
        ),
        (
            r#""time_budget_s": 0.5"#,
            "field `gate.time_budget_s`: must be from 1 to 3600",
        ),
        (r#""time_budget_s": 3601"#, "field `gate.time_budget_s`"),
        (r#""time_budget_s": "2m""#, "expected a number"),
        (
            r#""looks": 0"#,
            "field `gate.looks`: must be an integer from 1 to 10, got 0",
        ),
        (r#""looks": 11"#, "field `gate.looks`"),
        (r#""looks": null"#, "field `gate.looks`: invalid type: null"),
    ] {
        let e = err(&with(gate, ok_rule));
        assert!(e.starts_with("perf/policy_test.json: "), "{e}");
        assert!(e.contains(needle), "{needle:?} not in {e:?} for {gate}");
    }
}

#[test]
fn unknown_keys_are_named_with_the_nearest_known_key() {
    let e = err(&with("", r#"{"relative": {"max_pct_increse": 10}}"#));
    assert_eq!(
        e,
        "perf/policy_test.json: field `rules.rps.relative.max_pct_increse`: unknown key; \
         did you mean `max_pct_increase`? (field `rules.rps.relative` takes one of: \
         max_pct_decrease, max_pct_increase)"
    );
    let e = err(&with(
        r#""confidance": 0.9"#,
        r#"{"absolute": {"equals": 0}}"#,
    ));
    assert!(
        e.contains("field `gate.confidance`: unknown key; did you mean `confidence`?"),
        "{e}"
    );
    let e = err(&with("", r#"{"absolute": {"equals": 0}, "wran_pct": 1}"#));
    assert!(e.contains("did you mean `warn_pct`?"), "{e}");
    let e = err(r#"{"schema_versoin": 1, "rules": {"rps": {"absolute": {"equals": 0}}}}"#);
    assert!(
        e.contains("field `schema_versoin`: unknown key; did you mean `schema_version`? (the top level takes one of: gate, rules, schema_version)"),
        "{e}"
    );
}

#[test]
fn a_duplicate_key_is_refused_rather_than_the_last_one_winning() {
    // The second `rps` would loosen the rule from -10% to -50% if it silently won.
    let text = r#"{"schema_version": 1, "rules": {
            "rps": {"relative": {"max_pct_decrease": 10}},
            "rps": {"relative": {"max_pct_decrease": 50}}}}"#;
    let e = err(text);
    assert!(
        e.starts_with("perf/policy_test.json: field `rules.rps`: duplicate key; "),
        "{e}"
    );
    assert!(e.contains("line 3"), "{e}");
    let e = err(&with(
        r#""confidence": 0.99, "confidence": 0.6"#,
        r#"{"absolute": {"equals": 0}}"#,
    ));
    assert!(e.contains("field `gate.confidence`: duplicate key"), "{e}");
    let e = err(&with(
        "",
        r#"{"relative": {"max_pct_decrease": 10, "max_pct_decrease": 90}}"#,
    ));
    assert!(
        e.contains("field `rules.rps.relative.max_pct_decrease`: duplicate key"),
        "{e}"
    );
}

#[test]
fn null_and_arrays_are_not_objects_or_absent_keys() {
    for (text, needle) in [
        (
            r#"{"schema_version": 1, "gate": null, "rules": {"m": {"absolute": {"min": 1}}}}"#
                .to_string(),
            "field `gate`: expected an object, found null",
        ),
        (
            with("", r#"{"relative": {"max_pct_decrease": null}}"#),
            "field `rules.rps.relative.max_pct_decrease`: invalid type: null, expected a number",
        ),
        (
            with(r#""confidence": null"#, r#"{"absolute": {"min": 1}}"#),
            "field `gate.confidence`: invalid type: null",
        ),
        (
            // Serde's derived structs alone would read this array as the fields in order.
            with("", r#"{"relative": [10, null]}"#),
            "field `rules.rps.relative`: expected an object, found an array",
        ),
        (
            r#"[1, {"confidence": 0.9}, {"m": {"absolute": {"min": 1}}}]"#.to_string(),
            "perf/policy_test.json: expected an object at the top level, found an array",
        ),
        (
            with(
                "",
                r#"{"relative": {"max_pct_decrease": 10}, "warn_pct": 5, "description": null}"#,
            ),
            "field `rules.rps.description`: invalid type: null",
        ),
        (
            with(
                r#""watch_paths": ["router/", ""]"#,
                r#"{"absolute": {"min": 1}}"#,
            ),
            "field `gate.watch_paths[1]`: expected a non-empty path",
        ),
        (
            r#"{"schema_version": 1, "rules": {" ": {"absolute": {"min": 1}}}}"#.to_string(),
            "field `rules`: a rule needs a metric name",
        ),
        (
            r#"{"schema_version": "1", "rules": {"m": {"absolute": {"min": 1}}}}"#.to_string(),
            "field `schema_version`: invalid type: string \"1\", expected an integer",
        ),
        (
            r#"{"schema_version": 1}"#.to_string(),
            "field `rules`: is required",
        ),
    ] {
        let e = err(&text);
        assert!(e.contains(needle), "{needle:?} not in {e:?} for {text}");
    }
}

#[test]
fn rule_display_and_bounds() {
    let inc = Check::Relative {
        direction: Direction::Increase,
        max_pct: 15.0,
    };
    assert_eq!(inc.to_string(), "<= +15%");
    let dec = Check::Relative {
        direction: Direction::Decrease,
        max_pct: 7.5,
    };
    assert_eq!(dec.to_string(), ">= -7.5%");
    let b = Bounds {
        max: Some(3.0),
        ..Bounds::default()
    };
    assert_eq!(Check::Absolute(b).to_string(), "<= 3");
    let median = Bounds {
        judged: Judged::Median,
        ..b
    };
    assert_eq!(Check::Absolute(median).to_string(), "<= 3 (median)");
    assert_eq!(b.violation(3.0), None);
    assert_eq!(b.violation(3.5).unwrap(), "must be <= 3");
    let e = Bounds {
        equals: Some(0.0),
        ..Bounds::default()
    };
    assert_eq!(e.violation(1.0).unwrap(), "must equal 0");
    assert_eq!(fmt_num(0.21), "0.21");
    assert_eq!(fmt_num(61234.5), "61234.5");
}
