//! End-to-end tests: our client ↔ runpod-local ↔ workers, and interop with the official Python SDK.

#[cfg(feature = "python-interop")]
mod console;
mod flows;
mod lb;
#[path = "../../../../crates/runpod-local/tests/shared/lb_checks.rs"]
mod lb_checks;
mod lb_spawn;
mod openai;
#[cfg(feature = "python-interop")]
mod python;
mod secrets;
mod support;
