//! `cargo xtask perf-report` and the report perf-gate writes: the HTML is well-formed (parsed
//! as XML with quick-xml, every inline `<svg>` included), has one chart per latency phase and
//! per gated metric with the right number of points, and headless Chromium renders it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use quick_xml::events::{BytesStart, Event};
use serde_json::{Value, json};

const POLICY: &str = include_str!("../../../perf/policy_cp1.json");
/// A real run file, with real per-trial histograms from the bench.
const QUICK_BASELINE: &str = include_str!("../../../perf/baseline_quick.json");

/// One trial's histogram, encoded as perf-bench stores it: latencies around `base_ns`.
fn histogram(base_ns: u64, n: u64) -> Value {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    for i in 0..n {
        // A body and a tail: every 100th request is 20 times slower.
        let v = base_ns + (i * 7919 % 1000) * 50;
        h.record(if i % 100 == 0 { v * 20 } else { v }).unwrap();
    }
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(&h, &mut bytes)
        .unwrap();
    json!({"encoding": "hdrhistogram-v2-deflate+base64", "unit": "ns",
           "data": base64::engine::general_purpose::STANDARD.encode(bytes)})
}

/// The CP1 run fixture with 4 trials instead of 5 (so the sides differ in dot count) and
/// latency histograms for each trial.
fn candidate() -> Value {
    let mut doc = crate::support::cp1_run();
    for samples in doc["samples"].as_object_mut().unwrap().values_mut() {
        samples.as_array_mut().unwrap().pop();
    }
    doc["trials"] = json!(4);
    doc["histograms"] =
        json!({"latency": (0..4).map(|t| histogram(60_000 + t * 1000, 4000)).collect::<Vec<_>>()});
    doc
}

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let d = Dir {
            dir: tempfile::tempdir().unwrap(),
        };
        d.write("baseline.json", QUICK_BASELINE);
        d.write("candidate.json", &candidate().to_string());
        d.write("policy.json", POLICY);
        d
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn xtask(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .current_dir(self.dir.path())
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("CANDIDATE_FILE")
            .env_remove("PERF_HISTORY")
            .args(args)
            .output()
            .expect("running xtask");
        eprintln!(
            "xtask {args:?}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The reports in `art/`.
    fn reports(&self) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(self.path("art"))
            .map(|rd| rd.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        found.retain(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("perf_report_") && name.ends_with(".html")
        });
        found
    }
}

/// What one `<svg>` chart holds.
#[derive(Debug, Default)]
struct Chart {
    class: String,
    /// `data-metric` or `data-phase`.
    subject: String,
    circles: usize,
    /// Point count of each polyline, in order.
    polylines: Vec<usize>,
    /// Change-point markers (history trends).
    changepoints: usize,
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name).unwrap().map(|a| {
        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .unwrap()
            .into_owned()
    })
}

/// Parses the whole document as XML (the report is written to be well-formed: every element
/// closed, `<meta .../>` self-closed), which fails on any unbalanced or mismatched tag, and
/// collects the charts. Panics, naming the position, when it does not parse.
fn charts(html: &str) -> Vec<Chart> {
    let mut reader = quick_xml::Reader::from_str(html);
    let mut charts = Vec::new();
    let mut current: Option<Chart> = None;
    loop {
        let event = reader.read_event().unwrap_or_else(|e| {
            panic!(
                "the report is not well-formed at byte {}: {e}",
                reader.buffer_position()
            )
        });
        match event {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"svg" => {
                    assert!(current.is_none(), "nested <svg>");
                    current = Some(Chart {
                        class: attr(&e, "class").unwrap_or_default(),
                        subject: attr(&e, "data-metric")
                            .or_else(|| attr(&e, "data-phase"))
                            .unwrap_or_default(),
                        ..Chart::default()
                    });
                }
                b"line" if attr(&e, "class").as_deref() == Some("changepoint") => {
                    current.as_mut().expect("line outside svg").changepoints += 1
                }
                b"circle" => current.as_mut().expect("circle outside svg").circles += 1,
                b"polyline" => {
                    let points = attr(&e, "points").unwrap_or_default();
                    current
                        .as_mut()
                        .expect("polyline outside svg")
                        .polylines
                        .push(points.split_whitespace().count());
                }
                _ => {}
            },
            Event::End(e) if e.name().as_ref() == b"svg" => {
                charts.push(current.take().unwrap());
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "unclosed <svg>");
    charts
}

/// One line of the history store, as `history::Record` writes it.
fn history_line(commit: &str, workload: &str, status: &str, rps: f64, p99: Option<f64>) -> String {
    let mut metrics = json!({"rps": rps});
    if let Some(p) = p99 {
        metrics["latency_p99_ms"] = json!(p);
    }
    json!({"history_version": 1, "timestamp": "2026-11-22T08:00:00Z", "commit": commit,
           "dirty": false, "workload": workload, "env_fingerprint": "8ddec936a9e1fe47",
           "source": "perf-gate", "status": status, "trials": 5, "metrics": metrics})
    .to_string()
}

fn samples(doc: &Value) -> BTreeMap<String, usize> {
    doc["samples"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_array().unwrap().len()))
        .collect()
}

/// Checks the report for the test inputs: one distribution chart (the `latency` phase) with
/// a 201-point curve per side, one strip plot per policy rule with one dot per trial, and the
/// parts that must be there in text.
fn check_report(html: &str) -> Vec<Chart> {
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    // Self-contained: no script, nothing fetched.
    for needle in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(needle), "the report contains {needle:?}");
    }
    let charts = charts(html);
    let dist: Vec<&Chart> = charts.iter().filter(|c| c.class == "chart dist").collect();
    assert_eq!(dist.len(), 1, "{charts:?}");
    assert_eq!(dist[0].subject, "latency");
    assert_eq!(dist[0].polylines, vec![201, 201], "{charts:?}");

    let base: Value = serde_json::from_str(QUICK_BASELINE).unwrap();
    let (nb, nc) = (samples(&base), samples(&candidate()));
    let policy: Value = serde_json::from_str(POLICY).unwrap();
    let rules: Vec<&String> = policy["rules"].as_object().unwrap().keys().collect();
    let strips: Vec<&Chart> = charts.iter().filter(|c| c.class == "chart strip").collect();
    assert_eq!(strips.len(), rules.len(), "{charts:?}");
    for chart in strips {
        let m = &chart.subject;
        assert!(rules.contains(&m), "{m}");
        assert_eq!(chart.circles, nb[m] + nc[m], "dots of {m}");
        // Every trial has a sample, but a count has one per counting run (one, and none left
        // in the 4-trial candidate, which drops each metric's last sample).
        let expected = if m == "instructions_per_req" || m == "syscalls_per_req" {
            (1, 0)
        } else {
            (5, 4)
        };
        assert_eq!((nb[m], nc[m]), expected, "{m}");
    }
    // The gate table, one row per rule, coloured by verdict.
    assert_eq!(
        html.matches("<tr class=\"v-").count(),
        rules.len(),
        "{html}"
    );
    // The environments differ (a real machine's baseline, a test CPU candidate).
    assert!(
        html.contains("<tr class=\"diff gated\"><td>cpu_model</td>"),
        "{html}"
    );
    charts
}

#[test]
fn report_from_a_baseline_and_a_candidate() {
    let d = Dir::new();
    let art = d.path("art").display().to_string();
    // 12 finished cp1 runs with a -20% step in rps after the 6th, latency_p99_ms in the first
    // two only; a failed run and another workload's run, both left out; a torn last line.
    let mut lines: Vec<String> = (0..12)
        .map(|i| {
            let noise = [0.0, 400.0, -300.0, 200.0, -100.0, 300.0][i % 6];
            let rps = if i < 6 { 90_000.0 } else { 72_000.0 } + noise;
            let p99 = (i < 2).then_some(0.11);
            history_line(&format!("{i:04}aaaa"), "cp1", "ok", rps, p99)
        })
        .collect();
    lines.insert(3, history_line("failed00", "cp1", "failed", 1.0, None));
    lines.insert(5, history_line("quick000", "quick", "ok", 5.0, None));
    let mut text = lines.join("\n");
    text.push_str("\n{\"history_version\": 1, \"timest");
    d.write("history.jsonl", &text);
    let out = d.xtask(&[
        "perf-report",
        "--candidate",
        "candidate.json",
        "--baseline",
        "baseline.json",
        "--policy",
        "policy.json",
        "--history",
        "history.jsonl",
        "--artifacts-dir",
        &art,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let reports = d.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), reports[0].display().to_string());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("history.jsonl:15: torn last line"),
        "{stderr}"
    );

    let html = std::fs::read_to_string(&reports[0]).unwrap();
    let charts = check_report(&html);
    assert!(
        html.contains("history.jsonl:15: torn last line"),
        "the report says so too"
    );
    let trends: BTreeMap<&str, (usize, usize)> = charts
        .iter()
        .filter(|c| c.class == "chart trend")
        .map(|c| (c.subject.as_str(), (c.circles, c.changepoints)))
        .collect();
    assert_eq!(
        trends,
        BTreeMap::from([("latency_p99_ms", (2, 0)), ("rps", (12, 1))]),
        "one dot per finished cp1 run, and the rps step marked"
    );
    render_with_chromium(&reports[0]);
}

#[test]
fn perf_gate_writes_the_report_and_perf_report_reads_its_verdict() {
    let d = Dir::new();
    let art = d.path("art").display().to_string();
    let out = d.xtask(&[
        "perf-gate",
        "--candidate",
        "candidate.json",
        "--baseline",
        "baseline.json",
        "--policy",
        "policy.json",
        "--artifacts-dir",
        &art,
    ]);
    // The candidate is a different machine than the real baseline, and far faster or
    // slower on some metrics: what matters is that the report is written whatever the verdict.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    let reports = d.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let gate_html = std::fs::read_to_string(&reports[0]).unwrap();
    check_report(&gate_html);
    assert!(
        !gate_html.contains("id=\"history\""),
        "no history store here"
    );

    let verdict = std::fs::read_dir(d.path("art"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let out = d.xtask(&[
        "perf-report",
        "--verdict",
        verdict.to_str().unwrap(),
        "--artifacts-dir",
        &art,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(d.reports().len(), 2);
    // Without arguments it takes the newest verdict.
    let out = d.xtask(&["perf-report", "--artifacts-dir", &art]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(d.reports().len(), 3);
    for r in d.reports() {
        check_report(&std::fs::read_to_string(r).unwrap());
    }
}

#[test]
fn perf_gate_with_history_ends_the_trends_with_its_run() {
    let d = Dir::new();
    let art = d.path("art").display().to_string();
    let history = d.path("h.jsonl").display().to_string();
    let mut args = vec!["perf-gate", "--candidate", "candidate.json", "--baseline"];
    args.extend([
        "baseline.json",
        "--policy",
        "policy.json",
        "--artifacts-dir",
        &art,
    ]);
    args.extend(["--history", &history]);
    let out = d.xtask(&args);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    let reports = d.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let charts = charts(&std::fs::read_to_string(&reports[0]).unwrap());
    let rps = charts
        .iter()
        .find(|c| c.class == "chart trend" && c.subject == "rps")
        .expect("an rps trend");
    assert_eq!(rps.circles, 1, "the run just recorded");
}

#[test]
fn bad_inputs_exit_2_naming_the_file() {
    let d = Dir::new();
    let art = d.path("art").display().to_string();
    let out = d.xtask(&["perf-report", "--artifacts-dir", &art]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("perf-gate"));
    d.write("v.json", "{\"inputs\": {}}");
    let out = d.xtask(&[
        "perf-report",
        "--verdict",
        "v.json",
        "--artifacts-dir",
        &art,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("v.json: field `inputs.baseline`: is required")
    );
    assert!(d.reports().is_empty());
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Renders the report to a PNG with headless Chromium, when it is installed (Debian package
/// `chromium`; CI does not install it, it is too heavy for CI's time budget).
fn render_with_chromium(html: &Path) {
    let Some(chromium) = on_path("chromium") else {
        eprintln!(
            "\n*** SKIP: chromium is not on PATH: the report was not rendered in a browser \
             (install it with `apt-get install chromium` to run this check) ***\n"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("r.png");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!(
            "--user-data-dir={}",
            tmp.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,3000")
        .arg(format!("file://{}", html.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting chromium");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish rendering in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "chromium: {status}");
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "the screenshot is {size} bytes: nothing rendered?"
    );
    if let Some(keep) = std::env::var_os("PERF_REPORT_PNG") {
        std::fs::copy(&png, keep).unwrap();
    }
}
