//! Unit tests of `xtask::bench::perf_counter`.
//! Tests of its private helpers (`unavailable_reason`) stay in its `#[cfg(test)]` module.

use xtask::bench::perf_counter::*;

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
