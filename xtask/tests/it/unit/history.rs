//! Unit tests of `xtask::model::history`.
//! Tests of its private helpers (`read_bounded`) stay in its `#[cfg(test)]` module.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use xtask::model::history::*;

fn record(commit: &str, rps: f64) -> Record {
    Record {
        history_version: FORMAT_VERSION,
        timestamp: "2026-11-22T08:01:02Z".into(),
        commit: Some(commit.into()),
        dirty: Some(false),
        workload: "cp1".into(),
        env_fingerprint: Some("8ddec936a9e1fe47".into()),
        source: "perf-gate".into(),
        status: "ok".into(),
        verdict: Some("pass".into()),
        trials: Some(5),
        metrics: BTreeMap::from([("rps".to_string(), rps)]),
    }
}

#[test]
fn append_then_read_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/history.jsonl");
    append(&path, &record("a", 1.0)).unwrap();
    append(&path, &record("b", 2.0)).unwrap();
    let h = read(&path).unwrap();
    assert!(h.problems.is_empty(), "{:?}", h.problems);
    assert_eq!(
        h.records,
        vec![(1, record("a", 1.0)), (2, record("b", 2.0))]
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.ends_with('\n'));
}

#[test]
fn a_torn_last_line_is_reported_and_the_next_append_starts_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    append(&path, &record("a", 1.0)).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(br#"{"history_version":1,"timesta"#).unwrap();
    drop(f);
    let h = read(&path).unwrap();
    assert_eq!(h.records.len(), 1);
    assert_eq!(h.problems.len(), 1);
    assert!(
        h.problems[0].contains("history.jsonl:2:") && h.problems[0].contains("torn"),
        "{:?}",
        h.problems
    );

    append(&path, &record("b", 2.0)).unwrap();
    let h = read(&path).unwrap();
    assert_eq!(
        h.records,
        vec![(1, record("a", 1.0)), (3, record("b", 2.0))]
    );
    // The torn line stays visible, now as a bad middle line.
    assert_eq!(h.problems.len(), 1);
    assert!(
        h.problems[0].contains(":2: not a history record"),
        "{:?}",
        h.problems
    );
}

#[test]
fn an_append_waits_for_another_append_to_finish() {
    // Another process's append holds the file's lock: this one must not write meanwhile,
    // or the two lines could interleave (a short write, a torn-line repair racing).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    append(&path, &record("a", 1.0)).unwrap();
    let held = std::fs::File::open(&path).unwrap();
    xtask::model::lock::lock_waiting(&held, &path, Duration::ZERO).unwrap();
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || append(&path, &record("b", 2.0)))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().lines().count(),
        1,
        "appended while the file was locked"
    );
    drop(held);
    writer.join().unwrap().unwrap();
    let h = read(&path).unwrap();
    assert_eq!(
        h.records,
        vec![(1, record("a", 1.0)), (2, record("b", 2.0))]
    );
}

#[test]
fn concurrent_appends_keep_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    std::thread::scope(|s| {
        for t in 0..8 {
            let path = &path;
            s.spawn(move || {
                for i in 0..25 {
                    append(path, &record(&format!("{t}-{i}"), f64::from(i))).unwrap();
                }
            });
        }
    });
    let h = read(&path).unwrap();
    assert!(h.problems.is_empty(), "{:?}", h.problems);
    assert_eq!(h.records.len(), 200);
}

#[test]
fn a_line_that_is_not_utf8_is_a_problem_and_the_others_are_read() {
    let mut bytes = serde_json::to_vec(&record("a", 1.0)).unwrap();
    bytes.extend_from_slice(b"\nab\xffcd\n");
    bytes.extend(serde_json::to_vec(&record("b", 2.0)).unwrap());
    bytes.push(b'\n');
    let h = parse_bytes(&bytes, "h.jsonl");
    assert_eq!(
        h.records,
        vec![(1, record("a", 1.0)), (3, record("b", 2.0))]
    );
    assert_eq!(
        h.problems,
        ["h.jsonl:2: not UTF-8 (invalid byte at column 3); the line is ignored"]
    );
}

#[test]
fn unknown_fields_are_ignored_and_records_without_verdict_parse() {
    let h = parse(
        concat!(
            r#"{"history_version":1,"timestamp":"t","commit":null,"dirty":null,"workload":"w","#,
            r#""env_fingerprint":null,"source":"perf-bench","status":"ok","metrics":{"rps":3},"later":1}"#,
            "\n\n"
        ),
        "h",
    );
    assert!(h.problems.is_empty(), "{:?}", h.problems);
    assert_eq!(h.records[0].1.verdict, None);
    assert_eq!(h.records[0].1.metrics["rps"], 3.0);
}
