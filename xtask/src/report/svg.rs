//! Hand-made SVG for the HTML report: a small writer, linear scales with readable ticks, and the
//! three chart types the report draws (percentile curves, trial strip plots, history trends).
//! Pure string building on plain numbers: the report decides what the numbers are.
//!
//! Three chart types do not need a plotting crate: this is shorter than configuring one, stays
//! byte-for-byte deterministic, and the output is small SVG that any browser shows offline.

use std::fmt::Write as _;

use crate::model::policy::fmt_num;
use crate::report::escape::xml_escape;

/// Colours of the two sides, used by every chart and the report's legend.
pub(crate) const BASELINE: &str = "#4c72b0";
pub(crate) const CANDIDATE: &str = "#dd8452";

/// Width of a chart; two fit side by side in the report.
const WIDTH: f64 = 560.0;
/// Width of the latency distribution chart, the report's main picture: the full page.
pub const WIDE: f64 = 1140.0;
const HEIGHT: f64 = 300.0;
/// Room for the axis labels: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (64.0, 16.0, 34.0, 44.0);
/// Where the labels under the x axis go.
const X_LABEL_Y: f64 = HEIGHT - MARGIN.3 + 16.0;

/// An SVG document being written; `finish` closes it.
struct Doc {
    out: String,
    width: f64,
}

impl Doc {
    /// A chart of `class` with one `data-` attribute, `(key, value)`, and its title.
    fn new(class: &str, (key, value): (&str, &str), title: &str, width: f64) -> Doc {
        let out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart {class}\" width=\"{width}\" \
             height=\"{HEIGHT}\" viewBox=\"0 0 {width} {HEIGHT}\" role=\"img\" data-{key}=\"{}\">\n\
             <title>{}</title>\n",
            xml_escape(value),
            xml_escape(title)
        );
        let mut doc = Doc { out, width };
        doc.text(MARGIN.0, 20.0, "start", "title", title);
        doc
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), style: &str) {
        let _ = writeln!(
            self.out,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" {style}/>"
        );
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, style: &str) {
        let (w, h) = (w.max(0.0), h.max(0.0));
        let _ = writeln!(
            self.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" {style}/>"
        );
    }

    fn circle(&mut self, x: f64, y: f64, r: f64, style: &str, tip: &str) {
        let _ = writeln!(
            self.out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" {style}><title>{}</title></circle>",
            xml_escape(tip)
        );
    }

    fn polyline(&mut self, points: &[(f64, f64)], colour: &str, label: &str) {
        let p: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let p = p.join(" ");
        let _ = writeln!(
            self.out,
            "<polyline class=\"series\" data-label=\"{}\" points=\"{p}\" fill=\"none\" \
             stroke=\"{colour}\" stroke-width=\"2\"/>",
            xml_escape(label)
        );
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, s: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" class=\"{class}\">{}</text>",
            xml_escape(s)
        );
    }

    /// The x axis title, centred under the chart.
    fn x_title(&mut self, s: &str) {
        self.text(self.width / 2.0, HEIGHT - 6.0, "middle", "axis", s);
    }

    /// The plot frame, horizontal grid lines with y labels, and the y axis title; returns
    /// the y scale, over the range of `ticks`.
    fn y_axis(&mut self, ticks: &[f64], label: &str) -> Scale {
        let y = Scale::new((ticks[0], *ticks.last().unwrap_or(&1.0)), PLOT_Y);
        let (left, right) = plot_x(self.width);
        for &t in ticks {
            let py = y.map(t);
            self.line((left, py), (right, py), "class=\"grid\"");
            self.text(left - 6.0, py + 4.0, "end", "tick", &fmt_num(t));
        }
        let mid = (MARGIN.2 + HEIGHT - MARGIN.3) / 2.0;
        let _ = writeln!(
            self.out,
            "<text transform=\"translate(14 {mid:.1}) rotate(-90)\" text-anchor=\"middle\" \
             class=\"axis\">{}</text>",
            xml_escape(label)
        );
        self.rect(
            left,
            MARGIN.2,
            right - left,
            HEIGHT - MARGIN.2 - MARGIN.3,
            "class=\"frame\"",
        );
        y
    }

    /// A legend entry in the plot's top left corner, one line per `slot`.
    fn legend(&mut self, slot: usize, colour: &str, label: &str) {
        let (x, y) = (MARGIN.0 + 10.0, MARGIN.2 + 10.0 + 18.0 * slot as f64);
        self.rect(x, y, 12.0, 12.0, &format!("fill=\"{colour}\""));
        self.text(x + 16.0, y + 10.0, "start", "tick", label);
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// A linear map from data values to pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    pub fn new((d0, d1): (f64, f64), (r0, r1): (f64, f64)) -> Scale {
        // A flat domain maps to the middle of the range instead of dividing by zero.
        let (d0, d1) = if d1 > d0 {
            (d0, d1)
        } else {
            (d0 - 1.0, d0 + 1.0)
        };
        Scale { d0, d1, r0, r1 }
    }

    pub fn map(&self, v: f64) -> f64 {
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// Round tick values (1, 2 or 5 times a power of ten) covering `lo..=hi`, about `n` of them.
/// Returns the ticks; the first is <= lo and the last >= hi, so they also give the axis range.
pub(crate) fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (-1.0, 1.0)
    } else {
        (lo - lo.abs() * 0.1, hi + hi.abs() * 0.1)
    };
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    // Rounded to the step's decimals, to drop float noise such as 0.6000000000000001.
    let scale = 10f64.powi((-step.log10().floor()).max(0.0) as i32);
    (first..=last)
        .map(|i| (i as f64 * step * scale).round() / scale)
        .collect()
}

fn plot_x(width: f64) -> (f64, f64) {
    (MARGIN.0, width - MARGIN.1)
}

/// The plot's bottom and top.
const PLOT_Y: (f64, f64) = (HEIGHT - MARGIN.3, MARGIN.2);

/// Ticks for `values` with 8% room above and below (0 to 1 when there are none).
fn padded_ticks(values: impl Iterator<Item = f64> + Clone) -> Vec<f64> {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = (hi - lo) * 0.08;
    ticks(lo - pad, hi + pad, 5)
}

/// One side's percentile curve: `(nines, value)` pairs, nines = -log10(1 - quantile).
pub(crate) struct Curve {
    pub label: String,
    pub colour: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// The largest "nines" value drawn: 4 is the 99.99th percentile.
pub(crate) const MAX_NINES: f64 = 4.0;

/// HDR-style latency-by-percentile chart: x is the percentile on a log "nines" axis (0 to
/// 99.99%), y the latency, linear. One polyline per curve, in order.
pub(crate) fn percentile_chart(
    title: &str,
    phase: &str,
    y_label: &str,
    curves: &[Curve],
) -> String {
    let mut doc = Doc::new("dist", ("phase", phase), title, WIDE);
    let max = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y = doc.y_axis(&ticks(0.0, max, 6), y_label);
    let x = Scale::new((0.0, MAX_NINES), plot_x(WIDE));
    // Label i is at i nines.
    for (nines, label) in ["0%", "90%", "99%", "99.9%", "99.99%"].iter().enumerate() {
        let nines = nines as f64;
        let px = x.map(nines);
        doc.line((px, PLOT_Y.0), (px, PLOT_Y.1), "class=\"grid\"");
        // The last label ends at the frame instead of running off the chart.
        let anchor = if nines < MAX_NINES { "middle" } else { "end" };
        doc.text(px, X_LABEL_Y, anchor, "tick", label);
    }
    let median = x.map(2f64.log10());
    doc.line(
        (median, PLOT_Y.0),
        (median, PLOT_Y.0 - 5.0),
        "class=\"axisline\"",
    );
    doc.text(median, X_LABEL_Y, "middle", "tick", "50%");
    doc.x_title("percentile (log scale of nines)");
    for (i, c) in curves.iter().enumerate() {
        let pts: Vec<(f64, f64)> = c
            .points
            .iter()
            .map(|&(n, v)| (x.map(n), y.map(v)))
            .collect();
        doc.polyline(&pts, c.colour, &c.label);
        doc.legend(i, c.colour, &c.label);
    }
    doc.finish()
}

/// Where a rule says a metric fails, drawn on the strip plot: values above `fail_above` or
/// below `fail_below` fail (both equal for an `equals` rule).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Threshold {
    pub fail_above: Option<f64>,
    pub fail_below: Option<f64>,
}

/// A metric's per-trial values on both sides.
pub struct Strip<'a> {
    pub metric: &'a str,
    pub baseline: &'a [f64],
    pub candidate: &'a [f64],
    pub threshold: Threshold,
    /// The rule as text (`<= +15%`), shown next to the threshold line.
    pub rule: &'a str,
}

/// A rule's threshold on a strip plot: its line, labelled with the rule, and the failing
/// side shaded.
fn threshold_marks(doc: &mut Doc, y: &Scale, threshold: Threshold, rule: &str) {
    let (left, right) = plot_x(WIDTH);
    let (bottom, top) = PLOT_Y;
    // An `equals` rule fails on both sides of one line: shading both would shade it all.
    let exact = threshold.fail_above.is_some() && threshold.fail_above == threshold.fail_below;
    if let Some(t) = threshold.fail_above.filter(|_| !exact) {
        let py = y.map(t).clamp(top, bottom);
        doc.rect(left, top, right - left, py - top, "class=\"failzone\"");
    }
    if let Some(t) = threshold.fail_below.filter(|_| !exact) {
        let py = y.map(t).clamp(top, bottom);
        doc.rect(left, py, right - left, bottom - py, "class=\"failzone\"");
    }
    let below = threshold
        .fail_below
        .filter(|b| Some(*b) != threshold.fail_above);
    for t in threshold.fail_above.into_iter().chain(below) {
        let py = y.map(t);
        doc.line((left, py), (right, py), "class=\"threshold\"");
        let label = format!("{} ({rule})", fmt_num(t));
        doc.text(right - 4.0, py - 4.0, "end", "tick", &label);
    }
}

/// Per-trial strip plot: one dot per trial (one `<circle>` each and nothing else drawn as a
/// circle), the median as a bar, baseline left of candidate, and the threshold line with the
/// failing side shaded.
pub(crate) fn strip_plot(s: &Strip<'_>) -> String {
    let mut doc = Doc::new("strip", ("metric", s.metric), s.metric, WIDTH);
    let (values, t) = (s.baseline.iter().chain(s.candidate).copied(), s.threshold);
    let y = doc.y_axis(
        &padded_ticks(values.chain(t.fail_above).chain(t.fail_below)),
        s.metric,
    );
    let (left, right) = plot_x(WIDTH);
    threshold_marks(&mut doc, &y, s.threshold, s.rule);
    let width = right - left;
    for (i, (label, colour, data)) in [
        ("baseline", BASELINE, s.baseline),
        ("candidate", CANDIDATE, s.candidate),
    ]
    .into_iter()
    .enumerate()
    {
        let cx = left + width * (0.3 + 0.4 * i as f64);
        let n = data.len();
        for (k, v) in data.iter().enumerate() {
            // Spread the dots sideways by trial so equal values stay visible.
            let off = if n > 1 {
                (k as f64 / (n - 1) as f64 - 0.5) * 60.0
            } else {
                0.0
            };
            doc.circle(
                cx + off,
                y.map(*v),
                4.5,
                &format!("fill=\"{colour}\" fill-opacity=\"0.75\""),
                &format!("{label} trial {}: {}", k + 1, fmt_num(*v)),
            );
        }
        if let Some(m) = crate::gate::stats::median(data) {
            let py = y.map(m);
            doc.line(
                (cx - 42.0, py),
                (cx + 42.0, py),
                &format!("stroke=\"{colour}\" stroke-width=\"3\""),
            );
            doc.text(cx + 46.0, py + 4.0, "start", "tick", &fmt_num(m));
        }
        let title = format!("{label} ({n} trials)");
        doc.text(cx, X_LABEL_Y, "middle", "axis", &title);
    }
    doc.finish()
}

/// One run in a history trend.
pub(crate) struct TrendPoint<'a> {
    /// Shown under the first and last points and in the tooltip (a short commit).
    pub label: &'a str,
    pub value: f64,
}

/// A metric's median over the recorded runs, oldest first: a line with one dot per run, and a
/// dashed vertical line before each index in `changes` (the first run of a new level).
pub(crate) fn trend_chart(metric: &str, points: &[TrendPoint<'_>], changes: &[usize]) -> String {
    let mut doc = Doc::new("trend", ("metric", metric), metric, WIDTH);
    let y = doc.y_axis(&padded_ticks(points.iter().map(|p| p.value)), metric);
    let n = points.len();
    let (left, right) = plot_x(WIDTH);
    let x = Scale::new(
        (0.0, n.saturating_sub(1).max(1) as f64),
        (left + 12.0, right - 12.0),
    );
    let xy: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| (x.map(i as f64), y.map(p.value)))
        .collect();
    let (bottom, top) = PLOT_Y;
    for &i in changes.iter().filter(|&&i| i > 0 && i < n) {
        let px = (xy[i - 1].0 + xy[i].0) / 2.0;
        doc.line((px, bottom), (px, top), "class=\"changepoint\"");
        let label = format!("change at {}", points[i].label);
        doc.text(px + 3.0, top + 12.0, "start", "tick", &label);
    }
    doc.polyline(&xy, BASELINE, metric);
    for (p, &(px, py)) in points.iter().zip(&xy) {
        doc.circle(
            px,
            py,
            3.0,
            &format!("fill=\"{BASELINE}\""),
            &format!("{}: {}", p.label, fmt_num(p.value)),
        );
    }
    for (i, anchor) in [(0, "start"), (n.saturating_sub(1), "end")] {
        if let Some(p) = points.get(i) {
            doc.text(xy[i].0, X_LABEL_Y, anchor, "tick", p.label);
        }
    }
    doc.x_title(&format!("{n} recorded runs, oldest first"));
    doc.finish()
}

#[cfg(test)]
mod tests;
