//! The file formats and names everything else works with: workloads and their scenario
//! parameters, run files, policies, the history store, and where files live. Types and
//! parsing only: nothing here starts a process or judges a run.

pub mod artifacts;
pub mod calibration;
pub mod counters;
pub mod histogram;
pub mod history;
pub mod json;
pub mod load;
pub mod load_report;
pub mod lock;
pub mod metric;
pub mod paths;
pub mod policy;
pub mod profile;
pub mod run_file;
pub mod scenario;
pub mod suite;
pub mod workload;
