//! The serverless client and its builder.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use runpod_transport::{Config, HttpClient, Result};

use crate::endpoint::{Endpoint, EndpointShared};
use crate::poll::PollPolicy;
use crate::rate_limit::{EndpointLimiter, RateLimits};

/// A client for Runpod queue endpoints (`{serverless base}/{endpoint_id}/…`).
///
/// Cheap to clone: clones share the HTTP connection pool and the per-endpoint rate limiters
/// (see [`RateLimits`]). Build one per program and hand out clones.
///
/// ```no_run
/// # use runpod_serverless::__runpod as runpod;
/// # async fn demo() -> runpod::Result<()> {
/// use runpod::ServerlessClient;
///
/// // RUNPOD_API_KEY (or ~/.runpod/config.toml), RUNPOD_ENDPOINT_BASE_URL.
/// let client = ServerlessClient::from_env()?;
/// let endpoint = client.endpoint("my-endpoint-id");
/// let output = endpoint.run_sync(serde_json::json!({"prompt": "hello"})).await?;
/// println!("{output}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerlessClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    http: HttpClient,
    limits: RateLimits,
    limits_apply: bool,
    poll: PollPolicy,
    limiters: Mutex<HashMap<String, Arc<EndpointLimiter>>>,
    /// Load-balancing URL template set on the builder (else `RUNPOD_LB_BASE_URL`, else Runpod's).
    lb_base: Option<String>,
}

impl fmt::Debug for ServerlessClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerlessClient")
            .field("base_url", &self.inner.http.config().serverless_base_url())
            .field("rate_limited", &self.inner.limits_apply)
            .field("poll", &self.inner.poll)
            .finish_non_exhaustive()
    }
}

impl ServerlessClient {
    /// A client over an existing HTTP client (its config gives the key and the base URL), with
    /// the default [`RateLimits`] and [`PollPolicy`].
    ///
    /// Infallible, so it does not check the key: without one, requests to Runpod fail with
    /// `is_config()` when sent (the other constructors fail at once instead).
    pub fn new(http: HttpClient) -> Self {
        Self::assemble(http, RateLimits::default(), PollPolicy::default())
    }

    /// A client configured from the environment, as [`Config::from_env`] reads it: the key from
    /// `RUNPOD_API_KEY` (else `~/.runpod/config.toml`), the base URL from
    /// `RUNPOD_ENDPOINT_BASE_URL` (default `https://api.runpod.ai/v2`).
    ///
    /// A key is required only by Runpod itself: against any other host (a `runpod-local`
    /// started without `--api-key`, a proxy that adds the key) the client works without one
    /// and sends no `Authorization` header.
    ///
    /// # Errors
    /// `is_config()` when the base URL is Runpod's (`*.runpod.ai`, `*.runpod.io`) and no API key
    /// is found, or when the environment holds an invalid setting.
    pub fn from_env() -> Result<Self> {
        Self::checked(HttpClient::from_env()?)
    }

    /// A client from an explicit transport configuration.
    ///
    /// # Errors
    /// `is_config()` when `config` points at Runpod without an API key (see
    /// [`from_env`](Self::from_env)), or the HTTP client cannot be built from it.
    pub fn from_config(config: Config) -> Result<Self> {
        Self::checked(HttpClient::new(config)?)
    }

    fn checked(http: HttpClient) -> Result<Self> {
        require_key_for_runpod(&http)?;
        Ok(Self::new(http))
    }

    /// A builder, to set rate limits and polling next to the transport.
    pub fn builder() -> ServerlessClientBuilder {
        ServerlessClientBuilder::default()
    }

    fn assemble(http: HttpClient, limits: RateLimits, poll: PollPolicy) -> Self {
        let limits_apply = limits.applies_to(http.config().serverless_base_url());
        Self {
            inner: Arc::new(ClientInner {
                http,
                limits,
                limits_apply,
                poll,
                limiters: Mutex::new(HashMap::new()),
                lb_base: None,
            }),
        }
    }

    /// A handle to one endpoint. Cheap; handles to the same id share its rate limiter.
    pub fn endpoint(&self, endpoint_id: impl Into<String>) -> Endpoint {
        let id = endpoint_id.into();
        let limiter = self.inner.limits_apply.then(|| {
            let mut map = self
                .inner
                .limiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                map.entry(id.clone())
                    .or_insert_with(|| Arc::new(EndpointLimiter::new(&self.inner.limits))),
            )
        });
        let shared = EndpointShared::new(self.inner.http.clone(), id, limiter);
        Endpoint::new(Arc::new(shared), self.inner.poll.clone())
    }

    /// A handle to a load-balancing endpoint (see [`crate::lb`]): plain HTTP requests to its
    /// workers at `https://{endpoint_id}.api.runpod.ai/{path}`, or below the template set with
    /// [`ServerlessClientBuilder::with_lb_base_url`] or `RUNPOD_LB_BASE_URL`.
    pub fn load_balancer(&self, endpoint_id: impl Into<String>) -> crate::lb::LoadBalancer {
        crate::lb::LoadBalancer::new(
            self.inner.http.clone(),
            endpoint_id.into(),
            self.inner.lb_base.as_deref(),
        )
    }

    /// The underlying HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
    }

    /// The configured rate limits (they apply only if [`is_rate_limited`](Self::is_rate_limited)).
    pub fn rate_limits(&self) -> &RateLimits {
        &self.inner.limits
    }

    /// Whether client-side rate limits are active for this client's base URL.
    pub fn is_rate_limited(&self) -> bool {
        self.inner.limits_apply
    }
}

/// Builds a [`ServerlessClient`]. Without a config or HTTP client it reads the environment.
///
/// ```no_run
/// # use runpod_serverless::__runpod as runpod;
/// # fn demo() -> runpod::Result<()> {
/// use std::time::Duration;
/// use runpod::serverless::{Config, PollPolicy, RateLimits, ServerlessClient};
///
/// let client = ServerlessClient::builder()
///     .with_config(Config::builder().with_api_key("rpa_...").build()?)
///     .with_poll_policy(PollPolicy::builder().with_max_delay(Duration::from_secs(5)).build()?)
///     .with_rate_limits(RateLimits::disabled())
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct ServerlessClientBuilder {
    source: Option<Source>,
    limits: Option<RateLimits>,
    poll: Option<PollPolicy>,
    lb_base: Option<String>,
}

#[derive(Debug)]
enum Source {
    Config(Box<Config>),
    Http(HttpClient),
}

impl ServerlessClientBuilder {
    /// Use this transport configuration (replaces an earlier `with_http_client`).
    pub fn with_config(mut self, config: Config) -> Self {
        self.source = Some(Source::Config(Box::new(config)));
        self
    }

    /// Use this HTTP client (replaces an earlier `with_config`).
    pub fn with_http_client(mut self, http: HttpClient) -> Self {
        self.source = Some(Source::Http(http));
        self
    }

    /// Client-side rate limits (default [`RateLimits::auto`]).
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// The polling policy of every endpoint and job handle made from this client.
    pub fn with_poll_policy(mut self, poll: PollPolicy) -> Self {
        self.poll = Some(poll);
        self
    }

    /// The URL template of load-balancing endpoints, with the literal `{endpoint_id}` (default
    /// `RUNPOD_LB_BASE_URL`, else `https://{endpoint_id}.api.runpod.ai`); for `runpod-local`,
    /// `http://HOST:PORT/lb/{endpoint_id}`.
    pub fn with_lb_base_url(mut self, template: impl Into<String>) -> Self {
        self.lb_base = Some(template.into());
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// A configuration error when reading the environment fails, the HTTP client cannot be
    /// built, or the base URL is Runpod's and there is no API key (see
    /// [`ServerlessClient::from_env`]).
    pub fn build(self) -> Result<ServerlessClient> {
        let http = match self.source {
            Some(Source::Http(http)) => http,
            Some(Source::Config(config)) => HttpClient::new(*config)?,
            None => HttpClient::from_env()?,
        };
        require_key_for_runpod(&http)?;
        let mut client = ServerlessClient::assemble(
            http,
            self.limits.unwrap_or_default(),
            self.poll.unwrap_or_default(),
        );
        if let Some(template) = self.lb_base
            && let Some(inner) = Arc::get_mut(&mut client.inner)
        {
            inner.lb_base = Some(template);
        }
        Ok(client)
    }
}

/// Whether requests to this serverless base URL need an API key: Runpod's hosts do; a local
/// or self-hosted server may not.
pub(crate) fn needs_key(serverless_base_url: &str) -> bool {
    crate::routes::host_of(serverless_base_url).is_none_or(|host| {
        ["runpod.ai", "runpod.io"]
            .iter()
            .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")))
    })
}

/// A missing key is a construction error for Runpod's hosts, rather than a failure of the first
/// request after a program has started its work.
fn require_key_for_runpod(http: &HttpClient) -> Result<()> {
    let config = http.config();
    if needs_key(config.serverless_base_url()) {
        config.require_api_key()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str, limits: RateLimits) -> ServerlessClient {
        let config = Config::builder()
            .with_api_key("k")
            .with_serverless_base_url(url)
            .build()
            .unwrap();
        ServerlessClient::builder()
            .with_config(config)
            .with_rate_limits(limits)
            .build()
            .unwrap()
    }

    #[test]
    fn handles_to_one_endpoint_share_one_limiter() {
        let c = client("https://api.runpod.ai/v2", RateLimits::default());
        let a = c.endpoint("ep-a");
        let a_again = c.clone().endpoint("ep-a");
        let b = c.endpoint("ep-b");
        let limiter = |e: &Endpoint| Arc::clone(e.shared().limiter().unwrap());
        assert!(Arc::ptr_eq(&limiter(&a), &limiter(&a_again)));
        assert!(!Arc::ptr_eq(&limiter(&a), &limiter(&b)));
    }

    #[test]
    fn only_runpod_hosts_need_a_key() {
        for url in [
            "https://api.runpod.ai/v2",
            "https://API.RUNPOD.AI/v2",
            "https://eu.api.runpod.ai/v2",
            "https://api.runpod.io/v2",
            "not a url",
        ] {
            assert!(needs_key(url), "{url}");
        }
        for url in [
            "http://127.0.0.1:8000/v2",
            "http://localhost:8000/v2",
            "https://proxy.example.com/v2",
            "https://notrunpod.ai/v2",
        ] {
            assert!(!needs_key(url), "{url}");
        }
    }

    #[test]
    fn a_keyless_client_for_runpod_fails_at_construction() {
        let keyless = |url: &str| {
            Config::builder()
                .with_serverless_base_url(url)
                .build()
                .unwrap()
        };
        let err = ServerlessClient::from_config(keyless("https://api.runpod.ai/v2")).unwrap_err();
        assert!(err.is_config(), "{err:?}");
        assert!(err.to_string().contains("API key"), "{err}");
        let err = ServerlessClient::builder()
            .with_config(keyless("https://api.runpod.ai/v2"))
            .build()
            .unwrap_err();
        assert!(err.is_config(), "{err:?}");
        assert!(ServerlessClient::from_config(keyless("http://127.0.0.1:9/v2")).is_ok());
    }

    #[test]
    fn local_servers_get_no_limiter() {
        let c = client("http://127.0.0.1:9/v2", RateLimits::default());
        assert!(c.endpoint("ep").shared().limiter().is_none());
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let config = Config::builder()
            .with_api_key("rpa_SECRET")
            .with_serverless_base_url("http://127.0.0.1:9/v2")
            .build()
            .unwrap();
        let c = ServerlessClient::from_config(config).unwrap();
        for shown in [
            format!("{c:?}"),
            format!("{:?}", c.endpoint("ep")),
            format!("{:?}", c.endpoint("ep").job("j")),
        ] {
            assert!(!shown.contains("rpa_SECRET"), "{shown}");
        }
    }

    #[test]
    fn clients_are_cheap_shareable_handles() {
        fn assert_traits<T: Clone + Send + Sync + 'static>() {}
        assert_traits::<ServerlessClient>();
        assert_traits::<Endpoint>();
        assert_traits::<crate::JobHandle>();
    }
}
