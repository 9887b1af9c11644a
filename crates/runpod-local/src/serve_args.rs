//! The command-line flags that configure a server, declared once for the `runpod-local` binary
//! and `runpod local serve` (feature `bin`): both flatten [`ServeArgs`] into their parser and
//! [`apply`](ServeArgs::apply) it to a [`ServerBuilder`].
//!
//! Where to listen, the API key and logging stay with each command: `runpod` takes its key from
//! its own global `--api-key`, and logs through its own subscriber.

use std::path::PathBuf;
use std::time::Duration;

use crate::{
    FaultConfig, LbLimits, LbSpawn, LbWorker, Limits, ServerBuilder, parse_duration, parse_size,
};

/// Server flags shared by the `runpod-local` binary and `runpod local serve`.
///
/// ```
/// use clap::Parser;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     server: runpod_local::ServeArgs,
/// }
///
/// let cli = Cli::parse_from(["serve", "--max-queued-jobs", "10", "--echo"]);
/// let builder = cli.server.apply(runpod_local::Server::builder()).unwrap();
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Listen on a non-loopback --host without an API key: anyone who can reach the server can
    /// queue jobs, read every result and trigger webhooks. Logs a warning.
    #[arg(long)]
    insecure_no_auth: bool,

    /// A host (name or IP) webhooks may go to besides loopback; repeatable or comma-separated.
    /// Webhooks go over http:// or https://; others are refused at /run with 400.
    #[arg(
        long = "allow-webhook-host",
        value_name = "HOST",
        value_delimiter = ','
    )]
    webhook_hosts: Vec<String>,

    /// A PEM file of certificate authorities that https:// webhook receivers may chain to,
    /// besides the public roots (for a private or self-signed certificate). Repeatable.
    #[arg(long = "webhook-ca-file", value_name = "PEM")]
    webhook_ca_files: Vec<PathBuf>,

    /// Answer every job inside the server with its input as output, so that a client can be
    /// tried without a worker. Workers may still connect and take what it has not taken.
    #[arg(long)]
    echo: bool,

    #[command(flatten)]
    limits: LimitArgs,

    #[command(flatten)]
    timing: TimingArgs,

    #[command(flatten)]
    faults: FaultArgs,

    #[command(flatten)]
    lb: LbArgs,
}

/// The six [`Limits`].
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Limits")]
struct LimitArgs {
    /// Jobs waiting per endpoint before /run answers 429 [default: 50000].
    #[arg(long, value_name = "JOBS")]
    max_queued_jobs: Option<usize>,

    /// Bytes of job inputs, results and stream chunks kept (e.g. 512M) before posts answer 507
    /// [default: 1G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_stored_bytes: Option<usize>,

    /// Longest endpoint, job or worker id (ASCII letters, digits, `-`, `_`, `.`) [default: 64].
    #[arg(long, value_name = "CHARS")]
    max_id_length: Option<usize>,

    /// Largest job-stream post (e.g. 1M) [default: 1M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_stream_chunk: Option<usize>,

    /// Connections served at once; more are answered 503 [default: 1024].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,

    /// HTTP/2 requests in flight on one connection [default: 256].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_streams: Option<u32>,

    /// Time a client has to send its request headers, and then its body [default: 30s].
    #[arg(long, value_name = "TIME", value_parser = duration)]
    read_timeout: Option<Duration>,
}

/// Retention, long polls and job timeouts.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Jobs")]
struct TimingArgs {
    /// How long finished /run results stay readable [default: 30m].
    #[arg(long, value_name = "TIME", value_parser = duration)]
    result_retention: Option<Duration>,

    /// How long finished /runsync results stay readable [default: 1m].
    #[arg(long, value_name = "TIME", value_parser = duration)]
    sync_result_retention: Option<Duration>,

    /// How long job-take and job-stop hold an empty long poll [default: 10s].
    #[arg(long, value_name = "TIME", value_parser = duration)]
    hold_time: Option<Duration>,

    /// Execution timeout of jobs without policy.executionTimeout [default: 600s].
    #[arg(long, value_name = "TIME", value_parser = duration)]
    execution_timeout: Option<Duration>,

    /// Lifespan of jobs without policy.ttl [default: 24h].
    #[arg(long, value_name = "TIME", value_parser = duration)]
    ttl: Option<Duration>,

    /// Silence after which a worker is gone and its jobs are queued again [default: 30s].
    #[arg(long, value_name = "TIME", value_parser = duration)]
    heartbeat_timeout: Option<Duration>,
}

/// Fault injection.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Faults")]
struct FaultArgs {
    /// Fault rule ROUTE:KIND=VALUE[,KIND=VALUE…]; ROUTE is a route segment (run, job-done, …)
    /// or `*`; KIND is 429, 5xx or drop (rate 0–1), latency or jitter (duration). Repeatable.
    #[arg(long = "fault", value_name = "RULE")]
    rules: Vec<String>,

    /// Seed of the fault generators.
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    fault_seed: u64,
}

/// Load-balancing endpoints.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Load balancing")]
struct LbArgs {
    /// A worker of a load-balancing endpoint, served at /lb/ENDPOINT/…:
    /// ENDPOINT=URL[,health=PATH_OR_URL][,id=WORKER_ID]; health defaults to URL/ping. Repeatable.
    #[arg(long = "lb", value_name = "ENDPOINT=URL")]
    workers: Vec<LbWorker>,

    /// A worker of a load-balancing endpoint started from COMMAND (by `sh -c`, stopped with the
    /// server): ENDPOINT[,health=PATH][,health-port][,id=WORKER_ID]=COMMAND. It gets PORT (a
    /// free port), RUNPOD_POD_ID, and PORT_HEALTH (with health-port) and HEALTH_CHECK_PATH (with
    /// health=). Repeatable.
    #[arg(long = "lb-spawn", value_name = "ENDPOINT=COMMAND")]
    spawns: Vec<LbSpawn>,

    /// Largest load-balancing request and response body, in bytes [default: 30 MiB].
    #[arg(long, value_name = "BYTES")]
    lb_max_body: Option<usize>,

    /// Time limit of one load-balancing request [default: 5.5m].
    #[arg(long, value_name = "TIME", value_parser = duration)]
    lb_request_timeout: Option<Duration>,

    /// How long a load-balancing request waits for an initializing worker [default: 2m].
    #[arg(long, value_name = "TIME", value_parser = duration)]
    lb_worker_wait: Option<Duration>,
}

fn duration(value: &str) -> Result<Duration, String> {
    parse_duration(value).map_err(|e| e.to_string())
}

impl ServeArgs {
    /// Sets what the flags say on `builder`, leaving the rest as it was. An invalid `--fault`
    /// rule is an error naming it.
    pub fn apply(&self, mut builder: ServerBuilder) -> Result<ServerBuilder, String> {
        let mut faults = FaultConfig::new().seed(self.faults.fault_seed);
        for rule in &self.faults.rules {
            faults = faults
                .rule(rule)
                .map_err(|error| format!("invalid --fault `{rule}`: {error}"))?;
        }
        builder = builder
            .faults(faults)
            .insecure_no_auth(self.insecure_no_auth)
            .allow_webhook_hosts(self.webhook_hosts.iter().cloned())
            .limits(self.limits.limits())
            .lb_limits(self.lb.limits());
        for path in &self.webhook_ca_files {
            builder = builder.webhook_ca_file(path.clone());
        }
        if self.echo {
            builder = builder.echo();
        }
        for worker in &self.lb.workers {
            builder = builder.lb_worker(worker.clone());
        }
        for spawn in &self.lb.spawns {
            builder = builder.lb_spawn(spawn.clone());
        }
        let t = &self.timing;
        type Setter = fn(ServerBuilder, Duration) -> ServerBuilder;
        let settings: [(Option<Duration>, Setter); 6] = [
            (t.result_retention, ServerBuilder::result_retention),
            (
                t.sync_result_retention,
                ServerBuilder::sync_result_retention,
            ),
            (t.hold_time, ServerBuilder::hold_time),
            (
                t.execution_timeout,
                ServerBuilder::default_execution_timeout,
            ),
            (t.ttl, ServerBuilder::default_ttl),
            (t.heartbeat_timeout, ServerBuilder::heartbeat_timeout),
        ];
        for (value, set) in settings {
            if let Some(value) = value {
                builder = set(builder, value);
            }
        }
        Ok(builder)
    }
}

impl LimitArgs {
    /// The limits the flags set, over the defaults.
    fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        if let Some(jobs) = self.max_queued_jobs {
            limits = limits.queued_jobs_per_endpoint(jobs);
        }
        if let Some(bytes) = self.max_stored_bytes {
            limits = limits.stored_bytes(bytes);
        }
        if let Some(chars) = self.max_id_length {
            limits = limits.id_length(chars);
        }
        if let Some(bytes) = self.max_stream_chunk {
            limits = limits.stream_chunk_bytes(bytes);
        }
        if let Some(connections) = self.max_connections {
            limits = limits.connections(connections);
        }
        if let Some(streams) = self.max_streams {
            limits = limits.streams_per_connection(streams);
        }
        if let Some(timeout) = self.read_timeout {
            limits = limits.read_timeout(timeout);
        }
        limits
    }
}

impl LbArgs {
    fn limits(&self) -> LbLimits {
        let mut limits = LbLimits::new();
        if let Some(bytes) = self.lb_max_body {
            limits = limits.max_request_bytes(bytes).max_response_bytes(bytes);
        }
        if let Some(timeout) = self.lb_request_timeout {
            limits = limits.request_timeout(timeout);
        }
        if let Some(wait) = self.lb_worker_wait {
            limits = limits.worker_wait(wait);
        }
        limits
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServeArgs,
    }

    #[test]
    fn every_limit_flag_reaches_the_limits() {
        let cli = Cli::parse_from([
            "serve",
            "--max-queued-jobs=7",
            "--max-stored-bytes=2M",
            "--max-id-length=9",
            "--max-stream-chunk=64K",
            "--max-connections=5",
            "--max-streams=7",
            "--read-timeout=3s",
        ]);
        let expected = Limits::default()
            .queued_jobs_per_endpoint(7)
            .stored_bytes(2 << 20)
            .id_length(9)
            .stream_chunk_bytes(64 << 10)
            .connections(5)
            .streams_per_connection(7)
            .read_timeout(Duration::from_secs(3));
        assert_eq!(cli.server.limits.limits(), expected);
        assert_eq!(
            Cli::parse_from(["serve"]).server.limits.limits(),
            Limits::default()
        );
    }

    #[test]
    fn a_bad_fault_rule_is_named() {
        let cli = Cli::parse_from(["serve", "--fault", "run:teapot=1"]);
        let error = cli.server.apply(crate::Server::builder()).unwrap_err();
        assert!(
            error.contains("invalid --fault `run:teapot=1`: unknown fault `teapot`"),
            "{error}"
        );
    }
}
