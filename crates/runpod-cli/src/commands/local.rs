//! `runpod local serve`: the `runpod-local` server, with the same output as its binary.

use runpod_local::Server;

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
        server,
    } = command;
    let key = ctx
        .api_key_flag()
        .map(str::to_owned)
        .or_else(|| std::env::var(LOCAL_KEY_ENV).ok().filter(|k| !k.is_empty()));
    let mut builder = server
        .apply(Server::builder())
        .map_err(CliError::usage)?
        .shutdown_on(interrupted());
    if let Some(key) = key {
        builder = builder.api_key(key);
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
