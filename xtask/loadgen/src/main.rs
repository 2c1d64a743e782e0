//! The `loadgen` binary: parse flags, run, print one JSON document on stdout, exit
//! 0 (ok), 1 (a target unreachable or run failed) or 2 (bad usage or input).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use loadgen::Output;
use loadgen::flags::Flags;

fn main() -> ExitCode {
    let cfg = match Flags::parse().into_config() {
        Ok(cfg) => cfg,
        Err(err) => {
            eprintln!("loadgen: error: {err}");
            return ExitCode::from(2);
        }
    };
    let output = match loadgen::run_targets(&cfg) {
        Ok(reports) => Output::new(reports),
        Err(err) => {
            eprintln!("loadgen: error: {err}");
            return ExitCode::from(err.exit_code());
        }
    };
    let json = serde_json::to_string(&output).expect("the report always serializes");
    if let Err(err) = writeln!(std::io::stdout().lock(), "{json}") {
        eprintln!("loadgen: error: writing results to stdout: {err}");
        return ExitCode::from(1);
    }
    let reports = output.reports();
    let mut unreachable = false;
    for report in reports {
        let prefix = loadgen::stderr_prefix(report, reports.len());
        if report.target_unreachable() {
            eprintln!(
                "{prefix}error: could not connect to {} ({} failed attempts); is the server \
                 running?",
                report.target, report.errors.connect
            );
            unreachable = true;
            continue;
        }
        let rejections = if report.kinds.is_some() {
            format!(", {} expected rejections", report.expected_rejections)
        } else {
            String::new()
        };
        eprintln!(
            "{prefix}{} responses ({} ok{rejections}) in {:.2} s, {:.0} ok/s, p50 {} ms, p99 {} \
             ms",
            report.responses,
            report.ok,
            report.duration_s,
            report.rps,
            fmt_ms(report.latency_ms.p50),
            fmt_ms(report.latency_ms.p99),
        );
    }
    if unreachable {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn fmt_ms(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3}"))
}
