//! The latency histograms a run file keeps per trial: HDR histograms, V2 + deflate, base64
//! (written by the load generator with the same crates). Measurement (failover, burst) and
//! the HTML report both decode them.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The one encoding the load generator writes.
pub const ENCODING: &str = "hdrhistogram-v2-deflate+base64";

/// One histogram as stored: `{"encoding": "hdrhistogram-v2-deflate+base64", "unit": "ns",
/// "data": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoded {
    pub encoding: String,
    /// The unit of the recorded values (`ns`).
    #[serde(default)]
    pub unit: Option<String>,
    pub data: String,
}

impl Encoded {
    /// What a recorded value is divided by to give milliseconds; `None` for a unit the gate
    /// does not know. Dividing (rather than multiplying by 1e-6) is correctly rounded, as the
    /// load generator's own per-trial percentiles are.
    pub fn per_ms(&self) -> Option<f64> {
        match self.unit.as_deref() {
            None | Some("ns") => Some(1e6),
            Some("us") => Some(1e3),
            Some("ms") => Some(1.0),
            Some(_) => None,
        }
    }
}

/// Decodes a stored histogram.
pub fn decode(h: &Encoded) -> Result<Histogram<u64>> {
    if h.encoding != ENCODING {
        bail!("unknown histogram encoding {:?}", h.encoding);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(h.data.trim())
        .context("histogram `data` is not base64")?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("decoding the histogram: {e:?}"))
}

/// Encodes a histogram as the load generator writes it: HdrHistogram's V2 compressed
/// format, base64, values in ns. Readable by every HdrHistogram implementation.
pub fn encode(hist: &Histogram<u64>) -> Encoded {
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(hist, &mut bytes)
        .expect("serializing into memory cannot fail");
    Encoded {
        unit: Some("ns".into()),
        encoding: ENCODING.into(),
        data: base64::engine::general_purpose::STANDARD.encode(bytes),
    }
}
