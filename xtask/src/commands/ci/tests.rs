//! Unit tests of `crate::commands::ci`.

use crate::commands::ci::*;
use clap::Parser as _;

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
    // The last step, parsed as the CLI parses it: the quick gate, unpaired, after the rest.
    let gate = STEPS.last().unwrap();
    let cli = crate::flags::Cli::try_parse_from(gate.split_whitespace().skip(1)).unwrap();
    let crate::flags::Command::PerfGate(args) = cli.command else {
        panic!("{gate} is not perf-gate");
    };
    assert_eq!(args.bench.workload, "quick");
    assert!(args.against.is_none());
    assert!(
        STEPS[..STEPS.len() - 1]
            .iter()
            .all(|s| !s.contains("perf-gate"))
    );
}
