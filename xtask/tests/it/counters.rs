//! Instruction counters: perf_event_open where the machine allows it, callgrind otherwise.
//! The perf_event_open path is proved here with a software event (the task clock), which
//! needs no PMU, through the harness's own `xtask::bench::perf_counter`, pointed at the
//! real (debug) router.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bench::{
    artifacts, bench, binaries, f, gate_with, have_valgrind, serial, tiny_workload,
};

use xtask::bench::perf_counter::{Event, ProcessCounter, probe};

/// One HTTP/1.1 request on a fresh connection; the status code.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The perf_event_open path with the task clock: a counter opens on every thread of the
/// running router, and their sum grows much more under load than while the router idles.
#[test]
fn perf_event_open_counts_all_router_threads_with_a_software_event() {
    if let Err(why) = probe(Event::TaskClock) {
        eprintln!(
            "\n*** SKIP perf_event_open_counts_all_router_threads_with_a_software_event: \
             even a software counter cannot be opened here: {why} ***\n"
        );
        return;
    }
    let (router_bin, _) = binaries();
    let _serial = serial();
    let mut child = Command::new(router_bin)
        .args(["--listen", "127.0.0.1:0", "--worker-threads", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("router listening on ")
        .unwrap_or_else(|| panic!("unexpected first line `{line}`"))
        .parse()
        .unwrap();
    let ready_by = Instant::now() + Duration::from_secs(20);
    while request(addr, "GET", "/ready", "") != 200 {
        assert!(Instant::now() < ready_by, "router not ready");
        std::thread::sleep(Duration::from_millis(20));
    }

    let counter = ProcessCounter::open(pid, Event::TaskClock).unwrap();
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    // The main thread and two workers at least, each with a counter of its own.
    assert!(threads >= 3, "{threads} threads");
    assert_eq!(counter.threads(), threads, "a counter on every thread");

    let start = counter.read().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let idle = counter.read().unwrap();
    let body = r#"{"version":"1","tenant_id":"acme","request_id":"r1","task":{"type":"chat"}}"#;
    for _ in 0..300 {
        assert_eq!(request(addr, "POST", "/v1/decide", body), 200);
    }
    let loaded = counter.read().unwrap();

    // SAFETY: kill(2) on the child this test started and has not reaped.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "router exit: {status}");

    let idle_ns = idle.total - start.total;
    let load_ns = loaded.total - idle.total;
    eprintln!(
        "task clock over {threads} threads: {idle_ns} ns idle for 300 ms, {load_ns} ns for 300 requests; \
         per thread {:?} -> {:?}",
        idle.per_thread, loaded.per_thread
    );
    assert!(load_ns > 0, "the count did not grow under load");
    assert!(
        load_ns > 2 * idle_ns,
        "load {load_ns} ns is not clearly above idle {idle_ns} ns"
    );
    // The requests are served on the worker threads, not the main one: their counters
    // (opened on those threads, not on the process id) must have grown.
    let workers_grew = loaded
        .per_thread
        .iter()
        .zip(&idle.per_thread)
        .any(|((tid, after), (_, before))| *tid != pid as libc::pid_t && after > before);
    assert!(
        workers_grew,
        "{:?} -> {:?}",
        idle.per_thread, loaded.per_thread
    );
}

/// `--counters perf` on a machine without hardware counters: exit 2 before anything
/// starts, naming why and the alternative.
#[test]
fn perf_counters_without_a_pmu_are_bad_input_with_the_reason() {
    if probe(Event::Instructions).is_ok() {
        eprintln!(
            "\n*** SKIP perf_counters_without_a_pmu_are_bad_input_with_the_reason: this \
             machine can count hardware instructions ***\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let w = tiny_workload(dir.path(), 100);
    let out = bench(dir.path(), &w, &["--trials", "1", "--counters", "perf"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("cannot count hardware instructions"),
        "{stderr}"
    );
    // The reason names the missing PMU, the paranoid level or the errno.
    assert!(
        stderr.contains("no hardware PMU")
            || stderr.contains("perf_event_paranoid")
            || stderr.contains("os error")
            || stderr.contains("counted nothing"),
        "{stderr}"
    );
    assert!(stderr.contains("--counters callgrind"), "{stderr}");
    // Nothing started, so no artifacts.
    assert!(!dir.path().join("artifacts").exists());
}

/// A counting run of the tiny workload on the debug router, few requests.
fn counting_run(dir: &std::path::Path, workload: &std::path::Path, extra: &[&str]) -> Value {
    let args = [
        &["--trials", "1", "--no-warmup", "--counter-requests", "100"],
        extra,
    ]
    .concat();
    let out = bench(dir, workload, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let run = artifacts(dir);
    assert!(f(&run, "instructions_per_req") > 0.0);
    assert_eq!(
        run["samples"]["instructions_per_req"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    run
}

/// `--counters auto`: perf where the machine can count, else callgrind, and the run file
/// says which.
#[test]
fn auto_counters_fall_back_to_callgrind_without_hardware_counters() {
    let test = "auto_counters_fall_back_to_callgrind_without_hardware_counters";
    if probe(Event::Instructions).is_ok() {
        eprintln!("\n*** SKIP {test}: this machine has hardware counters, auto picks perf ***\n");
        return;
    }
    if !have_valgrind(test) {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = tiny_workload(dir.path(), 200);
    let run = counting_run(dir.path(), &w, &["--counters", "auto"]);
    assert_eq!(run["env"]["counters"], "callgrind", "{}", run["env"]);
    assert_eq!(run["env"]["counters_requested"], "auto", "{}", run["env"]);
    let log_name = std::fs::read_dir(dir.path().join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("bench_router_"))
        .unwrap();
    let log = std::fs::read_to_string(log_name).unwrap();
    assert!(
        log.contains("counters: auto chose callgrind") && log.contains("no hardware PMU"),
        "{log}"
    );
}

/// A workload with `"counters": "callgrind"` counts without the flag.
#[test]
fn workload_counters_field_counts_without_the_flag() {
    if !have_valgrind("workload_counters_field_counts_without_the_flag") {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = tiny_workload(dir.path(), 200);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&w).unwrap()).unwrap();
    doc["counters"] = "callgrind".into();
    std::fs::write(&w, doc.to_string()).unwrap();
    let run = counting_run(dir.path(), &w, &[]);
    assert_eq!(run["env"]["counters"], "callgrind", "{}", run["env"]);
    assert!(run["env"]["counters_requested"].is_null(), "{}", run["env"]);
}

/// The run file in an artifacts directory (not the profile files beside it).
fn run_file_in(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("perf_baseline_") && name.ends_with(".json")
        })
        .unwrap_or_else(|| panic!("no run file in {}", dir.display()))
}

/// A gate whose count fails does not wait for the wall-clock trials: one trial reads the other
/// rules, and the verdict is the count's FAIL.
#[test]
fn a_failing_count_answers_after_one_trial() {
    if !have_valgrind("a_failing_count_answers_after_one_trial") {
        return;
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = tiny_workload(dir.path(), 200);
    let counted = ["--counters", "callgrind", "--counter-requests", "100"];
    let out = bench(
        dir.path(),
        &w,
        &[&counted[..], &["--trials", "1", "--no-warmup"]].concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let baseline = run_file_in(&dir.path().join("artifacts"));
    let policy = r#"{"schema_version": 1,
        "gate": {"require_all_metrics_present": true, "env_mismatch": "warn",
                 "inconclusive": "pass", "watch_paths": ["router/"]},
        "rules": {"instructions_per_req": {"relative": {"max_pct_increase": 2}},
                  "rps": {"relative": {"max_pct_decrease": 90}}}}"#;
    // A few hundred more instructions per decision in a debug router: the count grows well
    // past +2%, the wall clock hardly.
    let gate = gate_with(
        dir.path(),
        &w,
        &baseline,
        policy,
        &[&counted[..], &["--trials", "5"]].concat(),
        &[("ROUTER_TEST_SLOWDOWN_ITERS", "2000")],
    );
    let stdout = String::from_utf8_lossy(&gate.stdout);
    let stderr = String::from_utf8_lossy(&gate.stderr);
    assert_eq!(gate.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("FAIL: instructions_per_req"), "{stdout}");
    assert!(
        stderr.contains("instructions_per_req failed on the count"),
        "{stderr}"
    );
    // Five trials were asked for; one ran.
    let run = run_file_in(&dir.path().join("gate"));
    let run: Value = serde_json::from_str(&std::fs::read_to_string(run).unwrap()).unwrap();
    assert_eq!(
        run["samples"]["rps"].as_array().unwrap().len(),
        1,
        "{}",
        run["samples"]
    );
}
