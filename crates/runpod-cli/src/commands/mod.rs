//! One module per group of commands; each calls the SDK and prints what comes back.

mod account;
pub(crate) mod batch;
mod config;
mod jobs;
mod lb;
mod local;
mod resources;

use self::resources::{Endpoints, Pods, Registries, Templates, Volumes};
use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitClass};

pub(crate) async fn dispatch(cli: Cli) -> CliResult {
    let ctx = Context::new(cli.global);
    match cli.command {
        Command::Config { key } => config::run(&ctx, key.as_deref()),
        Command::Run(args) => jobs::run(&ctx, args).await,
        Command::Job(command) => jobs::job(&ctx, command).await,
        Command::Endpoint(command) => jobs::endpoint(&ctx, command).await,
        Command::Endpoints(command) => resources::run::<Endpoints>(&ctx, command).await,
        Command::Templates(command) => resources::run::<Templates>(&ctx, command).await,
        Command::Pods(command) => resources::run::<Pods>(&ctx, command).await,
        Command::Volumes(command) => resources::run::<Volumes>(&ctx, command).await,
        Command::Registries(command) => resources::run::<Registries>(&ctx, command).await,
        Command::Lb(command) => lb::run(&ctx, command).await,
        Command::Gpus(command) => account::gpus(&ctx, command).await,
        Command::Billing(args) => account::billing(&ctx, args).await,
        Command::Account => account::account(&ctx).await,
        Command::Local(command) => local::run(&ctx, *command).await,
        Command::Batch(command) => batch::run(&ctx, command).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::grammar(), "runpod", &mut script);
            ctx.out.raw(&String::from_utf8_lossy(&script))
        }
    }
}

/// Resolves when the user presses Ctrl-C (never, if the signal cannot be watched).
pub(crate) async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Ctrl-C while a job runs: say how to find it again.
pub(crate) fn interrupted_job(endpoint: &str, job: &str) -> CliError {
    CliError::new(
        ExitClass::Interrupted,
        format!(
            "interrupted; job {job} keeps running: `runpod job status {endpoint} {job}`, `runpod job cancel {endpoint} {job}`"
        ),
    )
}
