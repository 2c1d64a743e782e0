//! `/metrics`: the exposition is valid OpenMetrics text (checked line by line by the strict
//! parser in `support`), carries the documented families, and its counters move by exactly
//! the requests made.

use serde_json::json;

use crate::support::{Router, decide_req, parse_openmetrics, raw_request};

#[test]
fn exposition_is_valid_and_counters_move_by_the_requests_made() {
    const OK: usize = 25;
    const INVALID: usize = 7;
    const UNKNOWN_TENANT: usize = 3;
    let router = Router::start(&[]);
    let mut c = router.client();

    let resp = c.get("/metrics").expect("GET /metrics");
    assert_eq!(resp.status, 200);
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/openmetrics-text") || ct.starts_with("text/plain"),
        "content type {ct}"
    );
    let before = router.metrics();
    for family in [
        "router_requests",
        "router_errors",
        "router_backpressure_active",
        "router_inflight_requests",
        "router_decision_duration_seconds",
        "router_sticky_entries",
        "router_test_slowdown_iterations",
    ] {
        assert!(
            before.text.contains(&format!("# TYPE {family} ")),
            "no family {family} in\n{}",
            before.text
        );
    }
    assert_eq!(before.value("router_test_slowdown_iterations", &[]), 0.0);

    for i in 0..OK {
        c.decide_ok(&decide_req("globex", &format!("m-{i}"), json!({})));
    }
    for i in 0..INVALID {
        let resp = c
            .send_raw(&raw_request(
                "POST",
                "/v1/decide",
                Some("application/json"),
                format!("{{\"version\":\"1\",\"tenant_id\":{i}}}").as_bytes(),
            ))
            .expect("POST /v1/decide");
        assert_eq!(resp.status, 400);
        assert_eq!(resp.error_code().as_deref(), Some("invalid_request"));
    }
    for i in 0..UNKNOWN_TENANT {
        let resp = c.decide(&decide_req("hooli", &format!("u-{i}"), json!({})));
        assert_eq!(resp.status, 404);
    }
    // Other endpoints are not decisions and move none of these counters.
    for path in ["/health", "/ready", "/nope"] {
        c.get(path).expect(path);
    }

    let after = router.metrics();
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.get(name, labels).unwrap_or(0.0)
    };
    let http = ("transport", "http");
    assert_eq!(
        delta("router_requests_total", &[http, ("outcome", "ok")]),
        OK as f64
    );
    assert_eq!(
        delta(
            "router_requests_total",
            &[http, ("outcome", "invalid_request")]
        ),
        INVALID as f64
    );
    assert_eq!(
        delta("router_errors_total", &[http, ("code", "invalid_request")]),
        INVALID as f64
    );
    assert_eq!(
        delta("router_errors_total", &[http, ("code", "tenant_not_found")]),
        UNKNOWN_TENANT as f64
    );
    assert_eq!(
        delta("router_decision_duration_seconds_count", &[http]),
        (OK + INVALID + UNKNOWN_TENANT) as f64,
        "every admitted decision is timed"
    );
    assert_eq!(
        after.value(
            "router_decision_duration_seconds_bucket",
            &[http, ("le", "+Inf")]
        ),
        after.value("router_decision_duration_seconds_count", &[http])
    );
    assert_eq!(delta("router_backpressure_active_total", &[http]), 0.0);
    assert_eq!(after.value("router_inflight_requests", &[http]), 0.0);
    let errors_total: f64 = after
        .samples
        .iter()
        .filter(|s| s.name == "router_errors_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(errors_total, (INVALID + UNKNOWN_TENANT) as f64);
}

#[test]
fn the_validator_rejects_malformed_expositions() {
    let good = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total{k=\"v\"} 3\n# TYPE g gauge\ng 1.5\n# EOF\n";
    let samples = parse_openmetrics(good).expect("a good exposition parses");
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[0].labels["k"], "v");
    for (why, bad) in [
        ("no EOF", "# TYPE g gauge\ng 1\n"),
        ("text after EOF", "# TYPE g gauge\ng 1\n# EOF\ng 2\n"),
        ("no newline after EOF", "# TYPE g gauge\ng 1\n# EOF"),
        ("sample before TYPE", "g 1\n# EOF\n"),
        ("counter without _total", "# TYPE c counter\nc 1\n# EOF\n"),
        ("foreign sample", "# TYPE g gauge\nh 1\n# EOF\n"),
        ("unquoted label", "# TYPE g gauge\ng{k=v} 1\n# EOF\n"),
        ("bad escape", "# TYPE g gauge\ng{k=\"\\t\"} 1\n# EOF\n"),
        (
            "duplicate label",
            "# TYPE g gauge\ng{k=\"a\",k=\"b\"} 1\n# EOF\n",
        ),
        ("trailing comma", "# TYPE g gauge\ng{k=\"a\",} 1\n# EOF\n"),
        ("bad value", "# TYPE g gauge\ng one\n# EOF\n"),
        ("two spaces", "# TYPE g gauge\ng  1\n# EOF\n"),
        ("negative counter", "# TYPE c counter\nc_total -1\n# EOF\n"),
        ("unknown type", "# TYPE g thermometer\ng 1\n# EOF\n"),
        (
            "family twice",
            "# TYPE g gauge\ng 1\n# TYPE h gauge\nh 1\n# TYPE g gauge\n# EOF\n",
        ),
        (
            "bucket without le",
            "# TYPE h histogram\nh_bucket 1\n# EOF\n",
        ),
        ("blank line", "# TYPE g gauge\n\ng 1\n# EOF\n"),
        ("stray comment", "# hello\n# EOF\n"),
        (
            "TYPE after samples",
            "# HELP g G.\ng 1\n# TYPE g gauge\n# EOF\n",
        ),
    ] {
        assert!(parse_openmetrics(bad).is_err(), "accepted: {why}");
    }
}
