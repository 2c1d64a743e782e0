//! Run-time settings of the service (the CLI maps onto these), and duration parsing.

use std::time::Duration;

/// Settings the service reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most decisions in progress at once; past it requests get 503 `overloaded`.
    pub max_inflight: usize,
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    pub sticky_ttl: Duration,
    /// Most sticky entries held at once.
    pub sticky_capacity: usize,
    /// Extra CPU work per decision (test-only slowdown knob; 0 = off).
    pub slowdown_iters: u64,
    /// How long shutdown waits for in-flight requests before giving up on them.
    pub shutdown_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_inflight: 1024,
            max_body_bytes: 64 * 1024,
            sticky_ttl: Duration::from_secs(300),
            sticky_capacity: 100_000,
            slowdown_iters: 0,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// The environment variable of the test-only slowdown knob.
pub const SLOWDOWN_ENV: &str = "ROUTER_TEST_SLOWDOWN_ITERS";

/// Parses `250ms`, `30s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}`: expected a number with a unit, like 30s or 250ms"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use ms, s, m or h)"
            ));
        }
    };
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
    }
}
