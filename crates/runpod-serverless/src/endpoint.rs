//! One queue endpoint: submit jobs, attach to jobs, health, purge.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::Either;
use runpod_transport::{HttpClient, Method, RequestBuilder, Result, UrlBase};
use runpod_types::serverless::{HealthResponse, PurgeQueueResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::job::JobHandle;
use crate::poll::PollPolicy;
use crate::rate_limit::{EndpointLimiter, Permit, Route};
use crate::routes;
use crate::run::{RunRequest, RunSyncRequest};

/// A queue endpoint (`{serverless base}/{endpoint_id}`), made by
/// [`ServerlessClient::endpoint`](crate::ServerlessClient::endpoint). Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> runpod_serverless::Result<()> {
/// use std::time::Duration;
/// use runpod_serverless::ServerlessClient;
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
            .field("base", &self.shared.base)
            .finish()
    }
}

/// What every handle to one endpoint shares.
#[derive(Debug)]
pub(crate) struct EndpointShared {
    pub(crate) http: HttpClient,
    pub(crate) id: String,
    /// `{serverless base}/{escaped endpoint id}`.
    pub(crate) base: String,
    /// `base`, parsed once (`None` if it does not parse: requests then report why).
    parsed_base: Option<UrlBase>,
    limiter: Option<Arc<EndpointLimiter>>,
}

impl EndpointShared {
    pub(crate) fn new(http: HttpClient, id: String, limiter: Option<Arc<EndpointLimiter>>) -> Self {
        let base = routes::endpoint_base(http.config().serverless_base_url(), &id);
        let parsed_base = UrlBase::parse(&base).ok();
        Self {
            http,
            id,
            base,
            parsed_base,
            limiter,
        }
    }

    #[cfg(test)]
    pub(crate) fn limiter(&self) -> Option<&Arc<EndpointLimiter>> {
        self.limiter.as_ref()
    }

    /// A request to `{base}/{path}` (`path` already escaped).
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        match &self.parsed_base {
            Some(base) => self.http.request_below(method, base, path),
            None => self.http.request(method, format!("{}/{path}", self.base)),
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

    /// A request to `{base}/{route}/{job id}`, the id escaped.
    pub(crate) fn job_request(&self, method: Method, route: &str, job_id: &str) -> RequestBuilder {
        self.request(method, &routes::job_path(route, job_id))
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
    /// The body is always `{"input": <input>, …}`; the input is never inspected, so an input that
    /// itself has an `input` key is sent as it is, one level down. Send with `.send().await` or
    /// simply `.await`.
    ///
    /// `/run` is not idempotent: after it may have reached the server it is never sent again
    /// (only a connection that never opened, or a 429, is retried), so one call queues at most
    /// one job.
    pub fn run<I: Serialize>(&self, input: I) -> RunRequest {
        RunRequest::new(self.clone(), input)
    }

    /// Prepares `POST /runsync`: queue a job and wait for its output.
    ///
    /// The server holds the request up to [`wait`](RunSyncRequest::wait) (default 90 s); if the
    /// job has not ended by then the client keeps waiting through `/status` under the same job
    /// id, until the job ends or the caller's [`with_timeout`](RunSyncRequest::with_timeout)
    /// passes. `.await` yields the output as JSON; `.output::<T>()` decodes it; `.send()` gives the
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
            .call(Route::Health, |ep| ep.request(Method::GET, "health"))
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
                ep.request(Method::POST, "purge-queue").idempotent(false)
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
