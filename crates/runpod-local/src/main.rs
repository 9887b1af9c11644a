//! `runpod-local`: run a local Runpod serverless endpoint.
//!
//! Prints `listening on http://HOST:PORT`, then `export` lines for a worker serving endpoint
//! `local` and for clients, so that `eval "$(runpod-local | tail -n +2)"`-style setups work.
//! Stops cleanly on Ctrl-C or SIGTERM.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use runpod_local::{
    FaultConfig, Limits, RunningServer, Server, ServerBuilder, parse_duration, parse_size,
};
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

    /// Listen on a non-loopback --host without --api-key: anyone who can reach the server can
    /// queue jobs, read every result and trigger webhooks. Logs a warning.
    #[arg(long)]
    insecure_no_auth: bool,

    /// A host (name or IP) webhooks may go to besides loopback; repeatable or comma-separated.
    /// Webhooks are sent over http:// only; others are refused at /run with 400.
    #[arg(
        long = "allow-webhook-host",
        value_name = "HOST",
        value_delimiter = ','
    )]
    webhook_hosts: Vec<String>,

    /// Jobs waiting per endpoint before /run answers 429 [default: 50000].
    #[arg(long, value_name = "JOBS")]
    max_queued_jobs: Option<usize>,

    /// Bytes of job inputs, results and stream chunks kept (e.g. 512M) before posts answer 507
    /// [default: 1G].
    #[arg(long, value_name = "SIZE", value_parser = size)]
    max_stored_bytes: Option<usize>,

    /// Longest endpoint, job or worker id (ASCII letters, digits, `-`, `_`, `.`) [default: 64].
    #[arg(long, value_name = "CHARS")]
    max_id_length: Option<usize>,

    /// Largest job-stream post (e.g. 1M) [default: 1M].
    #[arg(long, value_name = "SIZE", value_parser = size)]
    max_stream_chunk: Option<usize>,

    /// Connections served at once; more are answered 503 [default: 1024].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,

    /// Time a client has to send its request headers, and then its body [default: 30s].
    #[arg(long, value_name = "TIME", value_parser = duration)]
    read_timeout: Option<Duration>,

    /// How long finished /run results stay readable [default: 30m].
    #[arg(long, value_parser = duration)]
    result_retention: Option<Duration>,

    /// How long finished /runsync results stay readable [default: 1m].
    #[arg(long, value_parser = duration)]
    sync_result_retention: Option<Duration>,

    /// How long job-take and job-stop hold an empty long poll [default: 10s].
    #[arg(long, value_parser = duration)]
    hold_time: Option<Duration>,

    /// Execution timeout of jobs without policy.executionTimeout [default: 600s].
    #[arg(long, value_parser = duration)]
    execution_timeout: Option<Duration>,

    /// Lifespan of jobs without policy.ttl [default: 24h].
    #[arg(long, value_parser = duration)]
    ttl: Option<Duration>,

    /// Silence after which a worker is gone and its jobs are queued again [default: 30s].
    #[arg(long, value_parser = duration)]
    heartbeat_timeout: Option<Duration>,

    /// Fault rule ROUTE:KIND=VALUE[,KIND=VALUE…]; ROUTE is a route segment (run, job-done, …)
    /// or `*`; KIND is 429, 5xx or drop (rate 0–1), latency or jitter (duration). Repeatable.
    #[arg(long = "fault", value_name = "RULE")]
    faults: Vec<String>,

    /// Seed of the fault generators.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,

    /// Answer every job inside the server with its input as output, so that a client can be
    /// tried without a worker. Workers may still connect and take what it has not taken.
    #[arg(long)]
    echo: bool,

    /// A worker of a load-balancing endpoint, served at /lb/ENDPOINT/…:
    /// ENDPOINT=URL[,health=PATH_OR_URL][,id=WORKER_ID]; health defaults to URL/ping. Repeatable.
    #[arg(long = "lb", value_name = "ENDPOINT=URL")]
    lb_workers: Vec<runpod_local::LbWorker>,

    /// A worker of a load-balancing endpoint started from COMMAND (by `sh -c`, stopped with the
    /// server): ENDPOINT[,health=PATH][,health-port][,id=WORKER_ID]=COMMAND. It gets PORT (a
    /// free port), RUNPOD_POD_ID, and PORT_HEALTH (with health-port) and HEALTH_CHECK_PATH (with
    /// health=). Repeatable.
    #[arg(long = "lb-spawn", value_name = "ENDPOINT=COMMAND")]
    lb_spawns: Vec<runpod_local::LbSpawn>,

    /// Largest load-balancing request and response body, in bytes [default: 30 MiB].
    #[arg(long)]
    lb_max_body: Option<usize>,

    /// Time limit of one load-balancing request [default: 5.5m].
    #[arg(long, value_parser = duration)]
    lb_request_timeout: Option<Duration>,

    /// How long a load-balancing request waits for an initializing worker [default: 2m].
    #[arg(long, value_parser = duration)]
    lb_worker_wait: Option<Duration>,

    /// Endpoint id used in the printed worker environment.
    #[arg(long, default_value = "local")]
    endpoint_id: String,

    /// Worker id used in the printed worker environment.
    #[arg(long, default_value = "local-worker")]
    worker_id: String,

    /// Log filter (error, warn, info, debug, trace, or a tracing directive); logs go to stderr.
    #[arg(long, default_value = "info")]
    log_level: String,
}

fn size(value: &str) -> Result<usize, String> {
    parse_size(value)
}

/// The limits the flags set, over the defaults.
fn limits(cli: &Cli) -> Limits {
    let mut limits = Limits::default();
    if let Some(jobs) = cli.max_queued_jobs {
        limits = limits.queued_jobs_per_endpoint(jobs);
    }
    if let Some(bytes) = cli.max_stored_bytes {
        limits = limits.stored_bytes(bytes);
    }
    if let Some(chars) = cli.max_id_length {
        limits = limits.id_length(chars);
    }
    if let Some(bytes) = cli.max_stream_chunk {
        limits = limits.stream_chunk_bytes(bytes);
    }
    if let Some(connections) = cli.max_connections {
        limits = limits.connections(connections);
    }
    if let Some(timeout) = cli.read_timeout {
        limits = limits.read_timeout(timeout);
    }
    limits
}

fn duration(value: &str) -> Result<Duration, String> {
    parse_duration(value).map_err(|e| e.to_string())
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

    let mut faults = FaultConfig::new().seed(cli.fault_seed);
    for rule in &cli.faults {
        faults = match faults.rule(rule) {
            Ok(faults) => faults,
            Err(error) => return fail(&format!("invalid --fault `{rule}`: {error}")),
        };
    }
    let mut builder = Server::builder()
        .faults(faults)
        .insecure_no_auth(cli.insecure_no_auth)
        .allow_webhook_hosts(cli.webhook_hosts.iter().cloned())
        .limits(limits(&cli))
        .shutdown_on(shutdown_signal());
    if let Some(key) = &cli.api_key {
        builder = builder.api_key(key);
    }
    if cli.echo {
        builder = builder.echo();
    }
    for worker in &cli.lb_workers {
        builder = builder.lb_worker(worker.clone());
    }
    for spawn in &cli.lb_spawns {
        builder = builder.lb_spawn(spawn.clone());
    }
    let mut limits = runpod_local::LbLimits::new();
    if let Some(bytes) = cli.lb_max_body {
        limits = limits.max_request_bytes(bytes).max_response_bytes(bytes);
    }
    if let Some(timeout) = cli.lb_request_timeout {
        limits = limits.request_timeout(timeout);
    }
    if let Some(wait) = cli.lb_worker_wait {
        limits = limits.worker_wait(wait);
    }
    builder = builder.lb_limits(limits);
    type Setter = fn(ServerBuilder, Duration) -> ServerBuilder;
    let settings: [(Option<Duration>, Setter); 6] = [
        (cli.result_retention, ServerBuilder::result_retention),
        (
            cli.sync_result_retention,
            ServerBuilder::sync_result_retention,
        ),
        (cli.hold_time, ServerBuilder::hold_time),
        (
            cli.execution_timeout,
            ServerBuilder::default_execution_timeout,
        ),
        (cli.ttl, ServerBuilder::default_ttl),
        (cli.heartbeat_timeout, ServerBuilder::heartbeat_timeout),
    ];
    for (value, set) in settings {
        if let Some(value) = value {
            builder = set(builder, value);
        }
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
