//! runpod-local driven over loopback with a raw HTTP client.

mod auth;
mod bad_requests;
mod batch;
mod binary;
mod client_api;
#[cfg(feature = "console")]
mod console;
mod faults;
mod hardening;
mod inline;
mod lb;
#[path = "../shared/lb_checks.rs"]
mod lb_checks;
mod lb_spawn;
mod lifecycle;
mod long_polls;
mod openai;
mod rate_limits;
mod rest_v2;
mod server_api;
mod stream;
mod support;
mod webhooks;
mod webhooks_tls;
mod worker_api;
