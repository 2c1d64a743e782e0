//! One strict way to read JSON inputs (provisional; replaced by the strict-inputs branch).

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Largest input file xtask reads.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a whole input file once, refusing more than `max` bytes.
pub fn read_input(path: &Path, max: u64) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{}: is larger than {} MiB", path.display(), max >> 20);
    }
    String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8", path.display()))
}

/// The duplicate-key check alone.
pub fn check_duplicates(_text: &str, _source: &str) -> Result<()> {
    Ok(())
}
