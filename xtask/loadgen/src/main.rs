//! The `loadgen` binary: parse flags, run, print one JSON document on stdout, exit
//! 0 (ok), 1 (target unreachable or run failed) or 2 (bad usage or input).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use loadgen::flags::Flags;

fn main() -> ExitCode {
    let cfg = match Flags::parse().into_config() {
        Ok(cfg) => cfg,
        Err(err) => {
            eprintln!("loadgen: error: {err}");
            return ExitCode::from(2);
        }
    };
    let report = match loadgen::run(&cfg) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("loadgen: error: {err}");
            return ExitCode::from(err.exit_code());
        }
    };
    let json = serde_json::to_string(&report).expect("the report always serializes");
    if let Err(err) = writeln!(std::io::stdout().lock(), "{json}") {
        eprintln!("loadgen: error: writing results to stdout: {err}");
        return ExitCode::from(1);
    }
    if report.target_unreachable() {
        eprintln!(
            "loadgen: error: could not connect to {} ({} failed attempts); is the server running?",
            report.target, report.errors.connect
        );
        return ExitCode::from(1);
    }
    let rejections = if report.kinds.is_some() {
        format!(", {} expected rejections", report.expected_rejections)
    } else {
        String::new()
    };
    eprintln!(
        "loadgen: {} responses ({} ok{rejections}) in {:.2} s, {:.0} ok/s, p50 {} ms, p99 {} ms",
        report.responses,
        report.ok,
        report.duration_s,
        report.rps,
        fmt_ms(report.latency_ms.p50),
        fmt_ms(report.latency_ms.p99),
    );
    ExitCode::SUCCESS
}

fn fmt_ms(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3}"))
}
