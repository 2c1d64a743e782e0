//! Progress on stderr: a bar per phase on a terminal (elapsed, remaining, rps when done);
//! one plain line per phase otherwise (CI logs stay readable).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub(crate) struct Progress {
    tty: bool,
    /// Follows each phase's name: which router of a pair it is.
    label: String,
}

/// A phase in progress; `finish` reports its throughput.
pub(crate) struct PhaseBar {
    name: String,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            label: String::new(),
        }
    }

    /// One plain line per phase, `label` after its name: a pair's second router, beside the first.
    pub fn plain(label: &str) -> Self {
        Self {
            tty: false,
            label: label.to_string(),
        }
    }

    /// True when progress is drawn live (on a terminal).
    pub(crate) fn is_live(&self) -> bool {
        self.tty
    }

    pub fn note(&self, text: &str) {
        eprintln!("{text}");
    }

    /// Starts showing a phase of `duration_ms`; `live` is the load generator's progress file
    /// (`ELAPSED_MS RESPONSES`), read for the live request rate.
    pub fn phase(&self, name: &str, duration_ms: u64, live: Option<PathBuf>) -> PhaseBar {
        if !self.tty {
            // One line when the phase ends, so CI logs carry the result with the name.
            return PhaseBar {
                name: format!(
                    "{name} ({:.1} s){}",
                    duration_ms as f64 / 1000.0,
                    self.label
                ),
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
            let mut last: Option<(f64, f64)> = None;
            while !ticker.is_finished() {
                if let Some(now) = live.as_deref().and_then(read_progress) {
                    if let Some(prev) = last
                        && now.0 > prev.0
                    {
                        let rps = (now.1 - prev.1) * 1000.0 / (now.0 - prev.0);
                        ticker.set_message(format!("{rps:.0} req/s"));
                    }
                    last = Some(now);
                }
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

/// `(elapsed_ms, responses)` from a load generator progress file.
fn read_progress(path: &Path) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut parts = text.split_whitespace().map(|p| p.parse::<f64>().ok());
    Some((parts.next()??, parts.next()??))
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
