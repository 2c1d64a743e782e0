//! Unit tests of `crate::commands::suite`.

use anyhow::Result;

use crate::commands::suite::*;
use crate::model::suite::{Suite, workloads};

fn member(result: Result<u8>) -> Member {
    Member {
        workload: "w".into(),
        result,
    }
}

#[test]
fn the_worst_outcome_is_the_suite_exit_code() {
    assert_eq!(exit_code(&[member(Ok(0)), member(Ok(0))]), 0);
    assert_eq!(exit_code(&[member(Ok(0)), member(Ok(1))]), 1);
    assert_eq!(
        exit_code(&[member(Err(anyhow::anyhow!("x"))), member(Ok(1))]),
        1
    );
    assert_eq!(
        exit_code(&[member(Err(anyhow::anyhow!("x"))), member(Ok(0))]),
        2
    );
    assert_eq!(exit_code(&[member(Ok(1)), member(Ok(3))]), 3);
}

#[test]
fn suites_list_shipped_workloads() {
    let all = workloads(Suite::All).unwrap();
    assert!(all.contains(&"cp1".to_string()));
    assert_eq!(all.last().map(String::as_str), Some("components"));
    let scenarios = workloads(Suite::Scenarios).unwrap();
    assert!(!scenarios.contains(&"cp1".to_string()));
    assert_eq!(workloads(Suite::Components).unwrap(), ["components"]);
}
