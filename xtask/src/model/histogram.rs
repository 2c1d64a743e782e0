//! The latency histograms a run file keeps per trial: HDR histograms, V2 + deflate, base64
//! (written by the load generator with the same crates). Measurement (failover, burst) and
//! the HTML report both decode them.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use hdrhistogram::Histogram;
use serde_json::Value;

/// Decodes one trial's histogram as perf-bench stores it:
/// `{"encoding": "hdrhistogram-v2-deflate+base64", "unit": "ns", "data": "..."}`.
pub fn decode(v: &Value) -> Result<Histogram<u64>> {
    let encoding = v["encoding"].as_str().unwrap_or("");
    if encoding != "hdrhistogram-v2-deflate+base64" {
        bail!("unknown histogram encoding {encoding:?}");
    }
    let data = v["data"].as_str().context("histogram without `data`")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .context("histogram `data` is not base64")?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("decoding the histogram: {e:?}"))
}
