//! `perf-bench --suite components`: the in-process component benchmarks and their artifact.
