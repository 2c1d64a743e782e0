//! Instruction counters: perf_event_open where the machine allows it, callgrind otherwise.
