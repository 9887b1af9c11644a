//! Rust types for the GraphQL schema's custom scalars, as the generated operations use them.
//!
//! Dates stay strings: runpod-types does no parsing beyond JSON, and callers pick their own
//! time library.

/// `DateTime`: an ISO 8601 timestamp, as the server sends it.
pub type DateTime = String;
/// `Date`: an ISO 8601 date, as the server sends it.
pub type Date = String;
/// `JSON`: any JSON value.
pub type JSON = serde_json::Value;
/// `Port`: a port mapping as the server writes it (`"8888/http"`).
pub type Port = String;
/// `Void`: a field that always returns `null`.
pub type Void = Option<()>;
