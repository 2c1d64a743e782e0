//! Unit tests of `crate::bench::perf_counter`. Its private helpers are tested at the end.

use crate::bench::perf_counter::*;

#[test]
fn task_clock_counts_this_process() {
    // Software events need no PMU; they can still be blocked by a container's seccomp
    // policy, in which case the probe must say so rather than pass.
    match probe(Event::TaskClock) {
        Ok(()) => {
            let counter = ProcessCounter::open(std::process::id(), Event::TaskClock).unwrap();
            assert!(counter.threads() >= 1);
            let before = counter.read().unwrap();
            let mut x = 0u64;
            for i in 0..2_000_000u64 {
                x = std::hint::black_box(x.wrapping_add(i));
            }
            std::hint::black_box(x);
            let after = counter.read().unwrap();
            assert!(after.total > before.total, "{before:?} -> {after:?}");
        }
        Err(why) => {
            eprintln!("\n*** SKIP task_clock_counts_this_process: {why} ***\n");
        }
    }
}

// The module's private helpers.

#[test]
fn a_missing_pmu_is_named_as_such() {
    let err = io::Error::from_raw_os_error(libc::ENOENT);
    let why = unavailable_reason(Event::Instructions, &err);
    assert!(why.starts_with("no hardware PMU for instructions"), "{why}");
    let err = io::Error::from_raw_os_error(libc::EACCES);
    let why = unavailable_reason(Event::Instructions, &err);
    assert!(why.contains("perf_event_paranoid is"), "{why}");
}
