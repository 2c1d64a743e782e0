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
