//! Scenario workloads (ramp, burst, scaling, mixed, payloads, malformed) in shortened form, on debug builds.
