//! The verdict as pure functions over model types: `evaluate` (baseline, candidate, policy →
//! verdict), the statistics it uses, and change-point detection over the history. No IO.

pub mod calibrate;
pub mod cause;
pub mod changepoint;
pub mod cpu_split;
pub mod evaluate;
pub mod evidence;
pub mod pooled;
pub mod stats;
