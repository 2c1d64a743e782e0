//! `cargo xtask`: parses flags and dispatches to one module per command.

mod flags;

use std::process::ExitCode;

use clap::Parser;

use crate::flags::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version on stdout with exit 0; usage errors get exit 2.
            let _ = err.print();
            return if err.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let name = match cli.command {
        Command::PerfBench(_) => "perf-bench",
        Command::PerfGate(_) => "perf-gate",
        Command::PerfBaselineBump(_) => "perf-baseline-bump",
    };
    eprintln!("error: `cargo xtask {name}` is not implemented yet");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
