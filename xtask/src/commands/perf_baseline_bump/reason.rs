//! The reasons a baseline may change, and what a justification must at least be.

/// The reasons a baseline may change, as `--reason` takes them.
pub(super) const REASONS: [&str; 3] = [
    "trade-off",
    "architectural-improvement",
    "measurement-correction",
];
/// The only reason under which a regression beyond policy may be accepted.
pub(super) const TRADE_OFF: &str = "trade-off";
/// The reason that re-measures a baseline; across environments it is the only way to move
/// a baseline that cannot be paired (an in-process workload measured on another machine).
pub(super) const MEASUREMENT_CORRECTION: &str = "measurement-correction";
/// What the bump record says for a `--ratchet` bump, which takes no `--reason`.
pub(super) const RATCHET_REASON: &str = "ratchet";
/// Below these a justification cannot say what changed, why it is acceptable and why the
/// policy still makes sense, which is what a reviewer needs to read.
pub(super) const MIN_JUSTIFICATION_CHARS: usize = 40;
pub(super) const MIN_JUSTIFICATION_WORDS: usize = 6;
