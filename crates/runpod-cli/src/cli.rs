//! The command line grammar (clap derive). Commands live in `commands/`; this file only says
//! what they accept.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::EXIT_CODES;

const ABOUT: &str = "Runpod from the command line: run serverless jobs, manage pods, endpoints, \
templates, volumes and registries, and serve a local endpoint.";

const LONG_ABOUT: &str = "\
Runpod from the command line: run serverless jobs, manage pods, endpoints, templates, volumes \
and registries, and serve a local endpoint.

The API key comes from --api-key, else RUNPOD_API_KEY, else ~/.runpod/config.toml (profile \
--profile, RUNPOD_PROFILE or `default`; store one with `runpod config`). RUNPOD_API_BASE_URL and \
RUNPOD_ENDPOINT_BASE_URL move the APIs, as --api-url and --endpoint-url do; RUNPOD_HTTP_VERSION \
(auto, 1.1 or 2) picks the HTTP version, auto meaning HTTP/2 where TLS negotiates it.";

/// The `runpod` command.
#[derive(Debug, Parser)]
#[command(
    name = "runpod",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = EXIT_CODES,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// API key (prefer `runpod config` or RUNPOD_API_KEY: arguments show up in `ps`).
    #[arg(long, global = true, value_name = "KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,

    /// Profile of ~/.runpod/config.toml to read the key from [default: RUNPOD_PROFILE or `default`].
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,

    /// REST API base URL [default: RUNPOD_API_BASE_URL or https://api.runpod.io].
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) api_url: Option<String>,

    /// Serverless base URL [default: RUNPOD_ENDPOINT_BASE_URL or https://api.runpod.ai/v2].
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,

    /// Output format.
    #[arg(
        long,
        short = 'o',
        global = true,
        value_enum,
        default_value_t = OutputFormat::Table
    )]
    pub(crate) output: OutputFormat,

    /// Log what happens to stderr (-v: requests and polling, -vv: everything).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    /// No colours (also NO_COLOR=1).
    #[arg(long, global = true)]
    pub(crate) no_color: bool,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Tables and plain text, fitted to the terminal.
    Table,
    /// JSON documents (JSON lines for streams), stable for scripts.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Store an API key in ~/.runpod/config.toml (mode 0600).
    #[command(
        long_about = "Store an API key in ~/.runpod/config.toml (mode 0600), in the profile given by \
--profile (default `default`). Other profiles are kept. Without a key argument the key is read from \
the terminal without echo, or from the first line of stdin."
    )]
    Config {
        /// The key, as the Python CLI takes it (prefer the prompt: arguments show up in `ps`);
        /// --api-key works too.
        #[arg(value_name = "API_KEY")]
        key: Option<String>,
    },

    /// Run a job on a serverless endpoint and print its output.
    #[command(
        long_about = "Run a job on a serverless endpoint and print its output.\n\n\
The job input is JSON from --input, --input-file or stdin; it is sent as {\"input\": <it>}. \
By default the job is queued with /run and waited for; --sync uses /runsync, --stream prints \
chunks as the worker streams them, --no-wait prints the job id and returns at once."
    )]
    Run(RunArgs),

    /// Look after one job: status, wait, stream, cancel, retry.
    #[command(subcommand)]
    Job(JobCommand),

    /// Serverless endpoint queue: health, purge-queue.
    #[command(subcommand)]
    Endpoint(EndpointCommand),

    /// Batch Jobs (beta): many inputs as one batch, with counts and paged results.
    #[command(subcommand)]
    Batch(crate::commands::batch::BatchCommand),

    /// Manage serverless endpoints.
    #[command(subcommand)]
    Endpoints(EndpointsCommand),

    /// Send HTTP requests to a load-balancing endpoint's workers.
    #[command(subcommand)]
    Lb(LbCommand),

    /// Manage templates.
    #[command(subcommand)]
    Templates(TemplatesCommand),

    /// Manage pods.
    #[command(subcommand)]
    Pods(PodsCommand),

    /// Manage network volumes.
    #[command(subcommand, visible_alias = "network-volumes")]
    Volumes(VolumesCommand),

    /// Manage container registry credentials.
    #[command(subcommand)]
    Registries(RegistriesCommand),

    /// GPU types with memory, availability and prices.
    #[command(subcommand)]
    Gpus(GpusCommand),

    /// Billing history.
    Billing(BillingArgs),

    /// The account: id, email, balance and spend.
    Account,

    /// A local Runpod serverless endpoint.
    #[command(subcommand)]
    Local(Box<LocalCommand>),

    /// Print a shell completion script.
    #[command(long_about = "Print a shell completion script.\n\n\
bash:  runpod completions bash > ~/.local/share/bash-completion/completions/runpod\n\
zsh:   runpod completions zsh > \"${fpath[1]}/_runpod\"\n\
fish:  runpod completions fish > ~/.config/fish/completions/runpod.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the job input comes from.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub(crate) struct InputArgs {
    /// The job input as JSON, e.g. '{"prompt": "hello"}'.
    #[arg(long, value_name = "JSON")]
    pub(crate) input: Option<String>,

    /// Read the job input from this JSON file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) input_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Endpoint id.
    pub(crate) endpoint: String,

    #[command(flatten)]
    pub(crate) input: InputArgs,

    #[command(flatten)]
    pub(crate) mode: RunMode,

    /// URL that Runpod POSTs the result to when the job ends.
    #[arg(long, value_name = "URL")]
    pub(crate) webhook: Option<String>,

    /// How long the job lives after submission (10s to 168h; default 24h).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub(crate) ttl: Option<Duration>,

    /// How long the job may run (5s to 168h; default: the endpoint's setting).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub(crate) execution_timeout: Option<Duration>,

    /// Do not scale workers up for this job.
    #[arg(long)]
    pub(crate) low_priority: bool,

    /// Stop waiting after this long (the job keeps running; exit code 11).
    #[arg(long, value_name = "DURATION", value_parser = duration, conflicts_with = "no_wait")]
    pub(crate) timeout: Option<Duration>,
}

/// How `run` waits.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub(crate) struct RunMode {
    /// Use /runsync: the server holds the request until the job ends (or up to 90 s).
    #[arg(long)]
    pub(crate) sync: bool,

    /// Print the streamed output chunks as they arrive.
    #[arg(long)]
    pub(crate) stream: bool,

    /// Print the job id and return without waiting.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

/// An endpoint and one of its jobs.
#[derive(Debug, Args)]
pub(crate) struct JobRef {
    /// Endpoint id.
    pub(crate) endpoint: String,
    /// Job id.
    pub(crate) job: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobCommand {
    /// Print the job as it is now.
    Status(JobRef),
    /// Wait until the job ends and print its output.
    Wait {
        #[command(flatten)]
        job: JobRef,
        /// Stop waiting after this long (the job keeps running; exit code 11).
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        timeout: Option<Duration>,
    },
    /// Print the job's streamed output chunks as they arrive.
    Stream {
        #[command(flatten)]
        job: JobRef,
        /// Stop after this long (the job keeps running; exit code 11).
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        timeout: Option<Duration>,
    },
    /// Cancel a queued or running job.
    Cancel(JobRef),
    /// Queue a FAILED or TIMED_OUT job again under the same id.
    Retry(JobRef),
}

#[derive(Debug, Subcommand)]
pub(crate) enum EndpointCommand {
    /// Jobs by state and workers by state.
    Health {
        /// Endpoint id.
        endpoint: String,
    },
    /// Remove every queued job (running jobs go on).
    PurgeQueue {
        /// Endpoint id.
        endpoint: String,
    },
}

/// A resource id.
#[derive(Debug, Args)]
pub(crate) struct IdArg {
    /// Id.
    pub(crate) id: String,
}

/// A raw request body merged under the flags.
#[derive(Debug, Args)]
pub(crate) struct BodyArg {
    /// Request body as REST v2 JSON; `@FILE` reads a file, `@-` stdin. Flags override its fields.
    #[arg(long, value_name = "JSON")]
    pub(crate) body: Option<String>,
}

/// `KEY=VALUE` pairs for `env`.
fn env_pair(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{value}` is not KEY=VALUE")),
    }
}

/// Container settings shared by templates, pods and endpoints.
#[derive(Debug, Args)]
pub(crate) struct ContainerArgs {
    /// Container image.
    #[arg(long, value_name = "IMAGE")]
    pub(crate) image: Option<String>,
    /// Environment variable (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = env_pair)]
    pub(crate) env: Vec<(String, String)>,
    /// Exposed port as PORT/PROTOCOL, e.g. 8888/http (repeatable).
    #[arg(long = "port", value_name = "PORT")]
    pub(crate) ports: Vec<String>,
    /// Container disk in GB.
    #[arg(long, value_name = "GB")]
    pub(crate) disk: Option<i64>,
    /// Container registry credential id (private images).
    #[arg(long, value_name = "ID")]
    pub(crate) registry: Option<String>,
    /// Arguments passed to the container entrypoint.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub(crate) args: Option<String>,
}

/// The commands every cloud resource has, with `C` its create flags and `M` the commands only
/// some resources have (`update`, pod actions). One grammar for all five resources; the help
/// texts name each resource through [`RESOURCES`].
#[derive(Debug, Subcommand)]
pub(crate) enum Resource<C: Args, M: Subcommand> {
    /// List them.
    List,
    /// Show one.
    Get(IdArg),
    /// Create one.
    Create(C),
    /// Delete one.
    Delete(IdArg),
    #[command(flatten)]
    More(M),
}

/// `update`, for the resources REST v2 can change.
#[derive(Debug, Subcommand)]
pub(crate) enum Updatable<U: Args> {
    /// Change one.
    Update(Update<U>),
}

/// No commands beyond the common ones (registries: REST v2 has no update).
#[derive(Debug, Subcommand)]
pub(crate) enum NoMore {}

/// An id and the flags that change it.
#[derive(Debug, Args)]
pub(crate) struct Update<U: Args> {
    #[command(flatten)]
    pub(crate) id: IdArg,
    #[command(flatten)]
    pub(crate) fields: U,
}

/// `runpod templates …`
pub(crate) type TemplatesCommand = Resource<TemplateCreate, Updatable<NamedContainer>>;
/// `runpod endpoints …`
pub(crate) type EndpointsCommand = Resource<EndpointCreate, Updatable<EndpointFields>>;
/// `runpod pods …`
pub(crate) type PodsCommand = Resource<PodCreate, PodMore>;
/// `runpod volumes …`
pub(crate) type VolumesCommand = Resource<VolumeCreate, Updatable<VolumeUpdate>>;
/// `runpod registries …`
pub(crate) type RegistriesCommand = Resource<RegistryCreate, NoMore>;

/// Help texts of one resource's commands: `(command, subcommand, about)`. The common ones are
/// made from the nouns; a resource's own wording replaces them.
pub(crate) struct ResourceHelp {
    pub(crate) command: &'static str,
    pub(crate) one: &'static str,
    pub(crate) many: &'static str,
    pub(crate) own: &'static [(&'static str, &'static str)],
    /// Longer help (`--help`) of some of the commands: `(subcommand, text)`.
    pub(crate) long: &'static [(&'static str, &'static str)],
}

pub(crate) const RESOURCES: &[ResourceHelp] = &[
    ResourceHelp {
        command: "templates",
        one: "template",
        many: "templates",
        own: &[],
        long: &[],
    },
    ResourceHelp {
        command: "endpoints",
        one: "endpoint",
        many: "serverless endpoints",
        own: &[(
            "create",
            "Create an endpoint: a queue endpoint scaling on queue delay (4 s) unless --type or \
             --body says otherwise; `--type load-balancer` needs `--request-count N` \
             (REQUEST_COUNT scaling)",
        )],
        long: &[],
    },
    ResourceHelp {
        command: "pods",
        one: "pod",
        many: "pods",
        own: &[
            ("delete", "Terminate a pod for good"),
            ("update", "Change a pod (may restart it)"),
        ],
        long: &[(
            "create",
            "Create a pod. With several --gpu-type values they are tried in order, and a \
failure that may have created the pod is checked before the next attempt, so at most one pod is \
created.",
        )],
    },
    ResourceHelp {
        command: "volumes",
        one: "network volume",
        many: "network volumes",
        own: &[("update", "Rename or grow a network volume")],
        long: &[],
    },
    ResourceHelp {
        command: "registries",
        one: "container registry credential",
        many: "container registry credentials",
        own: &[
            ("get", "Show one credential (without its password)"),
            (
                "create",
                "Store a registry credential; the password is read without echo, or from stdin",
            ),
        ],
        long: &[],
    },
];

impl Cli {
    /// The grammar with every resource's help texts filled in; parsing and completions use it.
    pub(crate) fn grammar() -> clap::Command {
        let mut cmd = <Self as clap::CommandFactory>::command();
        for r in RESOURCES {
            cmd = cmd.mut_subcommand(r.command, |mut c| {
                let a = if r.one.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                let common = [
                    ("list", format!("List {}", r.many)),
                    ("get", format!("Show one {}", r.one)),
                    ("create", format!("Create {a} {}", r.one)),
                    ("update", format!("Change {a} {}", r.one)),
                    ("delete", format!("Delete {a} {}", r.one)),
                ];
                // `update` sits between `create` and `delete`, as it always did, though it is
                // declared with the commands only some resources have.
                for (order, (sub, about)) in common.into_iter().enumerate() {
                    let about = r
                        .own
                        .iter()
                        .find(|(s, _)| *s == sub)
                        .map_or(about, |(_, own)| (*own).to_owned());
                    if c.find_subcommand(sub).is_some() {
                        c = c.mut_subcommand(sub, |s| s.about(about).display_order(order));
                    }
                }
                for (sub, text) in r.long {
                    c = c.mut_subcommand(sub, |s| s.long_about(*text));
                }
                c
            });
        }
        cmd
    }

    /// Parses the process's arguments with [`Cli::grammar`].
    pub(crate) fn from_process_args() -> Result<Self, clap::Error> {
        let matches = Self::grammar().try_get_matches()?;
        <Self as clap::FromArgMatches>::from_arg_matches(&matches)
    }
}

/// `templates create`.
#[derive(Debug, Args)]
pub(crate) struct TemplateCreate {
    /// Template name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) container: ContainerArgs,
    /// A serverless template (for endpoints) rather than a pod template.
    #[arg(long)]
    pub(crate) serverless: bool,
    #[command(flatten)]
    pub(crate) body: BodyArg,
}

/// A name and container settings: `templates update`, `pods update`.
#[derive(Debug, Args)]
pub(crate) struct NamedContainer {
    /// New name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) container: ContainerArgs,
    #[command(flatten)]
    pub(crate) body: BodyArg,
}

/// Endpoint scaling and workers.
#[derive(Debug, Args)]
pub(crate) struct EndpointShape {
    /// Template id.
    #[arg(long, value_name = "ID")]
    pub(crate) template_id: Option<String>,
    /// GPU pool, e.g. AMPERE_16, ADA_24 (repeatable, in order of preference).
    #[arg(long = "gpu", value_name = "POOL")]
    pub(crate) gpus: Vec<String>,
    /// GPUs per worker.
    #[arg(long, value_name = "N")]
    pub(crate) gpu_count: Option<i64>,
    /// Minimum workers.
    #[arg(long, value_name = "N")]
    pub(crate) workers_min: Option<i64>,
    /// Maximum workers.
    #[arg(long, value_name = "N")]
    pub(crate) workers_max: Option<i64>,
    /// Seconds an idle worker stays up.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) idle_timeout: Option<i64>,
    /// Network volume id to attach (repeatable).
    #[arg(long = "network-volume", value_name = "ID")]
    pub(crate) network_volumes: Vec<String>,
}

/// `endpoints create` and `endpoints update`.
#[derive(Debug, Args)]
pub(crate) struct EndpointFields {
    /// Endpoint name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) shape: EndpointShape,
    #[command(flatten)]
    pub(crate) body: BodyArg,
}

/// `endpoints create`.
#[derive(Debug, Args)]
pub(crate) struct EndpointCreate {
    /// Endpoint name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Endpoint kind.
    #[arg(long = "type", value_enum, value_name = "KIND")]
    pub(crate) kind: Option<EndpointKindArg>,
    /// Requests per worker that make the endpoint scale (REQUEST_COUNT scaling; required
    /// for load-balancer endpoints unless --body sets scaling).
    #[arg(long, value_name = "N")]
    pub(crate) request_count: Option<i64>,
    #[command(flatten)]
    pub(crate) shape: EndpointShape,
    #[command(flatten)]
    pub(crate) body: BodyArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LbCommand {
    /// Send one request and print the status, the worker that answered and the body.
    #[command(
        long_about = "Send one request to a load-balancing endpoint (https://ENDPOINT.api.runpod.ai/PATH, or below RUNPOD_LB_BASE_URL, e.g. http://127.0.0.1:8000/lb/{endpoint_id} for `runpod local serve --lb …`) and print the status, the worker that answered (X-Runpod-Worker-Id) and the body: JSON pretty-printed, server-sent events one per line. With --output json: one JSON object (status, worker_id, body), or one JSON line per event. \"no workers available\" is retried (4 tries, 5 s apart)."
    )]
    Request {
        /// Endpoint id.
        endpoint: String,
        /// HTTP method (GET, POST, PUT, …).
        method: String,
        /// Path below the endpoint, e.g. /v1/chat (query string allowed).
        path: String,
        /// Body: JSON inline, @FILE, or - for stdin (sent as application/json when it parses
        /// as JSON, else as application/octet-stream).
        #[arg(long, value_name = "JSON|@FILE|-")]
        data: Option<String>,
        /// A request header NAME:VALUE (repeatable).
        #[arg(long = "header", value_name = "NAME:VALUE")]
        headers: Vec<String>,
        /// Ask for this worker (soft: another one answers if it is unavailable).
        #[arg(long, value_name = "WORKER_ID")]
        worker: Option<String>,
        /// Only --worker may answer (waits for it; fails if it is gone).
        #[arg(long, requires = "worker", conflicts_with = "strict_resume")]
        strict: bool,
        /// As --strict, and resume the worker if it was scaled down.
        #[arg(long, requires = "worker")]
        strict_resume: bool,
    },
}

/// The kind of a serverless endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EndpointKindArg {
    /// Jobs through a queue (/run, /runsync, …).
    Queue,
    /// HTTP straight to the workers' own servers.
    LoadBalancer,
}

/// Secure or community cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CloudArg {
    /// Runpod's data centers.
    Secure,
    /// Community hosts.
    Community,
}

/// `pods create`.
#[derive(Debug, Args)]
pub(crate) struct PodCreate {
    /// Pod name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) container: ContainerArgs,
    /// GPU type id, e.g. "NVIDIA GeForce RTX 4090" (repeatable: tried in order).
    #[arg(long = "gpu-type", value_name = "ID")]
    pub(crate) gpu_types: Vec<String>,
    /// GPUs.
    #[arg(long, value_name = "N")]
    pub(crate) gpu_count: Option<i64>,
    /// Cloud tier.
    #[arg(long, value_enum)]
    pub(crate) cloud: Option<CloudArg>,
    /// Template to base the pod on.
    #[arg(long, value_name = "ID")]
    pub(crate) template_id: Option<String>,
    #[command(flatten)]
    pub(crate) body: BodyArg,
}

/// The pod commands beyond the common ones.
#[derive(Debug, Subcommand)]
pub(crate) enum PodMore {
    /// Change a pod.
    Update(Update<NamedContainer>),
    /// Start a stopped pod.
    Start(IdArg),
    /// Stop a running pod (its volume is kept).
    Stop(IdArg),
    /// Restart a pod.
    Restart(IdArg),
    /// Print a pod's logs.
    #[command(
        long_about = "Print a pod's logs: the last --tail lines, then, with --follow, new lines as \
they are written (until Ctrl-C). Without --follow the command ends once the log has been quiet \
for a moment."
    )]
    Logs {
        #[command(flatten)]
        id: IdArg,
        /// Keep printing new lines as they are written.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Lines from before now to print first (0 to 5000).
        #[arg(long, value_name = "N", default_value_t = 100)]
        tail: i64,
    },
}

/// `volumes create`.
#[derive(Debug, Args)]
pub(crate) struct VolumeCreate {
    /// Volume name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Data center id, e.g. EU-RO-1.
    #[arg(long, value_name = "ID")]
    pub(crate) data_center: Option<String>,
    /// Size in GB.
    #[arg(long, value_name = "GB")]
    pub(crate) size: Option<i64>,
    #[command(flatten)]
    pub(crate) body: BodyArg,
}

/// `volumes update`.
#[derive(Debug, Args)]
pub(crate) struct VolumeUpdate {
    /// New name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// New size in GB (volumes only grow).
    #[arg(long, value_name = "GB")]
    pub(crate) size: Option<i64>,
    #[command(flatten)]
    pub(crate) body: BodyArg,
}

/// `registries create`.
#[derive(Debug, Args)]
pub(crate) struct RegistryCreate {
    /// Credential name.
    #[arg(long)]
    pub(crate) name: String,
    /// Registry user name.
    #[arg(long)]
    pub(crate) username: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GpusCommand {
    /// GPU types with memory, availability and prices ($/h per GPU).
    List {
        /// Only GPU types that can be rented now.
        #[arg(long)]
        available: bool,
        /// Only GPU types with at least this much memory.
        #[arg(long, value_name = "GB")]
        min_memory: Option<i64>,
    },
    /// One GPU type.
    Get(IdArg),
}

/// Billing buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Bucket {
    /// One row per hour.
    Hour,
    /// One row per day.
    Day,
    /// One row per week.
    Week,
    /// One row per month.
    Month,
    /// One row per year.
    Year,
}

#[derive(Debug, Args)]
pub(crate) struct BillingArgs {
    /// Row size.
    #[arg(long, value_enum, default_value_t = Bucket::Day)]
    pub(crate) bucket: Bucket,
    /// Start (RFC 3339, e.g. 2026-01-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub(crate) start: Option<String>,
    /// End (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub(crate) end: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LocalCommand {
    /// Serve a local endpoint (the client queue API and the worker protocol) until Ctrl-C.
    #[command(
        long_about = "Serve a local endpoint (the client queue API and the worker protocol) until \
Ctrl-C, like the `runpod-local` binary: it prints `listening on URL`, then the environment a worker \
and clients need, as `export` lines. With --api-key (or RUNPOD_LOCAL_API_KEY) the server requires \
that key; a --host other than loopback requires a key unless --insecure-no-auth is given."
    )]
    Serve {
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port to bind; 0 picks a free one.
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Endpoint id used in the printed worker environment.
        #[arg(long, default_value = "local")]
        endpoint_id: String,
        /// Worker id used in the printed worker environment.
        #[arg(long, default_value = "local-worker")]
        worker_id: String,
        #[command(flatten)]
        server: runpod_local::ServeArgs,
    },
}

pub(crate) fn duration(value: &str) -> Result<Duration, String> {
    runpod_local::parse_duration(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_is_consistent() {
        Cli::grammar().debug_assert();
    }

    #[test]
    fn run_modes_exclude_each_other() {
        let err = Cli::try_parse_from(["runpod", "run", "ep", "--sync", "--stream"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let err = Cli::try_parse_from(["runpod", "run", "ep", "--input", "1", "--input-file", "f"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from(["runpod", "pods", "list", "-o", "json", "--profile", "p"])
            .unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.profile.as_deref(), Some("p"));
    }

    #[test]
    fn env_flags_need_an_equals_sign() {
        assert_eq!(
            env_pair("A=b=c").unwrap(),
            ("A".to_owned(), "b=c".to_owned())
        );
        assert!(env_pair("A").is_err());
        assert!(env_pair("=x").is_err());
    }
}
