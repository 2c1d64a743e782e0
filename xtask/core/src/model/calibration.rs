//! A calibration (`perf-calibrate`): how noisy each gated metric is on this machine, from
//! A/A pairs (the same router on both sides), and the smallest change the gate can resolve
//! at a number of trials. Written to `_artifacts/perf_calibration_<ts>.json`, and with
//! `--write` to `perf/calibration_<workload>.json`, where the gate reads it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::model::json;
use crate::model::run_file::Env;

pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub schema_version: u64,
    pub workload: String,
    pub timestamp: String,
    /// The commit whose router was measured against itself.
    pub commit: Option<String>,
    /// A/A pairs measured.
    pub pairs: u32,
    pub env: Env,
    /// Per relative rule of the policy.
    pub metrics: BTreeMap<String, Noise>,
}

/// One metric's noise on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noise {
    /// Standard deviation of the A/A per-pair change, in percent.
    pub noise_pct: f64,
    /// The rule's threshold, in percent.
    pub threshold_pct: f64,
    /// Trials → the smallest change the gate's interval resolves with that many (half its
    /// width, at the per-look confidence), in percent.
    pub resolution_pct: BTreeMap<u32, f64>,
}

/// `perf/calibration_<workload>.json` (`-` in the name written `_`).
pub fn path_for(root: &Path, workload: &str) -> PathBuf {
    root.join("perf")
        .join(format!("calibration_{}.json", workload.replace('-', "_")))
}

pub fn load(path: &Path) -> Result<Calibration> {
    let text = json::read_input(path, json::MAX_INPUT_BYTES)?;
    json::parse(&text, &path.display().to_string())
}
