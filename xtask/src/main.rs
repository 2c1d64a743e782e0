//! `cargo xtask`: parses flags, runs the command (`xtask::commands`), and maps the result to
//! the exit code: 0 ok, 1 regression, 2 bad usage or input, 3 the benchmark failed.

use std::process::ExitCode;

use clap::Parser;
use xtask::exit;
use xtask::flags::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version on stdout with exit 0; usage errors get exit 2.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(exit::BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match xtask::commands::run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit::code_for(&err))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
