//! Unit tests of `xtask::commands::ci`.

use xtask::commands::ci::*;

#[test]
fn failed_steps_map_to_our_exit_codes() {
    assert_eq!(step_exit_code(Some(1)), 1);
    assert_eq!(step_exit_code(Some(2)), 2);
    assert_eq!(step_exit_code(Some(101)), 1);
    assert_eq!(step_exit_code(None), 1);
    assert_eq!(step_exit_code(Some(255)), 1);
}

#[test]
fn the_gate_step_is_the_quick_workload() {
    let args = quick_gate_args().unwrap();
    assert_eq!(args.bench.workload, "quick");
    assert!(args.against.is_none());
}
