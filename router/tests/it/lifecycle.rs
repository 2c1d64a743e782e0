//! Process lifecycle: graceful shutdown on SIGTERM with requests in flight, SIGINT, and the
//! exit code 2 with a clear message for bad flags and bad policy files.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{
    Client, DELAY_EVERY_ENV, DELAY_US_ENV, RouterCmd, SLOWDOWN_ENV, ScratchDir, decide_req,
    policy_file,
};

const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_0() {
    const IN_FLIGHT: usize = 3;
    // Each decision holds its slot for 2 s without using CPU (the test delay knob), so all
    // three are in flight together however busy the machine is. With CPU work calibrated to
    // 150 ms instead, a loaded CI runner once finished them one after another and the wait
    // below never saw three at once.
    let mut router = RouterCmd::new()
        .env(DELAY_US_ENV, "2000000")
        .env(DELAY_EVERY_ENV, "1")
        .start();
    let addr = router.addr();
    let clients: Vec<_> = (0..IN_FLIGHT)
        .map(|i| {
            thread::spawn(move || {
                Client::connect(addr).decide(&decide_req("acme", &format!("term-{i}"), json!({})))
            })
        })
        .collect();

    // Wait (bounded) until every request has been admitted, then signal.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut metrics = Client::connect(addr);
    loop {
        let text = metrics.get("/metrics").expect("GET /metrics").text();
        let inflight = crate::support::parse_openmetrics(&text)
            .expect("valid exposition")
            .into_iter()
            .find(|s| s.name == "router_inflight_requests")
            .map_or(0.0, |s| s.value);
        if inflight >= IN_FLIGHT as f64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {inflight} of {IN_FLIGHT} requests in flight"
        );
        thread::sleep(Duration::from_millis(2));
    }
    router.signal(libc::SIGTERM);

    for (i, h) in clients.into_iter().enumerate() {
        let resp = h.join().expect("client thread");
        assert_eq!(resp.status, 200, "in-flight request {i}: {}", resp.text());
        assert_eq!(resp.json()["context"]["request_id"], format!("term-{i}"));
    }
    let status = router.wait_exit(EXIT_TIMEOUT);
    assert_eq!(
        status.code(),
        Some(0),
        "{status}; stderr:\n{}",
        router.stderr()
    );
    assert!(
        Client::try_connect(addr).is_err(),
        "the port is closed after exit"
    );
}

#[test]
fn sigint_exits_0() {
    let mut router = RouterCmd::new().start();
    router
        .client()
        .decide_ok(&decide_req("acme", "int", json!({})));
    router.signal(libc::SIGINT);
    let status = router.wait_exit(EXIT_TIMEOUT);
    assert_eq!(
        status.code(),
        Some(0),
        "{status}; stderr:\n{}",
        router.stderr()
    );
}

#[test]
fn sigterm_right_after_the_address_line_exits_0() {
    // A harness may stop a router as soon as it has read the address line, before `/ready`;
    // the signal must take the graceful path, not the default action (regression test:
    // the handlers used to be installed only after the line was printed).
    for _ in 0..10 {
        let mut router = RouterCmd::new().spawn();
        router.signal(libc::SIGTERM);
        let status = router.wait_exit(EXIT_TIMEOUT);
        assert_eq!(
            status.code(),
            Some(0),
            "{status}; stderr:\n{}",
            router.stderr()
        );
    }
}

/// Runs the router on a policy directory holding `acme.json` edited by `edit`.
fn run_with_bad_policy(
    edit: impl FnOnce(&mut serde_json::Value),
) -> (String, crate::support::Finished) {
    let dir = ScratchDir::new("policies");
    let mut acme = policy_file("acme");
    edit(&mut acme);
    let file = dir.write("acme.json", &serde_json::to_string_pretty(&acme).unwrap());
    let done = RouterCmd::new()
        .args(["--listen", "127.0.0.1:0", "--policies"])
        .arg(dir.0.to_str().expect("utf-8 path"))
        .run_to_exit(EXIT_TIMEOUT);
    (file.display().to_string(), done)
}

#[test]
fn policy_with_an_unknown_field_exits_2_naming_file_and_field() {
    let (file, done) = run_with_bad_policy(|acme| {
        acme["policies"][0]["providers"][1]["colour"] = json!("blue");
    });
    assert_eq!(done.status.code(), Some(2), "stderr:\n{}", done.stderr);
    assert!(
        done.stderr.contains(&file),
        "names the file: {}",
        done.stderr
    );
    assert!(
        done.stderr.contains("colour"),
        "names the field: {}",
        done.stderr
    );
    assert!(
        !done.stdout.contains("listening"),
        "never listened: {}",
        done.stdout
    );
}

#[test]
fn policy_with_an_unknown_fallback_exits_2_naming_file_and_field() {
    let (file, done) = run_with_bad_policy(|acme| {
        acme["policies"][0]["fallback"] = json!(["local-llama", "skynet"]);
    });
    assert_eq!(done.status.code(), Some(2), "stderr:\n{}", done.stderr);
    assert!(
        done.stderr.contains(&file),
        "names the file: {}",
        done.stderr
    );
    assert!(
        done.stderr.contains("policies[0].fallback[1]") && done.stderr.contains("skynet"),
        "names the field and the provider: {}",
        done.stderr
    );
}

#[test]
fn missing_or_empty_policy_directory_exits_2() {
    let empty = ScratchDir::new("empty-policies");
    let missing = empty.0.join("does-not-exist");
    for dir in [&empty.0, &missing] {
        let done = RouterCmd::new()
            .args(["--listen", "127.0.0.1:0", "--policies"])
            .arg(dir.to_str().unwrap())
            .run_to_exit(EXIT_TIMEOUT);
        assert_eq!(
            done.status.code(),
            Some(2),
            "{}: {}",
            dir.display(),
            done.stderr
        );
        assert!(
            done.stderr.contains(&*dir.to_string_lossy()),
            "{}",
            done.stderr
        );
    }
}

#[test]
fn bad_flags_and_bad_knob_exit_2() {
    for args in [
        &["--no-such-flag"][..],
        &["--max-inflight", "0"],
        &["--max-inflight", "many"],
        &["--sticky-ttl", "5parsecs"],
        &["--listen", "not-an-address"],
        &["--worker-threads", "0"],
        &["stray-positional"],
    ] {
        let done = RouterCmd::new()
            .args(args.iter().copied())
            .run_to_exit(EXIT_TIMEOUT);
        assert_eq!(done.status.code(), Some(2), "{args:?}: {}", done.stderr);
        assert!(!done.stderr.trim().is_empty(), "{args:?}: says why");
    }
    let done = RouterCmd::new()
        .args(["--listen", "127.0.0.1:0"])
        .env(SLOWDOWN_ENV, "lots")
        .run_to_exit(EXIT_TIMEOUT);
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert!(done.stderr.contains(SLOWDOWN_ENV), "{}", done.stderr);
    // Help is not an error.
    let done = RouterCmd::new().arg("--help").run_to_exit(EXIT_TIMEOUT);
    assert_eq!(done.status.code(), Some(0));
    assert!(done.stdout.contains("--max-inflight"));
}
