//! A router's instructions per request by function (`bench::profile` measures it under
//! callgrind, `report::profile` compares and draws two of them).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// One function's instructions per request.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Demangled, without the hash suffix: `router::service::AppState::decide`. Every
    /// instance of a generic function shares it.
    pub name: String,
    /// Its crate, the first path segment (`router`, `tokio`, `core`); for a C symbol the
    /// object file it is in (`libc.so.6`).
    pub krate: String,
    /// Executed in the function itself, code inlined into it included.
    pub self_ir: f64,
    /// Itself and everything it calls: the stacks it is on, each counted once.
    pub inclusive_ir: f64,
}

/// A router's instructions per request by function, and the stacks they ran on.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// Every function that executed a different count in the two runs, by name.
    pub functions: Vec<Function>,
    /// Folded stacks, `outer;...;inner` (function names) → instructions per request executed
    /// in the innermost function's own code on that stack: what a flame graph draws.
    /// callgrind records caller→callee costs, not stacks, so they are rebuilt from the call
    /// graph (see `fold`).
    pub stacks: BTreeMap<String, f64>,
    /// The whole router's instructions per request (every function's self cost).
    pub total_ir: f64,
    /// The responses the figures are per (the difference between the two runs).
    pub requests: u64,
    /// The callgrind out files of the two runs (N, then N/2 requests), for kcachegrind or
    /// `callgrind_annotate`: in the counting run's workdir until `keep` moves them.
    pub raw: Vec<PathBuf>,
}
