//! Serverless jobs: `run`, `job …`, `endpoint health|purge-queue`.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::StreamExt as _;
use runpod::serverless::{JobHandle, JobState, StreamChunk};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cli::{EndpointCommand, JobCommand, JobRef, RunArgs};
use crate::commands::{interrupted, interrupted_job};
use crate::context::Context;
use crate::error::{CliError, CliResult, Doing, ExitClass};
use crate::input;
use crate::output::Output;
use crate::spinner::Spinner;

/// How often the spinner asks for the job's status (display only; waiting polls on its own).
const SPINNER_STATUS_EVERY: Duration = Duration::from_secs(1);

/// The job options both `/run` and `/runsync` builders take.
macro_rules! with_job_options {
    ($request:expr, $args:expr) => {{
        let mut request = $request;
        if let Some(url) = &$args.webhook {
            request = request.webhook(url);
        }
        if let Some(ttl) = $args.ttl {
            request = request.ttl(ttl);
        }
        if let Some(timeout) = $args.execution_timeout {
            request = request.execution_timeout(timeout);
        }
        if $args.low_priority {
            request = request.low_priority(true);
        }
        request
    }};
}

pub(crate) async fn run(ctx: &Context, args: RunArgs) -> CliResult {
    let input = input::job_input(&args.input)?;
    let client = ctx.serverless()?;
    let base = client.http().config().serverless_base_url().to_owned();
    let endpoint = client.endpoint(&args.endpoint);
    let doing = Doing::new(format!("run on endpoint {}", args.endpoint), &base)
        .on_endpoint(&args.endpoint)
        .waiting_up_to(args.timeout);

    if args.mode.sync {
        let mut request = with_job_options!(endpoint.run_sync(input), args);
        if let Some(timeout) = args.timeout {
            request = request.timeout(timeout);
        }
        let spinner = Spinner::start(format!("runsync on {}", args.endpoint));
        let result = tokio::select! {
            result = request.send() => result,
            () = interrupted() => {
                spinner.stop().await;
                return Err(CliError::new(
                    ExitClass::Interrupted,
                    format!("interrupted; the job may still run on endpoint {}", args.endpoint),
                ));
            }
        };
        spinner.stop().await;
        return print_finished(&ctx.out, &result.map_err(doing.err())?);
    }

    let job = with_job_options!(endpoint.run(input), args)
        .send()
        .await
        .map_err(doing.err())?;
    if args.mode.no_wait {
        return if ctx.out.is_json() {
            ctx.out
                .json(&json!({"id": job.id(), "endpoint": args.endpoint}))
        } else {
            ctx.out.line(job.id())
        };
    }
    if args.mode.stream {
        return stream(ctx, &job, args.timeout, &base).await;
    }
    wait(ctx, &job, args.timeout, &base).await
}

pub(crate) async fn job(ctx: &Context, command: JobCommand) -> CliResult {
    let client = ctx.serverless()?;
    let base = client.http().config().serverless_base_url().to_owned();
    let handle = |r: &JobRef| client.endpoint(&r.endpoint).job(&r.job);
    let doing = |verb: &str, r: &JobRef| {
        Doing::new(
            format!("{verb} job {} on endpoint {}", r.job, r.endpoint),
            &base,
        )
        .on_endpoint(&r.endpoint)
    };
    match command {
        JobCommand::Status(r) => {
            let state = handle(&r)
                .status()
                .await
                .map_err(doing("status of", &r).err())?;
            print_state(&ctx.out, &state)
        }
        JobCommand::Wait { job, timeout } => wait(ctx, &handle(&job), timeout, &base).await,
        JobCommand::Stream { job, timeout } => stream(ctx, &handle(&job), timeout, &base).await,
        JobCommand::Cancel(r) => {
            let state = handle(&r)
                .cancel()
                .await
                .map_err(doing("cancel", &r).err())?;
            print_state(&ctx.out, &state)
        }
        JobCommand::Retry(r) => {
            let state = handle(&r).retry().await.map_err(doing("retry", &r).err())?;
            print_state(&ctx.out, &state)
        }
    }
}

pub(crate) async fn endpoint(ctx: &Context, command: EndpointCommand) -> CliResult {
    let client = ctx.serverless()?;
    let base = client.http().config().serverless_base_url().to_owned();
    match command {
        EndpointCommand::Health { endpoint } => {
            let doing = Doing::new(format!("health of endpoint {endpoint}"), &base);
            let health = client
                .endpoint(&endpoint)
                .health()
                .await
                .map_err(doing.err())?;
            ctx.out.object(&health)
        }
        EndpointCommand::PurgeQueue { endpoint } => {
            let doing = Doing::new(format!("purge the queue of endpoint {endpoint}"), &base);
            let purged = client
                .endpoint(&endpoint)
                .purge_queue()
                .await
                .map_err(doing.err())?;
            if ctx.out.is_json() {
                return ctx.out.json(&purged);
            }
            let removed = purged.removed.unwrap_or(0);
            let jobs = if removed == 1 { "job" } else { "jobs" };
            ctx.out.line(&format!(
                "removed {removed} queued {jobs} from endpoint {endpoint}"
            ))
        }
    }
}

/// Waits for a job with a spinner (on a terminal) and prints its output.
async fn wait(ctx: &Context, job: &JobHandle, timeout: Option<Duration>, base: &str) -> CliResult {
    let endpoint = job.endpoint_id();
    let doing = Doing::new(
        format!("wait for job {} on endpoint {endpoint}", job.id()),
        base,
    )
    .on_endpoint(endpoint)
    .waiting_up_to(timeout);
    let spinner = Spinner::start(format!("job {}", job.id()));
    let waiting = async {
        match timeout {
            Some(timeout) => job.wait_with_timeout(timeout).await,
            None => job.wait().await,
        }
    };
    let result = tokio::select! {
        result = waiting => result,
        never = show_status(job, &spinner) => match never {},
        () = interrupted() => {
            spinner.stop().await;
            return Err(interrupted_job(endpoint, job.id()));
        }
    };
    spinner.stop().await;
    print_finished(&ctx.out, &result.map_err(doing.err())?)
}

/// Keeps the spinner's status current; never returns.
async fn show_status(job: &JobHandle, spinner: &Spinner) -> Infallible {
    if !spinner.is_shown() {
        return std::future::pending().await;
    }
    loop {
        if let Ok(state) = job.status().await
            && let Some(status) = &state.status
        {
            spinner.set_status(status.as_str());
        }
        tokio::time::sleep(SPINNER_STATUS_EVERY).await;
    }
}

/// Prints streamed chunks as they come. A job that streamed nothing prints its final output,
/// so that `--stream` on a handler that returns in one piece still shows the result.
async fn stream(
    ctx: &Context,
    job: &JobHandle,
    timeout: Option<Duration>,
    base: &str,
) -> CliResult {
    let endpoint = job.endpoint_id();
    let doing = Doing::new(
        format!("stream job {} on endpoint {endpoint}", job.id()),
        base,
    )
    .on_endpoint(endpoint)
    .waiting_up_to(timeout);
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut spinner = Some(Spinner::start(format!("job {}", job.id())));
    let mut chunks = job.chunks();
    let mut printer = ChunkPrinter::default();
    loop {
        let next = tokio::select! {
            next = chunks.next() => next,
            () = until(deadline) => {
                if let Some(spinner) = spinner.take() {
                    spinner.stop().await;
                }
                printer.finish(&ctx.out)?;
                return Err(doing.fail(runpod::Error::wait_timeout(job.id())));
            }
            () = interrupted() => {
                if let Some(spinner) = spinner.take() {
                    spinner.stop().await;
                }
                printer.finish(&ctx.out)?;
                return Err(interrupted_job(endpoint, job.id()));
            }
        };
        if let Some(spinner) = spinner.take() {
            spinner.stop().await;
        }
        match next {
            Some(Ok(chunk)) => printer.chunk(&ctx.out, &chunk)?,
            Some(Err(err)) => {
                printer.finish(&ctx.out)?;
                return Err(doing.fail(err));
            }
            None => break,
        }
    }
    printer.finish(&ctx.out)?;
    if printer.chunks == 0 {
        let state = job.status().await.map_err(doing.err())?;
        return print_finished(&ctx.out, &state);
    }
    Ok(())
}

/// Resolves at `deadline`, or never.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Text mode writes string chunks as they are (token streams read naturally) and other values
/// as one JSON line each; JSON mode writes each chunk as a JSON line.
#[derive(Debug, Default)]
struct ChunkPrinter {
    chunks: usize,
    /// The text written last did not end a line.
    open_line: bool,
}

impl ChunkPrinter {
    fn chunk(&mut self, out: &Output, chunk: &StreamChunk) -> CliResult {
        self.chunks += 1;
        if out.is_json() {
            return out.json_line(chunk);
        }
        match &chunk.output {
            Some(Value::String(text)) => {
                out.raw(text)?;
                if !text.is_empty() {
                    self.open_line = !text.ends_with('\n');
                }
                Ok(())
            }
            // A chunk without output, or with `"output": null`, prints nothing.
            None | Some(Value::Null) => Ok(()),
            Some(other) => {
                self.finish(out)?;
                out.line(&other.to_string())
            }
        }
    }

    fn finish(&mut self, out: &Output) -> CliResult {
        if std::mem::take(&mut self.open_line) {
            out.raw("\n")?;
        }
        Ok(())
    }
}

/// A finished job: its output (text), or the whole job (JSON).
fn print_finished(out: &Output, state: &JobState) -> CliResult {
    if out.is_json() {
        return out.json(state);
    }
    out.output_value(state.output.as_ref().unwrap_or(&Value::Null))
}

/// A job as it is now.
fn print_state(out: &Output, state: &JobState) -> CliResult {
    out.object(state)
}
