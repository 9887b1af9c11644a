//! Where a job's posts go: the platform over HTTP (with retries that do not lose results), or
//! stdout in local test mode.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use runpod_transport::{Backoff, HttpClient, Method, Report, RetryPolicy};
use tokio::time::Instant;

use super::urls::WorkerUrls;

/// What a post carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostKind {
    /// `{"status": "IN_PROGRESS", "output": …}` to job-done.
    Progress,
    /// `{"output": chunk}` to job-stream.
    Chunk,
    /// The final result to job-done.
    Final { is_stream: bool },
}

/// What became of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Delivered,
    /// The server answered a 4xx other than 408/429: sending it again would not help.
    Rejected,
    /// Transient failures until the deadline.
    GaveUp,
    /// No URL is configured for this kind of post.
    NoUrl,
}

impl Delivery {
    pub(crate) fn is_delivered(self) -> bool {
        self == Self::Delivered
    }
}

/// A destination for a job's posts.
pub(crate) trait Sink: Send + Sync + 'static {
    fn post<'a>(&'a self, job_id: &'a str, kind: PostKind, body: Bytes) -> BoxFuture<'a, Delivery>;
}

/// Retry settings for result posts.
#[derive(Debug, Clone)]
pub(crate) struct PostRetry {
    /// Overall time allowed to deliver a final result or a chunk.
    pub(crate) result_deadline: Duration,
    /// Overall time allowed to deliver a progress update (they are not worth holding a job for).
    pub(crate) progress_deadline: Duration,
    pub(crate) backoff: Backoff,
    /// Upper bound on one attempt.
    pub(crate) attempt_timeout: Duration,
    /// Upper bound on a server's Retry-After.
    pub(crate) max_retry_after: Duration,
}

impl Default for PostRetry {
    fn default() -> Self {
        Self {
            result_deadline: Duration::from_secs(600),
            progress_deadline: Duration::from_secs(30),
            backoff: super::backoff::doubling(Duration::from_millis(500)),
            attempt_timeout: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Posts to the platform's job-done / job-stream URLs.
pub(crate) struct HttpSink {
    pub(crate) client: HttpClient,
    pub(crate) urls: WorkerUrls,
    pub(crate) retry: PostRetry,
}

/// One long-poll GET (job-take, job-stop): no transport retries, since the loop decides the
/// pause itself, and an attempt timeout longer than the server's hold.
pub(crate) async fn long_poll(
    client: &HttpClient,
    url: &str,
    attempt_timeout: Duration,
) -> runpod_transport::Result<runpod_transport::Response> {
    client
        .request(Method::GET, url)
        .with_retry(RetryPolicy::none())
        .with_attempt_timeout(Some(attempt_timeout))
        .send()
        .await
}

impl HttpSink {
    async fn deliver(&self, job_id: &str, kind: PostKind, body: Bytes) -> Delivery {
        if let Err(e) = runpod_transport::path::segment(job_id) {
            // Refused at job-take already; kept here so that no post can reach another route.
            tracing::error!(?kind, error = %e, "this job's id cannot be used in a URL; the post is dropped");
            return Delivery::Rejected;
        }
        let url = match kind {
            PostKind::Progress => self.urls.done(job_id, false),
            PostKind::Final { is_stream } => self.urls.done(job_id, is_stream),
            PostKind::Chunk => self.urls.stream(job_id),
        };
        let Some(url) = url else {
            tracing::error!(?kind, "no URL configured for this post; it is dropped");
            return Delivery::NoUrl;
        };
        let deadline = match kind {
            PostKind::Progress => self.retry.progress_deadline,
            _ => self.retry.result_deadline,
        };
        let started = Instant::now();
        let mut retries = 0u32;
        let mut delays = self.retry.backoff.delays();
        loop {
            let remaining = deadline.saturating_sub(started.elapsed());
            let attempt_timeout = self
                .retry
                .attempt_timeout
                .min(remaining.max(Duration::from_secs(1)));
            let sent = self
                .client
                .request(Method::POST, &url)
                // Only this job's posts carry its id (the Python worker leaks it into every request).
                .header("X-Request-ID", job_id)
                .body(body.clone(), "application/json")
                // job-done and job-stream are keyed by job id; a repeat after a lost response is
                // harmless, a lost result is not.
                .idempotent(true)
                .with_retry(RetryPolicy::none())
                .with_attempt_timeout(Some(attempt_timeout))
                .send()
                .await;
            let err = match sent {
                Ok(_) => {
                    if retries > 0 {
                        tracing::info!(?kind, attempts = retries + 1, "delivered after retrying");
                    }
                    return Delivery::Delivered;
                }
                Err(e) => e,
            };
            if let Some(status) = err.status()
                && status.is_client_error()
                && status.as_u16() != 408
                && status.as_u16() != 429
            {
                tracing::error!(
                    ?kind,
                    %status,
                    body = err.body().unwrap_or_default(),
                    "the platform rejected this post; not retrying, because a 4xx answer (unknown or \
                     expired job, bad credentials, malformed request) will not change on a repeat"
                );
                return Delivery::Rejected;
            }
            let delay = match err.retry_after() {
                Some(d) if err.is_rate_limited() => d.min(self.retry.max_retry_after),
                _ => delays.delay(retries),
            };
            if started.elapsed() + delay >= deadline {
                tracing::error!(
                    ?kind,
                    attempts = retries + 1,
                    error = %Report(&err),
                    "could not deliver within {deadline:?}; giving up"
                );
                return Delivery::GaveUp;
            }
            tracing::warn!(?kind, attempt = retries + 1, error = %Report(&err), "post failed; retrying in {delay:?}");
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }
}

impl Sink for HttpSink {
    fn post<'a>(&'a self, job_id: &'a str, kind: PostKind, body: Bytes) -> BoxFuture<'a, Delivery> {
        self.deliver(job_id, kind, body).boxed()
    }
}

/// Local test mode: every body the worker would POST is printed as one line on stdout.
pub(crate) struct StdoutSink;

impl Sink for StdoutSink {
    fn post<'a>(
        &'a self,
        _job_id: &'a str,
        _kind: PostKind,
        body: Bytes,
    ) -> BoxFuture<'a, Delivery> {
        async move {
            let mut out = std::io::stdout().lock();
            let ok = out
                .write_all(&body)
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush());
            if ok.is_ok() {
                Delivery::Delivered
            } else {
                Delivery::GaveUp
            }
        }
        .boxed()
    }
}
