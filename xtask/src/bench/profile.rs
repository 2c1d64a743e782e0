//! Where the router spends its instructions, per function: the two callgrind runs `counters`
//! counts with, each read with `callgrind_annotate`; their difference over the responses'
//! is each function's cost per request. `report::profile` compares and draws two profiles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::bench::counters::{self, CountCtx, INSTALL_HINT};
use crate::bench::env_info::captured;
use crate::model::profile::{Function, Profile};

/// Profiles the router of `ctx` over `requests` requests (and `requests / 2`), with `env`
/// set for the router only (a test knob, not the whole process's).
pub fn collect_with_env(
    ctx: &CountCtx<'_>,
    requests: u64,
    env: &[(String, String)],
) -> Result<Profile> {
    if requests < 2 {
        bail!("profile: expected at least 2 requests");
    }
    let (((_, full), full_resp), ((_, half), half_resp)) =
        counters::callgrind_pair(ctx, requests, "profile.", env)?;
    let profile = from_runs(&annotate(&full)?, &annotate(&half)?, full_resp - half_resp);
    Ok(Profile {
        raw: vec![full, half],
        ..profile
    })
}

/// One callgrind run as `callgrind_annotate` tells it, by symbol (mangled: two instances of
/// a generic function are two symbols, where their demangled names are one): whole-run counts.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Costs {
    /// Self cost by symbol, summed over the files its code (inlined code too) came from.
    pub self_ir: BTreeMap<String, u64>,
    /// Cost of the calls by (caller, callee).
    pub calls: BTreeMap<(String, String), u64>,
    /// The object file of a symbol, where a line named one.
    pub objects: BTreeMap<String, String>,
}

/// Reads a callgrind out file with `callgrind_annotate`: every function (`--threshold=100`),
/// self costs (`--inclusive=no`) and the calls each makes (`--tree=calling`).
fn annotate(file: &Path) -> Result<Costs> {
    let out = captured(duct::cmd!(
        "callgrind_annotate",
        "--inclusive=no",
        "--tree=calling",
        "--threshold=100",
        "--auto=no",
        "--show-percs=no",
        file
    ))
    .run()
    .with_context(|| {
        format!("`callgrind_annotate` is not on PATH; install it: `{INSTALL_HINT}`")
    })?;
    if !out.status.success() {
        bail!(
            "callgrind_annotate {} failed ({}): {}",
            file.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse_annotate(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `callgrind_annotate --tree=calling` text. Its function lines are
/// `COST [(PCT)] *  FILE:SYMBOL [OBJECT]`, one per file the function's code came from,
/// each followed by the calls made from there: `COST [(PCT)] >   FILE:CALLEE (Nx) [OBJECT]`.
pub(crate) fn parse_annotate(text: &str) -> Costs {
    let mut costs = Costs::default();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let Some((cost, rest)) = line.trim_start().split_once(char::is_whitespace) else {
            continue;
        };
        let Ok(cost) = cost.replace(',', "").parse::<u64>() else {
            continue;
        };
        let mut rest = rest.trim_start();
        if rest.starts_with('(') {
            rest = rest.split_once(')').map_or("", |(_, r)| r.trim_start());
        }
        let Some((mark, target)) = rest.split_once(char::is_whitespace) else {
            continue;
        };
        let (symbol, object) = entry(target.trim());
        if let Some(object) = object {
            costs.objects.insert(symbol.clone(), object);
        }
        match (mark, &current) {
            ("*", _) => {
                *costs.self_ir.entry(symbol.clone()).or_default() += cost;
                current = Some(symbol);
            }
            (">", Some(caller)) => {
                *costs.calls.entry((caller.clone(), symbol)).or_default() += cost;
            }
            _ => {}
        }
    }
    costs
}

/// The symbol and the object file's name from `FILE:SYMBOL['N] (Nx) [OBJECT]`; callgrind's
/// recursion depth (`'2`) is dropped, so that a recursion is a call to itself.
fn entry(target: &str) -> (String, Option<String>) {
    let (rest, object) = match target.strip_suffix(']').and_then(|t| t.rsplit_once(" [")) {
        Some((rest, obj)) if !obj.contains(' ') => (rest, Some(obj)),
        _ => (target, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b',');
    let rest = match rest.rsplit_once(" (") {
        Some((r, n)) if n.strip_suffix("x)").is_some_and(digits) => r,
        _ => rest,
    };
    let symbol = rest.split_once(':').map_or(rest, |(_, f)| f);
    let symbol = match symbol.rsplit_once('\'') {
        Some((s, depth)) if digits(depth) => s,
        _ => symbol,
    };
    let object = object.map(|o| o.rsplit('/').next().unwrap_or(o).to_string());
    (symbol.to_string(), object)
}

/// A symbol's name for people: demangled, without the hash (`router::service::decide`).
fn demangle(symbol: &str) -> String {
    rustc_demangle::try_demangle(symbol).map_or_else(|_| symbol.to_string(), |d| format!("{d:#}"))
}

/// The crate a function belongs to: the first segment of its path (`<&mut serde_json::X as
/// Y>::z` is serde_json's; `<u64 as core::Step>::f`, whose type has no path, core's), else
/// its object file.
fn crate_of(name: &str, object: Option<&String>) -> String {
    fn first(path: &str) -> Option<&str> {
        let mut path = path.trim_start_matches(['<', '&', '*']);
        for prefix in ["mut ", "const ", "dyn "] {
            path = path.strip_prefix(prefix).unwrap_or(path);
        }
        path.split_once("::")
            .map(|(first, _)| first)
            .filter(|f| !f.is_empty() && !f.contains(['<', ' ', '(', '[']))
    }
    let of_trait = name.split_once(" as ").and_then(|(_, t)| first(t));
    first(name)
        .or(of_trait)
        .map(str::to_string)
        .or_else(|| object.cloned())
        .unwrap_or_else(|| "?".into())
}

/// Deepest stack `fold` rebuilds, and the smallest share of a request's instructions a
/// stack must carry to be followed.
const MAX_DEPTH: usize = 64;
const MIN_SHARE: f64 = 1e-4;

/// The call graph per request, by symbol.
struct Graph<'a> {
    self_ir: BTreeMap<&'a str, f64>,
    /// Self plus the calls made.
    inclusive: BTreeMap<&'a str, f64>,
    callees: BTreeMap<&'a str, Vec<(&'a str, f64)>>,
    names: BTreeMap<&'a str, String>,
    floor: f64,
}

/// Rebuilds folded stacks from the call graph: a stack starts where a symbol costs more than
/// the calls to it account for (thread entry points), and a symbol's cost on a stack is its
/// cost times the share of its calls that came through that stack. Recursion is cut, as are
/// stacks carrying less than `MIN_SHARE` of a request.
fn fold(g: &Graph<'_>) -> BTreeMap<String, f64> {
    let mut called: BTreeMap<&str, f64> = BTreeMap::new();
    for (callee, ir) in g.callees.values().flatten() {
        *called.entry(callee).or_default() += ir;
    }
    let mut stacks = BTreeMap::new();
    for (&symbol, &inclusive) in &g.inclusive {
        let root = inclusive - called.get(symbol).copied().unwrap_or(0.0);
        if root >= g.floor {
            walk(g, &mut vec![symbol], root, &mut stacks);
        }
    }
    stacks
}

/// `amount`: the instructions per request that reach the last symbol of `path` along it.
fn walk<'a>(g: &Graph<'a>, path: &mut Vec<&'a str>, amount: f64, out: &mut BTreeMap<String, f64>) {
    let symbol = path[path.len() - 1];
    let inclusive = g.inclusive.get(symbol).copied().unwrap_or(0.0);
    if inclusive <= 0.0 {
        return;
    }
    let share = amount / inclusive;
    let own = share * g.self_ir.get(symbol).copied().unwrap_or(0.0);
    if own > 0.0 {
        let names: Vec<&str> = path.iter().map(|s| g.names[s].as_str()).collect();
        *out.entry(names.join(";")).or_default() += own;
    }
    for &(callee, ir) in g.callees.get(symbol).into_iter().flatten() {
        if share * ir >= g.floor && path.len() < MAX_DEPTH && !path.contains(&callee) {
            path.push(callee);
            walk(g, path, share * ir, out);
            path.pop();
        }
    }
}

/// Moves a profile's raw callgrind files from the (often temporary) workdir into `dir`, as
/// `callgrind.out.<stem>.full` and `.half`: the names kcachegrind lists.
pub fn keep(profile: &mut Profile, dir: &Path, stem: &str) -> Result<()> {
    for (raw, tag) in profile.raw.iter_mut().zip(["full", "half"]) {
        let dest = dir.join(format!("callgrind.out.{stem}.{tag}"));
        std::fs::copy(&*raw, &dest)
            .with_context(|| format!("copying {} to {}", raw.display(), dest.display()))?;
        let _ = std::fs::remove_file(&*raw);
        *raw = dest;
    }
    Ok(())
}

/// The per-request profile from a run of N requests and one of N/2, `responses` apart.
pub(crate) fn from_runs(full: &Costs, half: &Costs, responses: u64) -> Profile {
    let n = responses.max(1) as f64;
    let per_req =
        |a: Option<&u64>, b: Option<&u64>| (*a.unwrap_or(&0) as f64 - *b.unwrap_or(&0) as f64) / n;
    let symbols: BTreeSet<&str> = full
        .self_ir
        .keys()
        .chain(half.self_ir.keys())
        .map(String::as_str)
        .collect();
    let mut g = Graph {
        self_ir: symbols
            .iter()
            .map(|&s| (s, per_req(full.self_ir.get(s), half.self_ir.get(s))))
            .collect(),
        inclusive: BTreeMap::new(),
        callees: BTreeMap::new(),
        names: symbols.iter().map(|&s| (s, demangle(s))).collect(),
        floor: 0.0,
    };
    g.inclusive = g.self_ir.clone();
    let edges: BTreeSet<&(String, String)> = full.calls.keys().chain(half.calls.keys()).collect();
    for key @ (caller, callee) in edges {
        let ir = per_req(full.calls.get(key), half.calls.get(key));
        // A recursive call's cost is already the caller's own; a call that costs less in
        // the longer run (noise) carries nothing.
        if caller != callee && ir > 0.0 && g.names.contains_key(callee.as_str()) {
            *g.inclusive.entry(caller).or_default() += ir;
            g.callees.entry(caller).or_default().push((callee, ir));
        }
    }
    let total_ir: f64 = g.self_ir.values().sum();
    g.floor = total_ir.abs() * MIN_SHARE;
    let stacks = fold(&g);
    // By name: instances of one generic function are one row.
    let mut functions: BTreeMap<&str, Function> = BTreeMap::new();
    for (&symbol, name) in &g.names {
        let f = functions.entry(name).or_insert_with(|| Function {
            name: name.clone(),
            krate: crate_of(name, full.objects.get(symbol).or(half.objects.get(symbol))),
            self_ir: 0.0,
            inclusive_ir: 0.0,
        });
        f.self_ir += g.self_ir[symbol];
    }
    for (stack, ir) in &stacks {
        let on: BTreeSet<&str> = stack.split(';').collect();
        for name in on {
            if let Some(f) = functions.get_mut(name) {
                f.inclusive_ir += ir;
            }
        }
    }
    let functions = functions
        .into_values()
        .map(|f| Function {
            // A stack below the floor is not drawn, but the function's own cost counts.
            inclusive_ir: f.inclusive_ir.max(f.self_ir),
            ..f
        })
        .filter(|f| f.self_ir != 0.0 || f.inclusive_ir != 0.0)
        .collect();
    Profile {
        functions,
        stacks,
        total_ir,
        requests: responses,
        raw: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
