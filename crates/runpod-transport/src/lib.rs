//! Auth, configuration, HTTP, retries and errors shared by the Runpod SDK crates.
//!
//! This is the only crate of the SDK that talks HTTP. It offers:
//!
//! - [`Config`]: API key (explicit, `RUNPOD_API_KEY`, or `~/.runpod/config.toml`), base URLs,
//!   timeouts, the default [`RetryPolicy`] and the [`HttpVersion`];
//! - [`HttpClient`]: a cheap-to-clone client whose [`request`](HttpClient::request) returns an
//!   owned [`RequestBuilder`] ending in `.send().await`, plus GraphQL and server-sent events;
//! - [`Error`]: one opaque error with `is_*` predicates, and [`Report`] to print it whole.
//!
//! # Retries
//!
//! Transient failures (408, 429, 5xx, connect errors, timeouts, broken connections) are
//! retried with exponential backoff and jitter ([`Backoff`]: the SDK's one backoff, which the
//! serverless poll schedule and worker use too), honouring `Retry-After`. Requests that are not
//! idempotent (POST and PATCH unless marked) are retried only when they provably had no effect:
//! the connection was never made, or the server answered 429.
//!
//! # Connections
//!
//! Over TLS the client negotiates HTTP/2, which carries every request to a host on one
//! connection; past [`Config::streams_per_connection`] requests in flight (100 by default, the
//! least a server should allow) it opens another, so that long polls holding their streams
//! never leave other requests waiting for one. Under HTTP/1.1 each request in flight has a
//! connection of its own from the pool.
//!
//! # Secrets
//!
//! The API key is an [`ApiKey`], whose `Debug` and `Display` print `[redacted]`; the
//! `Authorization` header is marked sensitive, and no log line or error carries it.
//!
//! ```no_run
//! # use runpod_transport::__runpod as runpod;
//! # async fn run() -> runpod::Result<()> {
//! use runpod::transport::{HttpClient, Method, Report};
//!
//! let client = HttpClient::from_env()?;
//! let url = format!("{}/my-endpoint/health", client.config().serverless_base_url());
//! match client.request(Method::GET, url).send_json::<serde_json::Value>().await {
//!     Ok(health) => println!("{health}"),
//!     Err(e) if e.is_unauthorized() => eprintln!("check RUNPOD_API_KEY"),
//!     Err(e) => eprintln!("{}", Report(&e)),
//! }
//! # Ok(()) }
//! ```

mod api_error;
mod api_key;
mod backoff;
mod client;
mod config;
mod error;
mod exchange;
mod graphql;
mod lanes;
pub mod path;
mod rate_limit;
mod request;
mod response;
mod response_future;
mod retry;
mod sse;
mod streaming;
mod url_base;

pub use http::{HeaderMap, Method, StatusCode};

pub use api_error::{ApiError, ApiErrorItem, PathSegment};
pub use api_key::ApiKey;
pub use backoff::{Backoff, BackoffBuilder, Delays, Jitter};
pub use client::{Auth, HttpClient};
pub use config::{
    Config, ConfigBuilder, DEFAULT_REST_BASE_URL, DEFAULT_SERVERLESS_BASE_URL, HttpVersion,
    KeySource,
};
pub use error::{Error, ErrorKind, HumanDuration, Report};
pub use graphql::GraphQlRequest;
pub use rate_limit::{RateLimit, RateLimitWindow};
pub use request::RequestBuilder;
pub use response::{Response, from_value};
pub use response_future::{JsonFuture, ResponseFuture};
pub use retry::{RetryPolicy, RetryPolicyBuilder};
pub use runpod_types::serverless::JobStatus;
pub use sse::SseEvent;
pub use streaming::{ByteStream, StreamingResponse, from_slice};
pub use url_base::UrlBase;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The facade's paths, for this crate's examples: each starts with the hidden line
/// `# use runpod_transport::__runpod as runpod;` and shows `runpod::…` paths, so that the
/// example a `runpod` user reads (these docs are rendered through the facade) compiles when
/// pasted. `tests/facade` compiles every example against the real facade. Not API.
#[doc(hidden)]
pub mod __runpod {
    pub use crate as transport;
    pub use crate::{ApiKey, Config, Error, HttpClient, Report, Result, RetryPolicy};
}
