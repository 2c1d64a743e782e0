//! Exit codes shared by every command, and the error kinds that map to them.

use std::fmt;

/// 0 success / gate passed.
pub const OK: u8 = 0;
/// 1 gate failed: a regression.
pub const REGRESSION: u8 = 1;
/// 2 bad usage or bad input file.
pub const BAD_INPUT: u8 = 2;
/// 3 the benchmark itself failed (router did not start, crashed, timed out).
pub const BENCH_FAILED: u8 = 3;

/// Marks an error as "the benchmark failed" so `main` exits 3 instead of 2.
#[derive(Debug)]
pub struct BenchFailed(pub String);

impl fmt::Display for BenchFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchFailed {}

/// Exit code for an error that reached `main`: 3 when the benchmark failed, else 2.
pub fn code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<BenchFailed>()) {
        BENCH_FAILED
    } else {
        BAD_INPUT
    }
}
