//! Unit tests of the xtask library's pure functions, one file per source module: they import
//! `xtask::...` like any other user instead of living in `#[cfg(test)]` modules in `src/`.

mod changepoint;
mod evaluate;
mod stats;
