//! Parameters of the `kinds` scenario, as its workload file states them (the runner is
//! `bench::scenario::kinds`).

use anyhow::Result;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Params {
    pub fn validate(&self, _at: &dyn Fn(&str) -> String) -> Result<()> {
        Ok(())
    }
}
