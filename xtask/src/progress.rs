//! Progress on stderr: a bar per phase on a terminal (elapsed, remaining, rps when done);
//! one plain line per phase otherwise (CI logs stay readable).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    tty: bool,
}

/// A phase in progress; `finish` reports its throughput.
pub struct PhaseBar {
    name: String,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// A line of its own.
    pub fn note(&self, text: &str) {
        eprintln!("{text}");
    }

    /// Starts showing a phase of `duration_ms`.
    pub fn phase(&self, name: &str, duration_ms: u64) -> PhaseBar {
        if !self.tty {
            eprintln!("  phase {name}: {:.1} s", duration_ms as f64 / 1000.0);
            return PhaseBar {
                name: name.to_string(),
                bar: None,
            };
        }
        let bar = ProgressBar::new(duration_ms.max(1));
        bar.set_style(
            ProgressStyle::with_template(
                "  {prefix:<12} [{bar:30}] {elapsed:>4} / ~{duration:4} {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        // The bar advances with wall time: the phase's length is known in advance.
        let ticker = bar.clone();
        std::thread::spawn(move || {
            while !ticker.is_finished() {
                ticker.set_position(
                    (ticker.elapsed().as_millis() as u64).min(ticker.length().unwrap_or(1)),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        PhaseBar {
            name: name.to_string(),
            bar: Some(bar),
        }
    }
}

impl PhaseBar {
    pub fn finish(self, rps: Option<f64>) {
        let msg = rps
            .filter(|r| r.is_finite())
            .map_or_else(String::new, |r| format!("{r:.0} req/s"));
        match self.bar {
            Some(bar) => bar.finish_with_message(msg),
            None => eprintln!("  phase {}: {msg}", self.name),
        }
    }
}
