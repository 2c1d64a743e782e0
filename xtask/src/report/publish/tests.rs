//! Unit tests of `crate::report::publish`.

use clap::Parser as _;

use crate::flags::{Cli, Command, RecordArgs};

fn record_args(args: &[&str]) -> RecordArgs {
    let argv = ["cargo xtask", "perf-gate"].iter().chain(args);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::PerfGate(g) => g.record,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn history_takes_an_optional_path_and_export_takes_pairs() {
    let r = record_args(&["--history", "--export", "bmf", "b.json"]);
    assert_eq!(
        r.history.as_deref(),
        Some(std::path::Path::new(crate::model::history::DEFAULT_PATH))
    );
    assert_eq!(r.export, ["bmf", "b.json"]);
    let r = record_args(&[
        "--history",
        "h.jsonl",
        "--export",
        "github",
        "g.json",
        "--export",
        "openmetrics",
        "o.txt",
    ]);
    assert_eq!(r.history.as_deref(), Some(std::path::Path::new("h.jsonl")));
    assert_eq!(r.export.len(), 4);
    assert!(crate::report::publish::check(&r, false).is_ok());
    // The gate's formats need its verdict: perf-gate takes them, perf-bench refuses them
    // before it runs.
    let r = record_args(&["--export", "junit", "j.xml"]);
    assert!(crate::report::publish::check(&r, true).is_ok());
    let err = crate::report::publish::check(&r, false).err().unwrap();
    assert!(err.to_string().contains("only perf-gate"), "{err}");
}
