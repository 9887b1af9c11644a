//! Batch Jobs (beta): `runpod batch create|status|list|cancel|results`.

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use futures_util::StreamExt as _;
use runpod::serverless::{Batch, BatchHandle, MAX_BATCH_REQUESTS};
use serde_json::{Value, json};

use crate::cli::duration;
use crate::commands::interrupted;
use crate::context::Context;
use crate::error::{CliError, CliResult, Doing, ExitClass};
use crate::spinner::Spinner;

#[derive(Debug, Subcommand)]
pub(crate) enum BatchCommand {
    /// Create a batch from a JSON-lines file (one job input per line) and finalize it.
    #[command(
        long_about = "Create a batch from a JSON-lines file and finalize it.\n\n\
Each non-empty line of --inputs is one job input (sent as {\"input\": <line>}); `-` reads stdin. \
The inputs are sent in pieces of at most 10 MiB. A batch holds at most 5 000 inputs. Prints the \
batch id. With --draft the batch stays open (append more, then finalize it with the API)."
    )]
    Create {
        /// Endpoint id.
        endpoint: String,
        /// JSON-lines file of inputs, or `-` for stdin.
        #[arg(long, value_name = "FILE")]
        inputs: PathBuf,
        /// Leave the batch a DRAFT instead of finalizing it.
        #[arg(long)]
        draft: bool,
        /// A name for the batch.
        #[arg(long)]
        name: Option<String>,
    },
    /// Print a batch's summary and counts.
    Status(BatchRef),
    /// List the endpoint's batches, newest first.
    List {
        /// Endpoint id.
        endpoint: String,
    },
    /// Cancel a batch: its queued requests do not run.
    Cancel(BatchRef),
    /// Wait for a batch, then print one JSON line per request: index, id, status, output or error.
    Results {
        #[command(flatten)]
        batch: BatchRef,
        /// Print the results as they are now, without waiting.
        #[arg(long)]
        no_wait: bool,
        /// Stop waiting after this long (the batch keeps running; exit code 11).
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        timeout: Option<Duration>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct BatchRef {
    /// Endpoint id.
    pub(crate) endpoint: String,
    /// Batch id.
    pub(crate) batch: String,
}

pub(crate) async fn run(ctx: &Context, command: BatchCommand) -> CliResult {
    let client = ctx.serverless()?;
    let base = client.http().config().serverless_base_url().to_owned();
    let doing = |what: String, endpoint: &str| Doing::new(what, &base).on_endpoint(endpoint);
    match command {
        BatchCommand::Create {
            endpoint,
            inputs,
            draft,
            name,
        } => {
            let values = read_inputs(&inputs)?;
            let count = values.len();
            let batches = client.endpoint(&endpoint).batch();
            let d = doing(format!("create a batch on endpoint {endpoint}"), &endpoint);
            let handle = batches.create_with(values).await.map_err(d.err())?;
            if let Some(name) = &name {
                handle.rename(name).await.map_err(d.err())?;
            }
            let summary = if draft {
                handle.summary().await.map_err(d.err())?
            } else {
                handle.finalize().await.map_err(d.err())?
            };
            if ctx.out.is_json() {
                return ctx.out.json(&summary);
            }
            // The id alone on stdout, so that scripts can capture it.
            tracing::info!(batch = handle.id(), count, draft, "batch created");
            ctx.out.line(handle.id())
        }
        BatchCommand::Status(r) => {
            let d = doing(format!("status of batch {}", r.batch), &r.endpoint);
            let summary = handle(&client, &r).summary().await.map_err(d.err())?;
            ctx.out.object(&summary)
        }
        BatchCommand::List { endpoint } => {
            let d = doing(
                format!("list the batches of endpoint {endpoint}"),
                &endpoint,
            );
            let list = client
                .endpoint(&endpoint)
                .batch()
                .list()
                .await
                .map_err(d.err())?;
            if ctx.out.is_json() {
                return ctx.out.json(&list);
            }
            for batch in &list {
                ctx.out.line(&format!(
                    "{}  {}  {}{}",
                    batch.id,
                    batch.status.as_ref().map_or("?", |s| s.as_str()),
                    counts(batch),
                    batch
                        .name
                        .as_ref()
                        .map(|n| format!("  {n}"))
                        .unwrap_or_default()
                ))?;
            }
            Ok(())
        }
        BatchCommand::Cancel(r) => {
            let d = doing(format!("cancel batch {}", r.batch), &r.endpoint);
            let summary = handle(&client, &r).cancel().await.map_err(d.err())?;
            ctx.out.object(&summary)
        }
        BatchCommand::Results {
            batch,
            no_wait,
            timeout,
        } => {
            let h = handle(&client, &batch);
            let d = doing(format!("results of batch {}", batch.batch), &batch.endpoint)
                .waiting_up_to(timeout);
            if !no_wait {
                wait(&h, timeout, &batch).await.map_err(|e| match e {
                    Waited::Sdk(err) => d.fail(err),
                    Waited::Cli(err) => err,
                })?;
            }
            let mut requests = std::pin::pin!(h.requests());
            while let Some(item) = requests.next().await {
                let (index, request) = item.map_err(d.err())?;
                let mut line = json!({
                    "index": index,
                    "id": request.id,
                    "status": request.status.as_ref().map(|s| s.as_str()),
                });
                if let Some(output) = request.output {
                    line["output"] = output;
                }
                if let Some(error) = request.error {
                    line["error"] = error;
                }
                ctx.out.json_line(&line)?;
            }
            Ok(())
        }
    }
}

fn handle(client: &runpod::ServerlessClient, r: &BatchRef) -> BatchHandle {
    client.endpoint(&r.endpoint).batch().get(&r.batch)
}

fn counts(batch: &Batch) -> String {
    let total = batch.request_total.unwrap_or(0);
    let completed = batch.request_completed.unwrap_or(0);
    let failed = batch.request_failed.unwrap_or(0);
    format!("{}/{total} done, {failed} failed", completed + failed)
}

enum Waited {
    Sdk(runpod::Error),
    Cli(CliError),
}

/// Follows the batch's progress with a progress line on stderr until it is done.
async fn wait(h: &BatchHandle, timeout: Option<Duration>, r: &BatchRef) -> Result<(), Waited> {
    let spinner = Spinner::start(format!("batch {}", r.batch));
    let follow = async {
        let mut progress = std::pin::pin!(h.progress());
        while let Some(summary) = progress.next().await {
            spinner.set_status(&counts(&summary.map_err(Waited::Sdk)?));
        }
        Ok(())
    };
    let timed = async {
        match timeout {
            Some(t) => tokio::time::timeout(t, follow)
                .await
                .unwrap_or_else(|_| Err(Waited::Sdk(runpod::Error::wait_timeout(h.id())))),
            None => follow.await,
        }
    };
    let result = tokio::select! {
        result = timed => result,
        () = interrupted() => Err(Waited::Cli(CliError::new(
            ExitClass::Interrupted,
            format!(
                "interrupted; batch {} keeps running: `runpod batch results {} {}`",
                r.batch, r.endpoint, r.batch
            ),
        ))),
    };
    spinner.stop().await;
    result
}

/// Every non-empty line of `path` (or stdin for `-`) as JSON; refuses more than one batch holds.
fn read_inputs(path: &Path) -> CliResult<Vec<Value>> {
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| {
            CliError::usage(format!("cannot read --inputs {}: {e}", path.display()))
        })?)
    };
    let mut values = Vec::new();
    for (n, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(|e| {
            CliError::usage(format!("cannot read --inputs {}: {e}", path.display()))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| {
            CliError::usage(format!(
                "{} line {} is not valid JSON: {e}",
                path.display(),
                n + 1
            ))
        })?;
        values.push(value);
        if values.len() > MAX_BATCH_REQUESTS {
            return Err(CliError::usage(format!(
                "{} holds more than {MAX_BATCH_REQUESTS} inputs, the most one batch takes; split \
                 it into several files",
                path.display()
            )));
        }
    }
    if values.is_empty() {
        return Err(CliError::usage(format!(
            "{} holds no inputs (one JSON value per line)",
            path.display()
        )));
    }
    Ok(values)
}
