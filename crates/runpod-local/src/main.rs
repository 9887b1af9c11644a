//! `runpod-local`: run a local Runpod serverless endpoint.
//!
//! Prints `listening on http://HOST:PORT`, then `export` lines for a worker serving endpoint
//! `local` and for clients, so that `eval "$(runpod-local | tail -n +2)"`-style setups work.
//! Stops cleanly on Ctrl-C or SIGTERM.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use runpod_local::{RunningServer, ServeArgs, Server};
use tracing_subscriber::EnvFilter;

/// A local Runpod serverless endpoint (client queue API + worker protocol).
#[derive(Debug, Parser)]
#[command(name = "runpod-local", version)]
struct Cli {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// Port to bind; 0 picks a free one.
    #[arg(long, default_value_t = 8000)]
    port: u16,

    /// Require this key: clients send `Authorization: Bearer KEY`, workers the raw key.
    /// Required when --host is not a loopback address (unless --insecure-no-auth).
    #[arg(long, env = "RUNPOD_LOCAL_API_KEY", hide_env_values = true)]
    api_key: Option<String>,

    /// Endpoint id used in the printed worker environment.
    #[arg(long, default_value = "local")]
    endpoint_id: String,

    /// Worker id used in the printed worker environment.
    #[arg(long, default_value = "local-worker")]
    worker_id: String,

    /// Log filter (error, warn, info, debug, trace, or a tracing directive); logs go to stderr.
    #[arg(long, default_value = "info")]
    log_level: String,

    #[command(flatten)]
    server: ServeArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match EnvFilter::try_new(&cli.log_level) {
        Ok(filter) => filter,
        Err(error) => return fail(&format!("invalid --log-level: {error}")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let mut builder = match cli.server.apply(Server::builder()) {
        Ok(builder) => builder.shutdown_on(shutdown_signal()),
        Err(error) => return fail(&error),
    };
    if let Some(key) = &cli.api_key {
        builder = builder.api_key(key);
    }

    let server = match builder.bind((cli.host.as_str(), cli.port)).await {
        Ok(server) => server,
        Err(error) => {
            return fail(&format!(
                "cannot listen on {}:{}: {error}",
                cli.host, cli.port
            ));
        }
    };
    if let Err(error) = announce(&server, &cli) {
        return fail(&format!("cannot write to stdout: {error}"));
    }
    server.stopped().await;
    ExitCode::SUCCESS
}

/// The listening line, then the environment for a worker and for clients.
fn announce(server: &RunningServer, cli: &Cli) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(
        server
            .announcement(&cli.endpoint_id, &cli.worker_id)
            .as_bytes(),
    )?;
    out.flush()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "runpod-local: {message}");
    ExitCode::FAILURE
}
