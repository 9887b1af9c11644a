//! `runpod-bench`: benchmarks of the runpod-rs client and worker against the official Python SDK
//! (`runpod==1.12.0`) and a raw-HTTP baseline, and of runpod-local itself. Loopback only.
//!
//! Run through `cargo xtask bench {client,worker,local,lb}` (builds in release first); see
//! `bench/README.md`. Hidden subcommands (`serve`, `client-sdk`, `client-raw`) are the separate
//! processes the benches start, so that each measured process's RSS is its own.

mod client;
mod console;
mod count;
mod lb;
mod local;
mod measure;
mod openai;
mod openai_latency;
mod probe;
mod procs;
mod raw;
mod report;
mod serve;
mod wait;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Benchmarks for runpod-rs (loopback only).
#[derive(Debug, Parser)]
#[command(name = "runpod-bench")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Client throughput: our SDK vs a raw reqwest loop vs the Python AsyncioEndpoint.
    Client(client::Args),
    /// Worker throughput, cold start and RSS: our echo_worker vs the Python worker.
    Worker(worker::Args),
    /// runpod-local's capacity: status reads/s and run -> take -> done jobs/s.
    Local(local::Args),
    /// What waiting costs: requests per job, completion-to-caller latency and client CPU, for
    /// our client (long poll, poll), the official Python client and the official JS SDK.
    Wait(wait::Args),
    /// The load-balancing gateway: added latency vs the worker direct; our client vs raw reqwest.
    Lb(lb::Args),
    /// Streaming chat completions through runpod-local's OpenAI route and the openai_worker:
    /// our client vs the Python `openai` client.
    Openai(openai::Args),
    #[command(hide = true)]
    Serve(serve::Args),
    #[command(hide = true)]
    ClientSdk(client::ChildArgs),
    #[command(hide = true)]
    ClientRaw(client::ChildArgs),
    #[command(hide = true)]
    WaitSdk(wait::ChildArgs),
    OpenaiClient(openai::ChildArgs),
    #[command(hide = true)]
    LbLoad(lb::LoadArgs),
    #[command(hide = true)]
    LbServe,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report::say(format!("error: cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Cmd::Client(a) => client::run(a).await,
            Cmd::Worker(a) => worker::run(a).await,
            Cmd::Local(a) => local::run(a).await,
            Cmd::Lb(a) => lb::run(a).await,
            Cmd::LbLoad(a) => lb::child_load(a).await,
            Cmd::LbServe => lb::serve().await,
            Cmd::Openai(a) => openai::run(a).await,
            Cmd::OpenaiClient(a) => openai::child(a).await,
            Cmd::Serve(a) => serve::run(a).await,
            Cmd::ClientSdk(a) => client::child_sdk(a).await,
            Cmd::ClientRaw(a) => client::child_raw(a).await,
            Cmd::Wait(a) => wait::run(a).await,
            Cmd::WaitSdk(a) => wait::child_sdk(a).await,
        }
    });
    // Client loops still waiting at a time limit must not hold the process open.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "a command-line tool reports its error")]
            {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
