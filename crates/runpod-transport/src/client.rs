//! The HTTP client handle and request authentication.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use http::Method;
use http::header::HeaderValue;

use crate::graphql::GraphQlRequest;
use crate::lanes::{Lanes, Lease};
use crate::{ApiKey, Config, Error, HttpVersion, RequestBuilder, UrlBase};

/// The reqwest client for `config`: one lane's connection pool.
fn build_http(config: &Config) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder().user_agent(config.user_agent());
    if let Some(t) = config.connect_timeout() {
        builder = builder.connect_timeout(t);
    }
    builder = match config.http_version() {
        HttpVersion::Negotiate => builder,
        HttpVersion::Http1 => builder.http1_only(),
        HttpVersion::Http2 => builder.http2_prior_knowledge(),
    };
    builder.build()
}

/// How a request authenticates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// The client's own authorization (the default): `Authorization: Bearer <config key>`,
    /// failing with a config error when no key is configured; or, for a client configured
    /// with [`ConfigBuilder::with_raw_authorization`](crate::ConfigBuilder::with_raw_authorization),
    /// the raw key, or no header without one. Built once per client.
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
/// # use runpod_transport::__runpod as runpod;
/// # async fn run() -> runpod::Result<()> {
/// use runpod::transport::{HttpClient, Method};
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
    /// The connections: one pool under HTTP/1.1, more as HTTP/2 streams fill (see `lanes`).
    lanes: Arc<Lanes>,
    /// The configured `Authorization` value (`Bearer {key}`, or the raw key), built once;
    /// `None`: no key, or one that cannot be a header.
    bearer: Option<HeaderValue>,
}

impl HttpClient {
    /// A client for `config`.
    pub fn new(config: Config) -> Result<Self, Error> {
        let http = build_http(&config).map_err(|e| {
            Error::config_with_source("cannot build the HTTP client", e.without_url())
        })?;
        let bearer = make_bearer(&config).ok();
        Ok(Self {
            inner: Arc::new(ClientInner {
                lanes: Arc::new(Lanes::new(http, config.streams_per_connection())),
                config,
                bearer,
            }),
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

    /// Sends `request` once, on a connection with a stream free when it may share one (see
    /// `lanes`); the lease is held for as long as the response, its body included, is read.
    pub(crate) fn execute(
        &self,
        request: reqwest::Request,
    ) -> (
        impl Future<Output = Result<reqwest::Response, reqwest::Error>> + use<>,
        Lease,
    ) {
        let config = &self.inner.config;
        if !config.http_version().may_multiplex(request.url().scheme()) {
            return (self.inner.lanes.first().execute(request), Lease::none());
        }
        let (http, lease) = self.inner.lanes.take(|| match build_http(config) {
            Ok(http) => Some(http),
            Err(error) => {
                tracing::debug!(%error, "cannot open another connection lane; sharing the first");
                None
            }
        });
        (http.execute(request), lease)
    }

    /// Connection lanes opened so far (one, until HTTP/2 streams fill).
    #[doc(hidden)]
    pub fn lanes_opened(&self) -> usize {
        self.inner.lanes.opened()
    }

    /// Requests in flight on HTTP/2 lanes (HTTP/1.1 requests are not counted).
    #[doc(hidden)]
    pub fn lanes_in_flight(&self) -> u32 {
        self.inner.lanes.in_flight_total()
    }

    /// The `Authorization` value for [`Auth::Bearer`] (`None`: send none).
    pub(crate) fn bearer(&self) -> Result<Option<HeaderValue>, Error> {
        match &self.inner.bearer {
            Some(value) => Ok(Some(value.clone())),
            // The worker protocol without a key (a local server without auth).
            None if self.inner.config.raw_authorization()
                && self.inner.config.api_key().is_none() =>
            {
                Ok(None)
            }
            // Made again for its error (no key, or a key that cannot be sent).
            None => make_bearer(&self.inner.config).map(Some),
        }
    }

    /// A request below an already parsed base URL: `{base}/{path}`, with `path` taken as
    /// written (escape untrusted segments first). Cheaper than [`request`](Self::request) with
    /// the whole URL, which parses the host again every time.
    pub fn request_below(&self, method: Method, base: &UrlBase, path: &str) -> RequestBuilder {
        RequestBuilder::with_url(self.clone(), method, Ok(base.below(path)))
    }

    /// A request that is never sent: `send` reports `err`. For callers that find an argument
    /// invalid while making the URL (an id that [`path::segment`](crate::path::segment)
    /// refuses), so that the error comes where every other error of the request does.
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// # async fn f(client: runpod::transport::HttpClient) {
    /// use runpod::transport::{Error, Method};
    /// let err = client
    ///     .invalid_request(Method::GET, Error::invalid_input("bad id"))
    ///     .send()
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_invalid_input());
    /// # }
    /// ```
    pub fn invalid_request(&self, method: Method, err: Error) -> RequestBuilder {
        RequestBuilder::with_url(self.clone(), method, Err(err))
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

fn make_bearer(config: &Config) -> Result<HeaderValue, Error> {
    let key = config.require_api_key()?.expose();
    if config.raw_authorization() {
        auth_header(key)
    } else {
        auth_header(&format!("Bearer {key}"))
    }
}

/// A sensitive (never logged) `Authorization` header value.
pub(crate) fn auth_header(value: &str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| Error::config("the API key has characters not allowed in an HTTP header"))?;
    value.set_sensitive(true);
    Ok(value)
}
