//! GraphQL over HTTP for `graphql_client` operations.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use graphql_client::GraphQLQuery;
use serde_json::Value;

use crate::api_error::ApiError;
use crate::{Auth, Error, RequestBuilder, RetryPolicy};

/// A GraphQL operation being built; see [`HttpClient::graphql`](crate::HttpClient::graphql).
#[must_use = "a request does nothing until it is sent"]
pub struct GraphQlRequest<Q> {
    pub(crate) request: RequestBuilder,
    pub(crate) _query: PhantomData<fn() -> Q>,
}

impl<Q> fmt::Debug for GraphQlRequest<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphQlRequest")
            .field("request", &self.request)
            .finish()
    }
}

impl<Q: GraphQLQuery> GraphQlRequest<Q> {
    fn map(self, f: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        Self {
            request: f(self.request),
            _query: PhantomData,
        }
    }

    /// Mark a query idempotent so that it is retried on transient failures (mutations should
    /// stay non-idempotent, the default).
    pub fn idempotent(self, yes: bool) -> Self {
        self.map(|r| r.idempotent(yes))
    }

    /// How to authenticate (default bearer with the configured key).
    pub fn auth(self, auth: Auth) -> Self {
        self.map(|r| r.auth(auth))
    }

    /// Sets a header.
    pub fn header(self, name: &str, value: impl Into<String>) -> Self {
        self.map(|r| r.header(name, value))
    }

    /// The retry policy for this request.
    pub fn with_retry(self, policy: RetryPolicy) -> Self {
        self.map(|r| r.with_retry(policy))
    }

    /// Per-attempt timeout; `None` for none.
    pub fn with_attempt_timeout(self, timeout: Option<Duration>) -> Self {
        self.map(|r| r.with_attempt_timeout(timeout))
    }

    /// Timeout over all attempts; `None` for none.
    pub fn with_operation_timeout(self, timeout: Option<Duration>) -> Self {
        self.map(|r| r.with_operation_timeout(timeout))
    }

    /// Sends the operation and decodes `data`.
    ///
    /// A non-2xx status is [`Error::is_status`] (with GraphQL errors in `api_error()` when the
    /// body has them); a 2xx body with non-empty `errors` is [`Error::is_graphql`], even if it
    /// also has partial data; `data` that does not match is [`Error::is_decode`] naming the
    /// path (`data.myself.pods[0].id`).
    pub async fn send(self) -> Result<Q::ResponseData, Error> {
        let response = self.request.send().await?;
        let body = response.bytes();
        let with_ctx = |e: Error| response.add_context(e);
        let envelope: Value =
            crate::response::decode_slice("graphql response", body).map_err(with_ctx)?;
        if envelope
            .get("errors")
            .and_then(Value::as_array)
            .is_some_and(|errors| !errors.is_empty())
        {
            let api = ApiError::from_value(&envelope).unwrap_or_default();
            return Err(response.add_context(Error::graphql(
                api,
                response.headers().clone(),
                body,
            )));
        }
        match envelope.get("data") {
            None | Some(Value::Null) => Err(with_ctx(Error::decode_message(
                "graphql response",
                "it has neither `data` nor `errors`",
                body,
            ))),
            Some(_) => {
                #[derive(serde::Deserialize)]
                struct Envelope<T> {
                    data: T,
                }
                serde_path_to_error::deserialize::<_, Envelope<Q::ResponseData>>(envelope)
                    .map(|e| e.data)
                    .map_err(|e| with_ctx(Error::decode("graphql data", e, body)))
            }
        }
    }
}
