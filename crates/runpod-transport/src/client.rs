//! The HTTP client handle and request authentication.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use http::Method;

use crate::graphql::GraphQlRequest;
use crate::{ApiKey, Config, Error, RequestBuilder};

/// How a request authenticates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// `Authorization: Bearer <config key>` (the default; fails with a config error when no
    /// key is configured).
    #[default]
    Bearer,
    /// `Authorization: <key>`, without `Bearer` (what the serverless worker API expects).
    Raw(ApiKey),
    /// No `Authorization` header.
    None,
}

/// The HTTP client: configuration plus a connection pool. Cheap to clone (an `Arc` inside);
/// clone it rather than building several.
///
/// ```no_run
/// # async fn run() -> runpod_transport::Result<()> {
/// use runpod_transport::{HttpClient, Method};
///
/// let client = HttpClient::from_env()?;
/// let url = format!("{}/v2/pods", client.config().rest_base_url());
/// let pods: serde_json::Value = client.request(Method::GET, url).send_json().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    pub(crate) config: Config,
    pub(crate) http: reqwest::Client,
}

impl HttpClient {
    /// A client for `config`.
    pub fn new(config: Config) -> Result<Self, Error> {
        let mut builder = reqwest::Client::builder().user_agent(config.user_agent());
        if let Some(t) = config.connect_timeout() {
            builder = builder.connect_timeout(t);
        }
        let http = builder.build().map_err(|e| {
            Error::config_with_source("cannot build the HTTP client", e.without_url())
        })?;
        Ok(Self {
            inner: Arc::new(ClientInner { config, http }),
        })
    }

    /// A client configured by [`Config::from_env`].
    pub fn from_env() -> Result<Self, Error> {
        Self::new(Config::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// A request to an absolute `url` (`"http://host/v2/ep/run"`); used for every API.
    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.as_ref())
    }

    /// A GraphQL operation: `POST {graphql_url}` with `{query, variables, operationName}`.
    /// Not idempotent unless marked (`.idempotent(true)` for queries).
    pub fn graphql<Q: graphql_client::GraphQLQuery>(
        &self,
        variables: Q::Variables,
    ) -> GraphQlRequest<Q> {
        let body = Q::build_query(variables);
        let operation = body.operation_name;
        let request = self
            .request(Method::POST, self.config().graphql_url())
            .json(&body)
            .operation_name(operation);
        GraphQlRequest {
            request,
            _query: PhantomData,
        }
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
