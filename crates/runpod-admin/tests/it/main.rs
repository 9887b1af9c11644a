//! Integration tests of runpod-admin against loopback mock servers (and, ignored, the live API).

mod coverage;
mod errors;
mod fallback;
mod graphql;
mod live;
mod load_balancing;
mod local;
mod logs;
mod models;
mod operations;
mod path_ids;
mod python_shortcuts;
mod support;
mod wait;
