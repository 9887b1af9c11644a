//! `Worker::builder(handler)…run()`: configuration, the production loop and graceful shutdown.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use runpod_transport::{Error, HttpClient, Result, RetryPolicy};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::args::Args;
use super::env::WorkerEnv;
use super::handler::{Handler, Runner};
use super::heartbeat::Heartbeat;
use super::job::StopReason;
use super::report::{self, Reporter};
use super::sink::{HttpSink, PostRetry, Sink};
use super::startup::Startup;
use super::stop::StopLoop;
use super::supervise::Shared;
use super::take::{Concurrency, TakeLoop};

/// Default for [`WorkerBuilder::with_shutdown_timeout`].
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`WorkerBuilder::with_result_deadline`].
pub const DEFAULT_RESULT_DEADLINE: Duration = Duration::from_secs(600);
/// Default for [`WorkerBuilder::with_cancel_grace`].
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(5);
/// Default for [`WorkerBuilder::with_take_timeout`]: longer than the platform's long-poll hold.
pub const DEFAULT_TAKE_TIMEOUT: Duration = Duration::from_secs(90);

/// The serverless worker runtime. Start with [`Worker::builder`].
///
/// ```no_run
/// # use runpod_serverless::__runpod as runpod;
/// use runpod::worker::{Job, Worker};
///
/// async fn handler(job: Job<serde_json::Value>) -> Result<serde_json::Value, String> {
///     Ok(job.input().clone())
/// }
///
/// # async fn run() -> runpod::Result<()> {
/// Worker::builder(handler)
///     .with_concurrency(4)
///     .shutdown_on_signal()
///     .run()
///     .await
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Worker;

impl Worker {
    /// A worker running `handler`: an async function of [`Job<I>`](super::Job), or a
    /// [`streaming`](super::streaming) one.
    pub fn builder<H: Handler<M>, M>(handler: H) -> WorkerBuilder {
        WorkerBuilder {
            runner: handler.into_runner(),
            env: None,
            args: None,
            concurrency: 1,
            modifier: None,
            shutdown: Vec::new(),
            on_signal: false,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            post_retry: PostRetry::default(),
            cancel_grace: DEFAULT_CANCEL_GRACE,
            max_result_bytes: report::DEFAULT_MAX_RESULT_BYTES,
            take_timeout: DEFAULT_TAKE_TIMEOUT,
            startup: Startup::default(),
        }
    }
}

/// Configures and runs a [`Worker`].
#[must_use = "a worker does nothing until `.run().await`"]
pub struct WorkerBuilder {
    pub(crate) runner: Runner,
    env: Option<WorkerEnv>,
    args: Option<Args>,
    concurrency: usize,
    modifier: Option<Arc<dyn Fn(usize) -> usize + Send + Sync>>,
    shutdown: Vec<BoxFuture<'static, ()>>,
    on_signal: bool,
    shutdown_timeout: Duration,
    post_retry: PostRetry,
    cancel_grace: Duration,
    max_result_bytes: usize,
    take_timeout: Duration,
    /// Initializer and fitness checks (`startup.rs`).
    pub(crate) startup: Startup,
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("runner", &self.runner)
            .field("env", &self.env)
            .field("args", &self.args)
            .field("concurrency", &self.concurrency)
            .field("concurrency_modifier", &self.modifier.is_some())
            .field("shutdown_futures", &self.shutdown.len())
            .field("shutdown_on_signal", &self.on_signal)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("post_retry", &self.post_retry)
            .field("cancel_grace", &self.cancel_grace)
            .field("max_result_bytes", &self.max_result_bytes)
            .field("take_timeout", &self.take_timeout)
            .field("startup", &self.startup)
            .finish()
    }
}

impl WorkerBuilder {
    /// Uses this configuration instead of reading the process environment at `run()`.
    pub fn with_env(mut self, env: WorkerEnv) -> Self {
        self.env = Some(env);
        self
    }

    /// Honours these command-line flags (`--test_input`, `--rp_serve_api`, `--concurrency`, …).
    /// Without this call, `run()` ignores the command line; [`start`](super::start) passes it.
    pub fn with_args(mut self, args: Args) -> Self {
        self.args = Some(args);
        self
    }

    /// Runs up to `n` jobs at once (default 1; 0 counts as 1). Free slots are taken with one
    /// `job-take-batch` request for all of them.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Recomputes the concurrency before each take from its current value (the Python worker's
    /// `concurrency_modifier`); starts from [`with_concurrency`](Self::with_concurrency). While
    /// every slot is busy it is consulted again every second. Returning 0 pauses taking jobs.
    pub fn with_concurrency_modifier<F>(mut self, f: F) -> Self
    where
        F: Fn(usize) -> usize + Send + Sync + 'static,
    {
        self.modifier = Some(Arc::new(f));
        self
    }

    /// Shuts down gracefully on Ctrl-C (SIGINT) or SIGTERM.
    pub fn shutdown_on_signal(mut self) -> Self {
        self.on_signal = true;
        self
    }

    /// Shuts down gracefully when `fut` completes. May be called more than once; the first
    /// future to complete wins.
    pub fn graceful_shutdown_on<F>(mut self, fut: F) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.shutdown.push(fut.boxed());
        self
    }

    /// How long a graceful shutdown waits for in-flight jobs (default 30 s). Jobs still running
    /// then are cancelled and reported as failed ("worker shutting down").
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long a result (or stream chunk) post keeps retrying transient failures — 5xx, 408,
    /// 429, connection errors, timeouts — before it is given up and logged (default 10 min).
    pub fn with_result_deadline(mut self, deadline: Duration) -> Self {
        self.post_retry.result_deadline = deadline;
        self.post_retry.progress_deadline = self.post_retry.progress_deadline.min(deadline);
        self
    }

    /// How long a cancelled handler (job-stop, execution timeout) may take to return by itself
    /// before its future is dropped (default 5 s). Blocking code is never interrupted: it must
    /// watch the job's cancellation token.
    pub fn with_cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// Largest serialized result body (default 20 MiB, the documented limit). A larger result
    /// is replaced by an `OutputTooLarge` error, so it fails visibly instead of being lost.
    pub fn with_max_result_bytes(mut self, max: usize) -> Self {
        self.max_result_bytes = max;
        self
    }

    /// Per-request timeout of the job-take and job-stop long-polls (default 90 s).
    pub fn with_take_timeout(mut self, timeout: Duration) -> Self {
        self.take_timeout = timeout;
        self
    }

    /// Runs the worker until it shuts down.
    ///
    /// The mode follows the command line (if [`with_args`](Self::with_args) was given) and the
    /// environment: `--rp_serve_api` serves a local endpoint and works for it; `--test_input`, or
    /// no `RUNPOD_WEBHOOK_GET_JOB`, runs one local job (printing every body the worker would
    /// post, one JSON document per line on stdout); otherwise the worker takes jobs from the
    /// platform until a shutdown signal, a [`graceful_shutdown_on`](Self::graceful_shutdown_on)
    /// future, or a handler's [`refresh_worker`](super::JobContext::refresh_worker).
    ///
    /// # Errors
    ///
    /// - [`is_invalid_input`](Error::is_invalid_input): the configuration cannot work (no
    ///   `RUNPOD_WEBHOOK_POST_OUTPUT`, a streaming handler without `RUNPOD_WEBHOOK_POST_STREAM`,
    ///   no test input, an invalid test input, a bad `--rp_api_host`).
    /// - [`is_job_failed`](Error::is_job_failed): in local test mode, the job failed
    ///   ([`job_error`](Error::job_error) holds the error document); `is_job_cancelled` if it
    ///   was stopped.
    /// - A transport error if the HTTP client cannot be built, or the local server cannot bind.
    /// - [`is_unexpected_state`](Error::is_unexpected_state) with state `UNHEALTHY`: the
    ///   initializer or a fitness check failed or ran out of time (reported to the platform; no
    ///   job was taken).
    pub async fn run(mut self) -> Result<()> {
        let env = self.env.take().unwrap_or_else(WorkerEnv::from_env);
        let args = self.args.take().unwrap_or_default();
        for (flag, problem) in &args.invalid {
            tracing::warn!(flag = %flag, "ignoring --{flag}: {problem}");
        }
        if let Some(n) = args.concurrency {
            self.concurrency = n;
        }
        // Nothing is taken before start-up succeeds; only a platform worker reports a failure.
        let on_platform = !args.serve_api && args.test_input.is_none() && !env.is_local();
        std::mem::take(&mut self.startup)
            .run(&env, on_platform)
            .await?;
        if args.serve_api {
            if let Some(n) = args.api_concurrency {
                self.concurrency = n;
            }
            return super::local::serve_api(self, env, &args).await;
        }
        if args.test_input.is_some() || env.is_local() {
            return super::local::run_test_input(self, env, args.test_input).await;
        }
        self.run_platform(env).await
    }

    pub(crate) fn has_env(&self) -> bool {
        self.env.is_some()
    }

    pub(crate) fn reporter(env: &WorkerEnv) -> Reporter {
        Reporter {
            hostname: env
                .hostname()
                .map_or_else(super::env::system_hostname, str::to_owned),
            worker_id: env.worker_id().to_owned(),
        }
    }

    pub(crate) fn shared(&self, sink: Arc<dyn Sink>, env: &WorkerEnv) -> Arc<Shared> {
        Shared::new(
            self.runner.clone(),
            sink,
            Self::reporter(env),
            self.cancel_grace,
            self.max_result_bytes,
        )
    }

    /// The production loop against the platform (or a local server) described by `env`.
    pub(crate) async fn run_platform(mut self, env: WorkerEnv) -> Result<()> {
        // The worker id goes into every URL as a path segment.
        if runpod_transport::path::segment(env.worker_id()).is_err() {
            return Err(Error::invalid_input(format!(
                "the worker id (RUNPOD_POD_ID) `{}` cannot be a URL path segment",
                env.worker_id()
            )));
        }
        let urls = env.urls();
        if urls.done("x", false).is_none() {
            return Err(Error::invalid_input(
                "RUNPOD_WEBHOOK_POST_OUTPUT is not set: the worker would have nowhere to send results",
            ));
        }
        if self.runner.0.is_stream() && urls.stream("x").is_none() {
            return Err(Error::invalid_input(
                "RUNPOD_WEBHOOK_POST_STREAM is not set, but the handler streams its output",
            ));
        }
        let mut shutdown = self.shutdown_future()?;
        let config = env
            .client_config()?
            .with_retry_policy(RetryPolicy::none())
            .with_attempt_timeout(None)
            .with_user_agent_suffix("worker")
            .build()?;
        let client = HttpClient::new(config.clone())?;
        let sink = Arc::new(HttpSink {
            client: client.clone(),
            urls: urls.clone(),
            retry: self.post_retry.clone(),
        });
        let shared = self.shared(sink, &env);
        tracing::info!(
            worker_id = env.worker_id(),
            concurrency = self.concurrency,
            version = report::RUNPOD_VERSION,
            "worker started"
        );

        let heartbeat = if urls.ping(&[], "").is_some() {
            match Heartbeat::start(
                config,
                urls.clone(),
                env.ping_interval(),
                shared.jobs.clone(),
            ) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::error!(error = %e, "could not start the heartbeat thread; the platform may consider this worker dead");
                    None
                }
            }
        } else {
            tracing::warn!("RUNPOD_WEBHOOK_PING is not set: no heartbeat");
            None
        };

        let stop_done = CancellationToken::new();
        let stop_task = match urls.stop() {
            Some(url) => {
                let stop = StopLoop {
                    client: client.clone(),
                    url,
                    attempt_timeout: self.take_timeout,
                };
                Some(tokio::spawn(stop.run(shared.clone(), stop_done.clone())))
            }
            None => {
                tracing::warn!(
                    "RUNPOD_WEBHOOK_GET_JOB has no /job-take/ segment: per-job stop is disabled"
                );
                None
            }
        };
        let take = TakeLoop {
            client,
            urls,
            concurrency: Concurrency {
                current: self.concurrency,
                modifier: self.modifier.take(),
            },
            attempt_timeout: self.take_timeout,
        };
        let take_task = tokio::spawn(take.run(shared.clone()));

        let mut shutting_down = false;
        tokio::select! {
            () = &mut shutdown => {
                shutting_down = true;
                tracing::info!("shutdown requested: taking no more jobs");
            }
            () = shared.stop_taking.cancelled() => {}
        }
        shared.stop_taking.cancel();
        let _ = take_task.await;

        // Drain: in-flight jobs finish and report. After a shutdown request they get
        // `shutdown_timeout`; after a refresh request they get all the time they need, unless
        // a shutdown request arrives meanwhile.
        let mut deadline = shutting_down.then(|| Instant::now() + self.shutdown_timeout);
        let mut held = shared.held.subscribe();
        if shared.held() > 0 {
            tracing::info!(jobs = shared.held(), "waiting for in-flight jobs");
        }
        loop {
            let until_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = held.wait_for(|n| *n == 0) => break,
                () = &mut shutdown, if !shutting_down => {
                    shutting_down = true;
                    deadline = Some(Instant::now() + self.shutdown_timeout);
                    tracing::info!("shutdown requested while draining");
                }
                () = until_deadline => {
                    let n = shared.cancel_all(StopReason::Shutdown);
                    tracing::warn!(jobs = n, "shutdown deadline passed: failing the jobs still running");
                    deadline = None;
                }
            }
        }
        stop_done.cancel();
        if let Some(t) = stop_task {
            let _ = t.await;
        }
        if let Some(h) = heartbeat {
            h.stop().await;
        }
        tracing::info!(refresh = shared.refresh_requested(), "worker stopped");
        Ok(())
    }

    /// One future that completes on the first shutdown trigger (or never, if there is none).
    fn shutdown_future(&mut self) -> Result<BoxFuture<'static, ()>> {
        let mut futs = std::mem::take(&mut self.shutdown);
        if self.on_signal {
            futs.push(signal_future()?);
        }
        Ok(if futs.is_empty() {
            std::future::pending().boxed()
        } else {
            futures_util::future::select_all(futs).map(|_| ()).boxed()
        })
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed now, not at the first poll, so a
/// signal that arrives early is not missed (and does not kill the process).
fn signal_future() -> Result<BoxFuture<'static, ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind| {
            signal(kind)
                .map_err(|e| Error::invalid_input(format!("cannot install a signal handler: {e}")))
        };
        let mut term = install(SignalKind::terminate())?;
        let mut int = install(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        .boxed())
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C received");
            } else {
                std::future::pending::<()>().await;
            }
        }
        .boxed())
    }
}
