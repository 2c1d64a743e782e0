//! The perf gate's pure core, below xtask's orchestration: `model` (the file formats and
//! names: workload, scenario parameters, run file, policy, history, calibration, profile;
//! paths, artifact names, locks) and `gate` (the verdict as pure functions: evaluate, the
//! statistics, change points, calibration, the evidence schedule), with `exit` (the exit
//! codes every command shares). Nothing here starts a process; `gate` does no IO at all.

/// `as_str` for a fieldless enum: each variant's name as files and messages spell it.
macro_rules! names {
    ($ty:ident: $($variant:ident => $name:literal),+ $(,)?) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }
    };
}

pub mod exit;
pub mod gate;
pub mod model;
