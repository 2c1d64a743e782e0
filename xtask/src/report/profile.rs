//! The differential profile: which functions execute more (or fewer) instructions per request
//! in the candidate than in the reference, as a terminal table, Markdown, a JUnit message, an
//! HTML table and a differential flame graph (inline SVG, no script); and, for a failure a
//! CPU profile cannot explain, what to run instead.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::profile::Profile;
use crate::report::escape::xml_escape as esc;

/// Less than this many instructions per request, either way, is no change worth a row.
const NOISE_IR: f64 = 0.5;

/// One function on both sides: (reference, candidate) instructions per request.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FnChange {
    pub name: String,
    pub krate: String,
    pub self_ir: (f64, f64),
    pub inclusive_ir: (f64, f64),
}

impl FnChange {
    /// Candidate minus reference, the function's own instructions per request.
    pub fn self_delta(&self) -> f64 {
        self.self_ir.1 - self.self_ir.0
    }

    /// Candidate minus reference, with what it calls.
    pub(crate) fn inclusive_delta(&self) -> f64 {
        self.inclusive_ir.1 - self.inclusive_ir.0
    }
}

/// The reference's (side 0) or the candidate's (side 1) half of a pair.
fn side_of(pair: &mut (f64, f64), side: usize) -> &mut f64 {
    if side == 0 { &mut pair.0 } else { &mut pair.1 }
}

/// Every function that changed by half an instruction per request or more (self or
/// inclusive): what grew most first (self, then inclusive), so the first rows name what got
/// slower; what shrank (code that moved elsewhere, work saved) comes last.
pub fn diff(reference: &Profile, candidate: &Profile) -> Vec<FnChange> {
    let mut by_name: BTreeMap<&str, FnChange> = BTreeMap::new();
    for (side, profile) in [(0, reference), (1, candidate)] {
        for f in &profile.functions {
            let row = by_name.entry(&f.name).or_insert_with(|| FnChange {
                name: f.name.clone(),
                krate: f.krate.clone(),
                self_ir: (0.0, 0.0),
                inclusive_ir: (0.0, 0.0),
            });
            *side_of(&mut row.self_ir, side) = f.self_ir;
            *side_of(&mut row.inclusive_ir, side) = f.inclusive_ir;
        }
    }
    let mut rows: Vec<FnChange> = by_name
        .into_values()
        .filter(|r| r.self_delta().abs() >= NOISE_IR || r.inclusive_delta().abs() >= NOISE_IR)
        .collect();
    rows.sort_by(|a, b| {
        (b.self_delta().total_cmp(&a.self_delta()))
            .then(b.inclusive_delta().total_cmp(&a.inclusive_delta()))
            .then_with(|| a.name.cmp(&b.name))
    });
    rows
}

/// The crate whose code the gate judges: the router binary's own.
const OWN_CRATE: &str = "router";

/// Whether a frame is the router's own code: its functions, closures and trait impls, and
/// generic code instantiated for its types (`drop_in_place<router::policy::Policy>`).
fn own(frame: &str) -> bool {
    frame.starts_with("router::")
        || frame.contains("<router::")
        || frame.contains("&router::")
        || frame.contains(" router::")
}

/// One of the router's own functions, charged with everything it runs outside the router's
/// code (allocator, std, dependencies): (reference, candidate) instructions per request.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Owned {
    pub name: String,
    pub ir: (f64, f64),
}

impl Owned {
    pub fn delta(&self) -> f64 {
        self.ir.1 - self.ir.0
    }
}

/// Where a change is, in the router's own code: each stack's instructions are charged to its
/// deepest own frame, so malloc and free called for a copy land on the function that made
/// the copy, not on libc. The functions that grew most, largest first; stacks with no own
/// frame (the runtime's idle loop, the kernel's threads) are left out.
pub fn owners(reference: &Profile, candidate: &Profile) -> Vec<Owned> {
    let mut by_name: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (side, profile) in [(0, reference), (1, candidate)] {
        for (stack, ir) in &profile.stacks {
            if let Some(frame) = stack.rsplit(';').find(|f| own(f)) {
                *side_of(by_name.entry(frame).or_default(), side) += ir;
            }
        }
    }
    let mut grew: Vec<Owned> = by_name
        .into_iter()
        .map(|(name, ir)| Owned {
            name: name.to_string(),
            ir,
        })
        .filter(|o| o.delta() >= NOISE_IR)
        .collect();
    grew.sort_by(|a, b| b.delta().total_cmp(&a.delta()).then(a.name.cmp(&b.name)));
    grew
}

/// The first line of an explanation: which of the router's own functions the added
/// instructions are charged to (with what they call outside the router), and how much of the
/// whole change each carries. `None` when the router did not grow.
pub fn headline(e: &Explanation) -> Option<String> {
    let change = e.change_ir;
    if change < NOISE_IR || e.owners.is_empty() {
        return None;
    }
    let parts: Vec<String> = e
        .owners
        .iter()
        .take(3)
        .map(|o| {
            let d = o.delta();
            format!("{} {d:+.1} ({:.0}%)", o.name, 100.0 * d / change)
        })
        .collect();
    Some(format!(
        "Where: {change:+.1} instructions per request in all; charged to the {OWN_CRATE}'s own \
         functions with what they call: {}",
        parts.join(", ")
    ))
}

const HEADERS: [&str; 6] = [
    "Δ self Ir/req",
    "self ref → cand",
    "Δ incl Ir/req",
    "incl ref → cand",
    "function",
    "crate",
];

fn cells(r: &FnChange) -> [String; 6] {
    let pair = |(a, b): (f64, f64)| format!("{a:.1} → {b:.1}");
    [
        format!("{:+.1}", r.self_delta()),
        pair(r.self_ir),
        format!("{:+.1}", r.inclusive_delta()),
        pair(r.inclusive_ir),
        r.name.clone(),
        r.krate.clone(),
    ]
}

/// What follows the first `n` rows: how many more, or that nothing changed.
fn more(rows: &[FnChange], n: usize) -> Option<String> {
    match rows.len() {
        0 => Some(format!(
            "no function's instructions per request changed by {NOISE_IR} or more"
        )),
        len if len > n => Some(format!(
            "... and {} more function(s): the full table is in the HTML report",
            len - n
        )),
        _ => None,
    }
}

/// A gate's differential profile: the ranked functions, the flame graph, and where the raw
/// callgrind files are (for kcachegrind). The verdict JSON carries it (`explain`), so the HTML
/// report drawn from a verdict has it too.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Explanation {
    pub rows: Vec<FnChange>,
    /// The router's own functions that grew, see `owners`.
    #[serde(default)]
    pub owners: Vec<Owned>,
    /// The whole router's change, instructions per request.
    #[serde(default)]
    pub change_ir: f64,
    pub svg: String,
    pub raw: Vec<std::path::PathBuf>,
}

impl Explanation {
    pub fn new(reference: &Profile, candidate: &Profile) -> Explanation {
        Explanation {
            rows: diff(reference, candidate),
            owners: owners(reference, candidate),
            change_ir: candidate.total_ir - reference.total_ir,
            svg: svg(reference, candidate),
            raw: reference
                .raw
                .iter()
                .chain(&candidate.raw)
                .cloned()
                .collect(),
        }
    }
}

/// Rows the terminal, the Markdown summary and the JUnit message show.
pub(crate) const TOP: usize = 10;

/// The first `n` rows as an aligned table for the terminal.
pub fn table(rows: &[FnChange], n: usize) -> String {
    let shown: Vec<[String; 6]> = rows.iter().take(n).map(cells).collect();
    let widths = super::widths(HEADERS, &shown);
    let mut out =
        "Differential profile (candidate − reference, instructions per request):\n".to_string();
    for line in std::iter::once(HEADERS.map(String::from)).chain(shown.iter().cloned()) {
        out.push(' ');
        // The four numbers right-aligned, then the function and its crate.
        for (cell, w) in line.iter().zip(widths).take(4) {
            let _ = write!(out, " {cell:>w$}");
        }
        let _ = writeln!(out, "  {} ({})", line[4], line[5]);
    }
    if let Some(m) = more(rows, n) {
        let _ = writeln!(out, "  {m}");
    }
    out
}

/// The headline, then the first `n` rows as a Markdown table (for the summary and the CI job
/// summary).
pub(crate) fn markdown(e: &Explanation, n: usize) -> String {
    let mut out = headline(e)
        .map(|l| l.replace('|', "\\|") + "\n\n")
        .unwrap_or_default();
    out.push_str("#### Differential profile (candidate − reference, instructions per request)\n\n");
    let _ = writeln!(
        out,
        "| {} |\n|---:|---:|---:|---:|---|---|",
        HEADERS.join(" | ")
    );
    for r in e.rows.iter().take(n) {
        let mut c = cells(r).map(|s| s.replace('|', "\\|"));
        c[4] = format!("`{}`", c[4]);
        let _ = writeln!(out, "| {} |", c.join(" | "));
    }
    if let Some(m) = more(&e.rows, n) {
        let _ = writeln!(out, "\n{m}");
    }
    out
}

/// A few lines for a JUnit failure message: the headline, then the first `n` functions.
pub(crate) fn junit_text(e: &Explanation, n: usize) -> String {
    let mut out = headline(e).map(|l| l + "\n").unwrap_or_default();
    out.push_str(
        "functions with the largest change in instructions per request (candidate − reference):",
    );
    for r in e.rows.iter().take(n) {
        let _ = write!(
            out,
            "\n  {:+.1} self, {:+.1} inclusive: {} ({})",
            r.self_delta(),
            r.inclusive_delta(),
            r.name,
            r.krate
        );
    }
    if let Some(m) = more(&e.rows, n) {
        let _ = write!(out, "\n  {m}");
    }
    out
}

/// The headline, the flame graph and every row as an HTML table, for the report.
pub(crate) fn html(e: &Explanation) -> String {
    let mut out = headline(e)
        .map(|l| format!("<p>{}</p>\n", esc(&l)))
        .unwrap_or_default();
    out.push_str(&e.svg);
    out.push_str("<table class=\"profile\">\n<tr>");
    for h in HEADERS {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>\n");
    for r in &e.rows {
        out.push_str("<tr>");
        for (i, cell) in cells(r).iter().enumerate() {
            let class = if i < 4 { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", esc(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    if let Some(m) = more(&e.rows, usize::MAX) {
        let _ = writeln!(out, "<p>{}</p>", esc(&m));
    }
    out
}

/// Why a failure of `metric` is not explained by an instruction profile, and what to run
/// instead; `None` for the CPU metrics a differential profile does explain.
pub(crate) fn unexplained(metric: &str) -> Option<String> {
    use crate::model::metric::{Kind, find};
    // A component's count: no router ran, so there is no router profile; the same counting
    // run with its function breakdown says where the instructions went.
    if let Some(bench) = metric
        .strip_prefix("component_")
        .and_then(|m| m.strip_suffix("_ir").or_else(|| m.strip_suffix("_ns")))
    {
        return Some(format!(
            "{metric}: the `{bench}` component benchmark costs more per operation. Profile both \
             sides' benches (each run file's `env.components_bin`) with \
             `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*bench_loop*' \
             BENCH --iterations 2000 --filter {bench}` and compare the functions with \
             `callgrind_annotate`."
        ));
    }
    let bisect = format!("`cargo xtask perf-bisect --good REF --bad REF --metric {metric}`");
    let kind = find(metric).map(|m| m.kind);
    match kind {
        _ if metric == "cpu_sys_ms_per_1k_req" => Some(format!(
            "{metric}: the router spends more time in the kernel (system calls, socket reads and \
             writes, page faults), which an instruction profile of its user-space code does not \
             see. Its system calls per request (`syscalls_per_req` and `syscall_<name>_per_req`, \
             counted with strace beside the instructions) say which calls grew; find the \
             commit with {bisect}."
        )),
        Some(Kind::Count | Kind::Cpu | Kind::Throughput) => None,
        Some(Kind::Latency | Kind::Waiting) => Some(format!(
            "{metric}: a CPU profile counts the instructions a request executes, but latency also \
             comes from waiting (queues, locks, timers, the scheduler), which it does not see. See \
             the latency distribution in the HTML report (every percentile, both sides), and find \
             the commit with {bisect} (paired wall-clock trials)."
        )),
        Some(Kind::Memory) => Some(format!(
            "{metric}: instruction counts say nothing about memory. Run the soak workload \
             (`cargo xtask perf-gate --workload soak`: RSS over time and its slope), a heap \
             profiler on the router (`valgrind --tool=dhat`) for the allocation sites, and find \
             the commit with {bisect}."
        )),
        Some(Kind::Errors) => Some(format!(
            "{metric}: counts requests that failed or were refused, not a cost: read the bench \
             log (`bench_router_<ts>.log`, with the router's own messages) and find the commit \
             with {bisect}."
        )),
        Some(Kind::Level) | None => Some(format!(
            "{metric}: not a cost an instruction profile measures: see the trials and the \
             latency distribution in the HTML report, and find the commit with {bisect}."
        )),
    }
}

/// A differential flame graph of the candidate (inferno's, from each profile's folded
/// stacks): a frame's width is its inclusive instructions per request in the
/// candidate, red where it executes more than in the reference, blue where fewer. Inline
/// SVG without script, styles scoped to it, readable offline; the frames' tooltips name the
/// function and both counts.
pub fn svg(reference: &Profile, candidate: &Profile) -> String {
    let (r, c) = (&reference.stacks, &candidate.stacks);
    // Whole instructions are too coarse for small frames: counts in hundredths, scaled back.
    let count = |m: &BTreeMap<String, f64>, k: &str| {
        (m.get(k).copied().unwrap_or(0.0).max(0.0) * 100.0).round() as u64
    };
    let mut lines: Vec<String> = r
        .keys()
        .chain(c.keys())
        .map(|k| format!("{k} {} {}", count(r, k), count(c, k)))
        .collect();
    lines.sort();
    lines.dedup();
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = "Differential flame graph: instructions per request".into();
    opt.subtitle = Some(
        "width: the candidate's; red: more than the reference, blue: fewer; stacks rebuilt from the call graph"
            .into(),
    );
    opt.count_name = "instructions/request".into();
    opt.factor = 0.01;
    opt.image_width = Some(crate::report::svg::WIDE as usize);
    opt.no_javascript = true;
    let mut svg = Vec::new();
    let drawn =
        inferno::flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), &mut svg);
    match drawn.map(|()| String::from_utf8_lossy(&svg).into_owned()) {
        Ok(svg) => inline(&svg),
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"flame\" width=\"600\" height=\"30\">\
             <text x=\"4\" y=\"20\">no flame graph: {}</text></svg>\n",
            esc(&e.to_string())
        ),
    }
}

/// inferno writes a standalone, scripted SVG file; inside an HTML page it must carry no
/// script or handlers, and its style and ids must not reach the rest of the page.
fn inline(svg: &str) -> String {
    let mut s = svg[svg.find("<svg").unwrap_or(0)..]
        .replacen(" onload=\"init(evt)\"", "", 1)
        .replacen("<svg ", "<svg class=\"flame\" ", 1);
    for (open, close) in [
        ("<script", "</script>"),
        ("<style", "</style>"),
        ("<!--", "-->"),
    ] {
        while let Some(a) = s.find(open) {
            let Some(b) = s[a..].find(close) else { break };
            s.replace_range(a..a + b + close.len(), "");
        }
    }
    let s = s
        .replace(" id=\"", " id=\"flame-")
        .replace("url(#", "url(#flame-");
    let style = "<style>svg.flame text{font-family:monospace;font-size:11px} \
        svg.flame #flame-title,svg.flame #flame-subtitle{text-anchor:middle} \
        svg.flame #flame-title{font-size:15px} \
        svg.flame #flame-details,svg.flame #flame-unzoom,svg.flame #flame-search,svg.flame #flame-matched{display:none} \
        svg.flame #flame-frames>g:hover>rect{stroke:#000;stroke-width:.5}</style>";
    match s.find('>') {
        Some(end) => format!("{}{style}{}", &s[..=end], &s[end + 1..]),
        None => s,
    }
}

#[cfg(test)]
mod tests;
