//! The serverless worker runtime: write the handler that runs inside a Runpod serverless
//! container.
//!
//! ```no_run
//! # use runpod_serverless::__runpod as runpod;
//! use runpod::worker::{self, Job};
//!
//! #[derive(serde::Deserialize)]
//! struct Input { prompt: String }
//!
//! async fn handler(job: Job<Input>) -> Result<String, String> {
//!     job.progress("thinking").await;
//!     Ok(job.input().prompt.to_uppercase())
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     worker::start(handler)
//! }
//! ```
//!
//! [`start`] is the one-liner (the Python `runpod.serverless.start`): it parses the command line
//! ([`Args`]), reads the environment ([`WorkerEnv`]), sets up logging, builds a multi-threaded
//! runtime and runs until SIGTERM/Ctrl-C. [`Worker::builder`] gives the same with every knob:
//!
//! ```no_run
//! # use runpod_serverless::__runpod as runpod;
//! # use runpod::worker::{Job, Worker, WorkerEnv};
//! # async fn handler(job: Job) -> Result<serde_json::Value, String> { Ok(job.input().clone()) }
//! # async fn f(stop: tokio::sync::oneshot::Receiver<()>) -> runpod::Result<()> {
//! Worker::builder(handler)
//!     .with_env(WorkerEnv::from_env())
//!     .with_concurrency(4)
//!     .shutdown_on_signal()
//!     .graceful_shutdown_on(async { let _ = stop.await; })
//!     .run()
//!     .await
//! # }
//! ```
//!
//! # Handlers
//!
//! - `async fn(Job<I>) -> Result<O, E>` with `I: DeserializeOwned` (a job whose input does not
//!   decode fails with an `InvalidInput` error; the worker goes on), `O: Serialize`,
//!   `E: Display`.
//! - [`streaming`]`(f)` for `f: Fn(Job<I>) -> impl Stream<Item = Result<O, E>>`: each item goes to
//!   job-stream as it comes.
//!
//! Inside, [`Job`] gives the id, the typed input, the raw job ([`WorkerJob`]: `webhook`,
//! `policy`, `s3Config`, `batchId`, other fields), ordered [progress updates](Job::progress), a
//! [cancellation token](Job::cancellation_token) fired by job-stop, the job's
//! `policy.executionTimeout`, or the shutdown deadline, and [`refresh_worker`](Job::refresh_worker).
//!
//! Each job runs in its own task: a panic fails that job (`error_type: "Panic"`, with the
//! message), not the worker.
//!
//! # CPU-heavy and blocking handlers
//!
//! Run blocking work with [`tokio::task::spawn_blocking`], passing the cancellation token in:
//!
//! ```no_run
//! # use runpod_serverless::__runpod as runpod;
//! # use runpod::worker::Job;
//! async fn handler(job: Job<u64>) -> Result<u64, String> {
//!     let (n, ctx) = job.into_parts();
//!     let token = ctx.cancellation_token();
//!     tokio::task::spawn_blocking(move || {
//!         let mut acc = 0u64;
//!         for i in 0..n {
//!             if i % 1_000_000 == 0 && token.is_cancelled() {
//!                 return Err("cancelled".to_owned());
//!             }
//!             acc = acc.wrapping_add(i * i);
//!         }
//!         Ok(acc)
//!     })
//!     .await
//!     .map_err(|e| e.to_string())?
//! }
//! ```
//!
//! Even a handler that blocks its thread outright does not silence the worker: the heartbeat
//! runs on its own OS thread with its own runtime, and [`start`] uses a multi-threaded runtime
//! (at least two threads) so job-take and job-stop keep running on the others. Blocking that
//! way still costs a runtime thread per job, so prefer `spawn_blocking`.
//!
//! # Start-up: initializer and fitness checks
//!
//! [`WorkerBuilder::with_initializer`] runs an async initializer once (load the model) and puts
//! its value in a [`Shared`] cell the handlers read; [`WorkerBuilder::with_fitness_check`] adds
//! checks ("GPU visible", "disk space"). All run before the first job is taken, within
//! `RUNPOD_INIT_TIMEOUT` seconds (default [`DEFAULT_INIT_TIMEOUT`], 7 minutes). If one fails,
//! panics or runs out of time, the worker reports
//! `RUNPOD_WEBHOOK_PING?…&status=unhealthy&check=<name>&reason=<≤256 chars>` as the Python
//! worker 1.11+ does, and stops with an error (a non-zero exit from [`start`]) having taken no
//! job, so no job is stranded on a worker that cannot run it.
//!
//! # What goes on the wire
//!
//! Same endpoints and bodies as the Python worker 1.12 (`RUNPOD_WEBHOOK_*`, see [`WorkerEnv`]),
//! without its failure modes:
//!
//! - **Results are not lost.** job-done and job-stream posts retry 5xx, 408, 429 (honouring
//!   `Retry-After`) and connection errors with jittered exponential backoff for up to
//!   [`with_result_deadline`](WorkerBuilder::with_result_deadline) (10 min). A 4xx answer is
//!   final (the job is unknown or expired, or the request is wrong; repeating it cannot help) and
//!   is logged as an error. A result over 20 MiB becomes an `OutputTooLarge` error.
//! - **Errors keep the Python format**: `{"error": "<JSON string of {error_type, error_message,
//!   error_traceback, hostname, worker_id, runpod_version}>"}`, so the console shows them.
//! - **One poller takes exactly the free slots**: `job-take` for one,
//!   `job-take-batch?…&batch_size=N` for more, `job_in_progress` reporting whether any job is
//!   held. Errors back off exponentially with jitter; 429 waits `Retry-After` (or 5 s).
//! - **job-stop** cancels the named jobs. A stopped job posts **no result**, as the Python worker:
//!   the platform already settled it.
//! - **Heartbeat** every `RUNPOD_PING_INTERVAL` ms, first at start, listing the held jobs.
//! - `X-Request-ID: <job id>` only on that job's posts; `Content-Type: application/json`; the
//!   worker key from `RUNPOD_AI_API_KEY` raw in `Authorization` (never `~/.runpod/config.toml`).
//! - **Graceful shutdown** stops taking jobs at once (the open long-poll is dropped), lets
//!   in-flight jobs finish for [`with_shutdown_timeout`](WorkerBuilder::with_shutdown_timeout)
//!   (30 s), posts their results, then fails and reports the rest ("worker shutting down").
//!
//! Every job runs in a `job` tracing span (`id`, `batch_id`) that logs its duration and outcome.
//!
//! # Local development
//!
//! Without `RUNPOD_WEBHOOK_GET_JOB`, or with `--test_input '{"input": …}'`, the worker runs one
//! job (from the flag or `./test_input.json`), prints each body it would post on stdout (one
//! JSON document per line, the result last) and exits non-zero if the job failed.
//! `--rp_serve_api` serves a local endpoint (`runpod-local`, endpoint id `local`) and works for
//! it, so any client can call `http://localhost:8000/v2/local/runsync`. See [`Args`].

mod args;
mod backoff;
mod env;
mod handler;
mod heartbeat;
mod job;
mod job_error;
pub mod lb;
mod local;
pub mod openai;
mod random;
mod report;
mod runtime;
mod sink;
mod startup;
mod stop;
mod supervise;
mod take;
mod urls;

use std::process::ExitCode;
use std::time::Duration;

pub use args::{Args, DEFAULT_API_PORT};
pub use env::{DEFAULT_PING_INTERVAL, WorkerEnv};
#[doc(hidden)]
pub use handler::{AsyncFn, NeedsStreaming, Runner, StreamFn, UnwrappedStream};
pub use handler::{Handler, Streaming, streaming};
pub use job::{Job, JobContext};
pub use job_error::JobError;
pub use report::DEFAULT_MAX_RESULT_BYTES;
pub use runpod_types::serverless::WorkerJob;
pub use runtime::{
    DEFAULT_CANCEL_GRACE, DEFAULT_RESULT_DEADLINE, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_TAKE_TIMEOUT,
    Worker, WorkerBuilder,
};
pub use startup::{DEFAULT_INIT_TIMEOUT, Shared};
pub use tokio_util::sync::CancellationToken;

/// Runs `handler` as this process's worker and returns its exit code — the whole `main` of a
/// worker binary, like Python's `runpod.serverless.start`.
///
/// Parses the command line ([`Args`]: `--test_input`, `--rp_serve_api`, `--rp_log_level`,
/// `--concurrency`, …; unknown flags are ignored), reads [`WorkerEnv::from_env`], logs to
/// stderr at `--rp_log_level` / `RUNPOD_LOG_LEVEL` (default INFO; `RUST_LOG` wins when set) unless
/// a tracing subscriber is already installed, and runs on a multi-threaded runtime until
/// SIGTERM/Ctrl-C.
///
/// Exit code: success when the worker stopped normally or the local test job succeeded;
/// failure when the local test job failed or the configuration cannot work.
pub fn start<H: Handler<M>, M>(handler: H) -> ExitCode {
    start_with(Worker::builder(handler))
}

/// [`start`] for a configured builder (concurrency, timeouts, …); it adds the command line,
/// the environment (unless set) and signal handling.
pub fn start_with(builder: WorkerBuilder) -> ExitCode {
    let args = Args::parse();
    let env = WorkerEnv::from_env();
    init_logging(
        args.log_level.as_deref().or(env.log_level()),
        env.endpoint_id().is_some(),
    );
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "could not start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    let builder = builder.with_args(args);
    let builder = if builder.has_env() {
        builder
    } else {
        builder.with_env(env)
    };
    let result = runtime.block_on(builder.shutdown_on_signal().run());
    // A handler stuck in blocking code must not keep the process alive after the worker is done.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %runpod_transport::Report(&e), "worker failed");
            ExitCode::FAILURE
        }
    }
}

/// Installs a stderr `tracing` subscriber at the Python worker's level names
/// (`NOTSET TRACE DEBUG INFO WARN WARNING ERROR`, case-insensitive); no-op if one is installed.
fn init_logging(level: Option<&str>, on_platform: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::new(v),
        _ => EnvFilter::new(level.map_or("info", level_directive)),
    };
    let ansi = use_colours(
        on_platform,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Colours only for a person at a terminal: the platform's log viewer, files and pipes (`docker
/// logs`, `2> worker.log`) show raw text, where colour codes are noise; `NO_COLOR` turns them off
/// everywhere (<https://no-color.org>).
fn use_colours(on_platform: bool, stderr_is_terminal: bool, no_color: bool) -> bool {
    !on_platform && stderr_is_terminal && !no_color
}

fn level_directive(level: &str) -> &'static str {
    match level.trim().to_ascii_uppercase().as_str() {
        "NOTSET" | "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" | "WARNING" => "warn",
        "ERROR" | "CRITICAL" => "error",
        _ => "info",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn colours_only_for_a_terminal_off_the_platform() {
        assert!(super::use_colours(false, true, false));
        assert!(!super::use_colours(false, false, false), "a pipe or a file");
        assert!(!super::use_colours(true, true, false), "the platform");
        assert!(!super::use_colours(false, true, true), "NO_COLOR");
    }

    #[test]
    fn python_level_names_map_to_tracing() {
        for (py, ours) in [
            ("NOTSET", "trace"),
            ("debug", "debug"),
            ("WARNING", "warn"),
            ("ERROR", "error"),
            ("INFO", "info"),
            ("bogus", "info"),
        ] {
            assert_eq!(super::level_directive(py), ours, "{py}");
        }
    }
}
