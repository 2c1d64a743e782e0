//! The soak and connections scenarios in shortened form, on debug builds.
