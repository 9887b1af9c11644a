//! One queue endpoint: submit jobs, attach to jobs, health, purge.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::Either;
use runpod_transport::{Auth, HttpClient, Method, RequestBuilder, Result, UrlBase};
use runpod_types::serverless::{HealthResponse, PurgeQueueResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::job::JobHandle;
use crate::long_poll::LongPollSupport;
use crate::poll::PollPolicy;
use crate::rate_limit::{EndpointLimiter, Permit, Route};
use crate::routes;
use crate::run::{RunRequest, RunSyncRequest};

/// A queue endpoint (`{serverless base}/{endpoint_id}`), made by
/// [`ServerlessClient::endpoint`](crate::ServerlessClient::endpoint). Cheap to clone.
///
/// ```no_run
/// # use runpod_serverless::__runpod as runpod;
/// # async fn demo() -> runpod::Result<()> {
/// use std::time::Duration;
/// use runpod::ServerlessClient;
///
/// let endpoint = ServerlessClient::from_env()?.endpoint("my-endpoint-id");
///
/// // Queue a job and keep its handle.
/// let job = endpoint
///     .run(serde_json::json!({"prompt": "a cat"}))
///     .execution_timeout(Duration::from_secs(120))
///     .webhook("https://example.com/hook")
///     .await?;
/// println!("queued {}", job.id());
///
/// // Later, maybe in another process: attach by id and wait for the typed output.
/// let images: Vec<String> = endpoint
///     .job(job.id())
///     .output_with_timeout(Duration::from_secs(600))
///     .await?;
/// # let _ = images;
/// let health = endpoint.health().await?;
/// # let _ = health;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Endpoint {
    shared: Arc<EndpointShared>,
    poll: PollPolicy,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.shared.id)
            .field("base", &self.shared.base.as_ref().map(UrlBase::as_str))
            .finish()
    }
}

/// What every handle to one endpoint shares.
#[derive(Debug)]
pub(crate) struct EndpointShared {
    pub(crate) http: HttpClient,
    pub(crate) id: String,
    /// `{serverless base}/{escaped endpoint id}`, parsed once (`None` if the id cannot be a
    /// path segment or the URL does not parse: requests then report why).
    base: Option<UrlBase>,
    limiter: Option<Arc<EndpointLimiter>>,
    /// No key, and a host that needs none: requests go without `Authorization`.
    keyless: bool,
    /// Whether this endpoint's host answers long polls (learned by the first wait).
    pub(crate) long_poll: LongPollSupport,
}

impl EndpointShared {
    pub(crate) fn new(http: HttpClient, id: String, limiter: Option<Arc<EndpointLimiter>>) -> Self {
        let base = routes::endpoint_base(http.config().serverless_base_url(), &id)
            .and_then(|base| UrlBase::parse(&base))
            .ok();
        let keyless = http.config().api_key().is_none()
            && !crate::client::needs_key(http.config().serverless_base_url());
        Self {
            http,
            id,
            base,
            limiter,
            keyless,
            long_poll: LongPollSupport::default(),
        }
    }

    #[cfg(test)]
    pub(crate) fn limiter(&self) -> Option<&Arc<EndpointLimiter>> {
        self.limiter.as_ref()
    }

    /// Whether the rate limiter has every in-flight slot of `route` in use now.
    pub(crate) fn is_full(&self, route: Route) -> bool {
        self.limiter.as_ref().is_some_and(|l| l.is_full(route))
    }

    /// `{serverless base}/{escaped endpoint id}`, for showing (an id that cannot be one path
    /// segment is shown as given; requests made with it report why).
    pub(crate) fn base_url(&self) -> String {
        match &self.base {
            Some(base) => base.as_str().trim_end_matches('/').to_owned(),
            None => format!(
                "{}/{}",
                self.http
                    .config()
                    .serverless_base_url()
                    .trim_end_matches('/'),
                self.id
            ),
        }
    }

    /// A request to `{base}/{path}` (`path` already escaped).
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = match &self.base {
            Some(base) => self.http.request_below(method, base, path),
            // Made again for its error: an id that cannot be a segment, or a URL that does not
            // parse.
            None => match routes::endpoint_base(self.http.config().serverless_base_url(), &self.id)
            {
                Ok(base) => self.http.request(method, format!("{base}/{path}")),
                Err(e) => return self.http.invalid_request(method, e),
            },
        };
        if self.keyless {
            request.auth(Auth::None)
        } else {
            request
        }
    }

    /// The wait for the rate limiter to let one `route` request through, or `None` without a
    /// limiter. Owns what it needs, so that named futures can hold it (boxed).
    pub(crate) fn queue(
        &self,
        route: Route,
    ) -> Option<impl Future<Output = Permit> + Send + 'static> {
        let limiter = self.limiter.clone()?;
        Some(async move { limiter.acquire(route).await })
    }

    /// A request on `route` of this endpoint: `{base}/{segment}`, with the route's method.
    pub(crate) fn route_request(&self, route: Route) -> RequestBuilder {
        self.request(routes::method(route), route.segment())
    }

    /// A request on a job `route`: `{base}/{segment}/{job id}`, the id escaped (an id that
    /// cannot be one path segment fails the request when sent, before anything is sent).
    pub(crate) fn job_request(&self, route: Route, job_id: &str) -> RequestBuilder {
        let method = routes::method(route);
        match routes::job_path(route.segment(), job_id) {
            Ok(path) => self.request(method, &path),
            Err(e) => self.http.invalid_request(method, e),
        }
    }

    /// Sends one request once the endpoint's rate limiter lets `route` through. The request is
    /// built after the wait, so deadlines computed in `build` exclude the time spent queued.
    ///
    /// Without a limiter this is the request's own future: no `async` layer of its own, since
    /// every layer is built and copied once per request.
    pub(crate) fn call<'a, T: DeserializeOwned + 'a>(
        &'a self,
        route: Route,
        build: impl FnOnce(&Self) -> RequestBuilder + Send + 'a,
    ) -> impl Future<Output = Result<T>> + Send + 'a {
        match self.queue(route) {
            None => Either::Left(build(self).send_json()),
            Some(queued) => Either::Right(async move {
                let _permit = queued.await;
                build(self).send_json().await
            }),
        }
    }
}

impl Endpoint {
    pub(crate) fn new(shared: Arc<EndpointShared>, poll: PollPolicy) -> Self {
        Self { shared, poll }
    }

    /// The endpoint id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The same endpoint with another polling policy for the jobs it makes.
    #[must_use]
    pub fn with_poll_policy(mut self, poll: PollPolicy) -> Self {
        self.poll = poll;
        self
    }

    /// Prepares `POST /run`: queue a job and get its [`JobHandle`] at once.
    ///
    /// The body is always `{"input": <input>, …}`: pass the handler's input itself, not a whole
    /// request body. **Coming from Python**: `runpod.Endpoint.run({"input": {...}})` adds the
    /// wrapper only when it is absent, this method always adds it, so a Python-style
    /// `{"input": {...}}` reaches the worker as `input.input`. Such an input is sent unchanged
    /// (a handler may mean it) and logged once per process as a `WARN`. Send with
    /// `.send().await` or simply `.await`.
    ///
    /// `/run` is not idempotent: after it may have reached the server it is never sent again
    /// (only a connection that never opened, or a 429, is retried), so one call queues at most
    /// one job.
    pub fn run<I: Serialize>(&self, input: I) -> RunRequest {
        RunRequest::new(self.clone(), input)
    }

    /// Prepares `POST /runsync`: queue a job and wait for its output.
    ///
    /// The server holds the request up to [`hold`](RunSyncRequest::hold) (default 90 s); if the
    /// job has not ended by then the client keeps waiting through `/status` under the same job
    /// id, until the job ends or the caller's [`timeout`](RunSyncRequest::timeout) passes (the
    /// error then names the job). `.await` yields the output as JSON; `.output::<T>()` decodes it; `.send()` gives the
    /// whole finished [`JobState`](crate::JobState).
    pub fn run_sync<I: Serialize>(&self, input: I) -> RunSyncRequest {
        RunSyncRequest::new(self.clone(), input)
    }

    /// A handle to an existing job, by id. Makes no request.
    pub fn job(&self, job_id: impl Into<String>) -> JobHandle {
        JobHandle::new(Arc::clone(&self.shared), job_id.into(), self.poll.clone())
    }

    /// `GET /health`: job counts by state and worker counts.
    ///
    /// # Errors
    /// Transport and HTTP errors (`is_unauthorized()`, `is_not_found()` for an unknown
    /// endpoint, …).
    pub async fn health(&self) -> Result<HealthResponse> {
        self.shared
            .call(Route::Health, |ep| ep.route_request(Route::Health))
            .await
    }

    /// `POST /purge-queue`: remove every queued job (running jobs go on). The response tells how
    /// many were removed.
    ///
    /// Not retried after it may have reached the server (a second purge could report a wrong
    /// count).
    ///
    /// # Errors
    /// Transport and HTTP errors.
    pub async fn purge_queue(&self) -> Result<PurgeQueueResponse> {
        self.shared
            .call(Route::PurgeQueue, |ep| {
                ep.route_request(Route::PurgeQueue).idempotent(false)
            })
            .await
    }

    /// The endpoint's OpenAI-compatible API (`{endpoint base}/openai/v1`), for endpoints
    /// running worker-vllm or any OpenAI-compatible worker, and for Public Endpoints (the model
    /// slug as the endpoint id, e.g. `client.endpoint("qwen3-32b-awq").openai()`).
    /// See [`openai`](crate::openai).
    pub fn openai(&self) -> crate::openai::OpenAi {
        crate::openai::OpenAi::new(Arc::clone(&self.shared))
    }

    pub(crate) fn shared(&self) -> &Arc<EndpointShared> {
        &self.shared
    }

    pub(crate) fn poll_policy(&self) -> &PollPolicy {
        &self.poll
    }
}
