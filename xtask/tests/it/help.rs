//! `--help` states the exit codes: all of them for `cargo xtask`, and for each command the
//! ones it can end with.

use std::process::Command;

/// `cargo xtask ARGS`'s stdout, which must exit 0.
fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The code at the start of each line under `Exit codes:`.
fn exit_code_lines(text: &str) -> Vec<String> {
    let (_, codes) = text
        .split_once("\nExit codes:\n")
        .expect("an `Exit codes:` section");
    codes
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .map(String::from)
        .collect()
}

#[test]
fn top_level_help_lists_every_exit_code() {
    for flag in ["--help", "-h"] {
        let text = help(&[flag]);
        assert_eq!(exit_code_lines(&text), ["0", "1", "2", "3"], "{text}");
        assert!(text.contains("1  the gate failed: a regression"), "{text}");
        assert!(text.contains("3  the benchmark itself failed"), "{text}");
    }
}

#[test]
fn perf_gate_help_lists_its_exit_codes() {
    let text = help(&["perf-gate", "--help"]);
    assert_eq!(exit_code_lines(&text), ["0", "1", "2", "3"], "{text}");
    assert!(text.contains("0  the gate passed"), "{text}");
    assert!(text.contains("2  bad usage or a bad input file"), "{text}");
    // The flags are still there, above the codes.
    assert!(
        text.find("--candidate") < text.find("Exit codes:"),
        "{text}"
    );
}

#[test]
fn every_command_states_what_it_exits_with() {
    let commands = [
        ("perf-bench", &["0", "2", "3"][..]),
        ("perf-baseline-bump", &["0", "2", "3"]),
        ("install-hooks", &["0", "2"]),
        ("ci", &["0", "1", "2", "3"]),
        ("perf-report", &["0", "2"]),
        ("perf-history", &["0", "1", "2"]),
    ];
    for (command, codes) in commands {
        let text = help(&[command, "--help"]);
        assert_eq!(exit_code_lines(&text), codes, "{command}: {text}");
    }
    assert!(
        help(&["ci", "--help"]).contains("exits with that step's code"),
        "ci"
    );
}
