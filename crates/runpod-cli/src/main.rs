//! `runpod`: the Runpod command line.
//!
//! A thin shell over the `runpod` SDK: it parses arguments, builds the clients, calls the SDK
//! and prints what comes back as a table or as JSON. Every failure becomes one line on stderr
//! and an exit code that says which kind of failure it was (see [`error::ExitClass`]).

mod cli;
mod commands;
mod context;
mod credentials;
mod error;
mod input;
mod output;
mod spinner;
mod style;
mod table;

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use crate::cli::Cli;
use crate::error::{CliError, ExitClass};

fn main() -> ExitCode {
    quiet_panics();
    let cli = match Cli::from_process_args() {
        Ok(cli) => cli,
        // Help and --version are "errors" that clap prints to stdout with code 0.
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    let style = style::Style::for_stderr(cli.global.no_color);
    // A server logs its requests at info, as the `runpod-local` binary does.
    let serving = matches!(cli.command, cli::Command::Local(_));
    init_tracing(cli.global.verbose, serving, style.enabled());
    let verbose = cli.global.verbose > 0;

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return report(
                &CliError::new(
                    ExitClass::Failure,
                    format!("cannot start the runtime: {err}"),
                ),
                style,
            );
        }
    };
    let result = runtime.block_on(commands::dispatch(cli));
    // `local serve` and log streams may leave tasks behind; they must not hold the exit.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            if verbose && let Some(detail) = err.detail() {
                let _ = writeln!(std::io::stderr(), "{detail}");
            }
            report(&err, style)
        }
    }
}

/// Prints the error's one line and returns its exit code.
fn report(err: &CliError, style: style::Style) -> ExitCode {
    let _ = writeln!(
        std::io::stderr(),
        "{} {}",
        style.error("error:"),
        err.message()
    );
    ExitCode::from(err.class().code())
}

/// `-v` logs the SDK at debug, `-vv` everything at trace; `RUST_LOG` wins when set.
fn init_tracing(verbose: u8, serving: bool, ansi: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::new(v),
        _ => EnvFilter::new(match verbose {
            0 if serving => "runpod_local=info",
            0 => "off",
            1 => {
                "warn,runpod=debug,runpod_serverless=debug,runpod_admin=debug,runpod_transport=debug,runpod_local=info"
            }
            _ => "trace",
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi && std::io::stderr().is_terminal())
        .try_init();
}

/// A panic is a bug in this program: one line that says so instead of a backtrace.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "error: internal error{at}: {what}; please report this bug"
        );
    }));
}
