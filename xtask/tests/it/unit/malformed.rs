//! Unit tests of `xtask::bench::scenario::malformed`.

use serde_json::json;
use xtask::bench::scenario::malformed::*;

#[test]
fn storm_totals_count_reject_kinds_and_every_5xx() {
    let phase = json!({"kinds": {
        "good": {"expect": "ok", "sent": 10, "status_4xx": 1, "status_5xx": 2},
        "bad_json": {"expect": "reject", "sent": 90, "status_4xx": 89, "status_5xx": 1},
    }});
    let (bad, rejected, server_errors) = storm_totals(&[phase.clone(), phase]);
    assert_eq!((bad, rejected, server_errors), (180.0, 178.0, 6.0));
}
