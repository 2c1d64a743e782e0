//! Rendering for people and other tools: the verdict as a terminal table, log, Markdown, JSON
//! and JUnit; the HTML report with its SVG charts; exports and the history record.

pub mod bench;
pub mod escape;
pub mod export;
pub mod html;
pub mod junit;
pub mod profile;
pub mod publish;
pub mod svg;
pub mod verdict;

/// Each column's width in characters, the widest of its header and its cells, for the
/// aligned terminal tables.
pub(crate) fn widths<const N: usize>(headers: [&str; N], rows: &[[String; N]]) -> [usize; N] {
    let len = |s: &str| s.chars().count();
    std::array::from_fn(|i| rows.iter().fold(len(headers[i]), |w, r| w.max(len(&r[i]))))
}
