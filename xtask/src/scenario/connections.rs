//! The `connections` scenario (not yet implemented).

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

pub fn run(_p: &Params, _runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    Err(Status::Failed(
        "the connections scenario is not implemented yet".into(),
    ))
}
