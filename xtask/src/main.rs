//! `cargo xtask`: parses flags, runs the command (`xtask::commands`), and maps the result to
//! the exit code: 0 ok, 1 regression, 2 bad usage or input, 3 the benchmark failed, 130/143
//! a benchmark interrupted by SIGINT/SIGTERM (after writing its artifacts).

use std::process::ExitCode;

use clap::Parser;
use xtask::exit;
use xtask::flags::Cli;

fn main() -> ExitCode {
    // clap prints help/version on stdout and exits 0, a usage error on stderr with exit 2
    // (`exit::BAD_INPUT`).
    let code = match xtask::commands::run(Cli::parse().command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::code_for(&err)
        }
    };
    // An interrupted benchmark wrote its artifacts (status `interrupted`); it then exits as a
    // shell reports a process the signal ended: 130 for SIGINT, 143 for SIGTERM.
    ExitCode::from(xtask::bench::interrupt::exit_code().unwrap_or(code))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
