//! `runpod local serve`: the `runpod-local` server, with the same output as its binary.

use runpod_local::{Limits, Server};

use crate::cli::LocalCommand;
use crate::commands::interrupted;
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// The server's own key variable, as the `runpod-local` binary reads it.
const LOCAL_KEY_ENV: &str = "RUNPOD_LOCAL_API_KEY";

pub(crate) async fn run(ctx: &Context, command: LocalCommand) -> CliResult {
    let LocalCommand::Serve {
        host,
        port,
        endpoint_id,
        worker_id,
        echo,
        insecure_no_auth,
        webhook_hosts,
        max_queued_jobs,
        max_connections,
        lb,
        lb_spawn,
    } = command;
    let key = ctx
        .api_key_flag()
        .map(str::to_owned)
        .or_else(|| std::env::var(LOCAL_KEY_ENV).ok().filter(|k| !k.is_empty()));
    let mut limits = Limits::default();
    if let Some(jobs) = max_queued_jobs {
        limits = limits.queued_jobs_per_endpoint(jobs);
    }
    if let Some(connections) = max_connections {
        limits = limits.connections(connections);
    }
    let mut builder = Server::builder()
        .insecure_no_auth(insecure_no_auth)
        .allow_webhook_hosts(webhook_hosts)
        .limits(limits)
        .shutdown_on(interrupted());
    if let Some(key) = key {
        builder = builder.api_key(key);
    }
    if echo {
        builder = builder.echo();
    }
    for worker in lb {
        builder = builder.lb_worker(worker);
    }
    for spawn in lb_spawn {
        builder = builder.lb_spawn(spawn);
    }
    let server = builder
        .bind((host.as_str(), port))
        .await
        .map_err(|e| CliError::failure(format!("cannot listen on {host}:{port}: {e}")))?;
    // Made before the announcement, so that no change after the counts it shows is missed.
    let mut watch = server.lb_watch();
    let text = server.announcement(&endpoint_id, &worker_id);
    ctx.out.raw(&text)?;
    // The load-balancing workers' counts, whenever they change.
    let mut stopped = std::pin::pin!(server.stopped());
    loop {
        tokio::select! {
            () = &mut stopped => return Ok(()),
            changed = watch.changed() => {
                let Some(changed) = changed else { break };
                for (endpoint_id, counts) in changed {
                    ctx.out
                        .line(&format!("# load-balancing endpoint {endpoint_id}: {counts}"))?;
                }
            }
        }
    }
    stopped.await;
    Ok(())
}
