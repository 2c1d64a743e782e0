//! Unit tests of `xtask::bench::scenario::connections`.
//! Tests of its private helpers (`nofile`, `router_nofile`, `open_idle`, `read_response`,
//! `still_open`) stay in its `#[cfg(test)]` module.

use xtask::bench::scenario::connections::*;

#[test]
fn nofile_line_of_proc_limits() {
    let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            1024                 524288               files     \n";
    assert_eq!(parse_nofile(text), Some((1024, 524_288)));
    let unlimited = "Max open files            unlimited            unlimited            files\n";
    assert_eq!(parse_nofile(unlimited), Some((u64::MAX, u64::MAX)));
    assert_eq!(parse_nofile("Max processes 10 10 processes\n"), None);
}

#[test]
fn levels_must_increase() {
    let at = |f: &str| format!("field `scenario.connections.{f}`");
    let p = Params {
        idle: vec![50, 200],
        active_connections: 2,
        active_rate: 200,
        active_ms: 500,
        settle_ms: 100,
    };
    p.validate(&at).unwrap();
    let err = Params {
        idle: vec![200, 200],
        ..p.clone()
    }
    .validate(&at)
    .unwrap_err();
    assert!(format!("{err}").contains("idle[1]"), "{err}");
    let err = Params {
        idle: vec![],
        ..p.clone()
    }
    .validate(&at)
    .unwrap_err();
    assert!(
        format!("{err}").contains("scenario.connections.idle"),
        "{err}"
    );
    let err = Params {
        idle: vec![MAX_IDLE + 1],
        ..p
    }
    .validate(&at)
    .unwrap_err();
    assert!(format!("{err}").contains("idle[0]"), "{err}");
}
