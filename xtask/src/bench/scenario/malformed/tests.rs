//! Unit tests of `crate::bench::scenario::malformed`.

use crate::bench::scenario::malformed::*;
use serde_json::json;

#[test]
fn storm_totals_count_reject_kinds_and_every_5xx() {
    let kind = |expect: &str, sent: u64, status_4xx: u64, status_5xx: u64| {
        json!({"expect": expect, "sent": sent, "responses": sent, "ok": 0,
               "status_4xx": status_4xx, "status_5xx": status_5xx, "timeouts": 0,
               "io_errors": 0, "status_counts": {}, "latency_ms": {}})
    };
    let phase = json!({"model": "closed", "target": "127.0.0.1:1", "path": "/v1/decide",
    "connections": 1, "threads": 1, "duration_s": 1.0, "requests_sent": 100,
    "responses": 100, "ok": 10, "expected_rejections": 89, "rps": 10.0,
    "status_counts": {}, "errors": {"connect": 0, "timeout": 0, "status": 1, "io": 0},
    "latency_ms": {}, "kinds": {
        "good": kind("ok", 10, 1, 2),
        "bad_json": kind("reject", 90, 89, 1),
    }});
    let phase: crate::model::load_report::Report = serde_json::from_value(phase).unwrap();
    let (bad, rejected, server_errors) = storm_totals(&[phase.clone(), phase]);
    assert_eq!((bad, rejected, server_errors), (180.0, 178.0, 6.0));
}
