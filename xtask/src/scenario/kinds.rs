//! Scenarios over a mix of request kinds (mixed traffic, payload sizes): the workload's
//! phases, then per-kind metrics from the load generator's `kinds` results.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::trial::{Runner, Status};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Params {
    pub fn validate(&self, _at: &dyn Fn(&str) -> String) -> Result<()> {
        Ok(())
    }
}

pub fn run_mixed(_p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    runner.workload_phases()
}

pub fn run_payloads(_p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    runner.workload_phases()
}
