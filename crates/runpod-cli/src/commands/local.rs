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
    } = command;
    let key = ctx
        .api_key_flag()
        .map(str::to_owned)
        .or_else(|| std::env::var(LOCAL_KEY_ENV).ok().filter(|k| !k.is_empty()));
    let mut builder = Server::builder().shutdown_on(interrupted());
    if let Some(key) = key {
        builder = builder.api_key(key);
    }
    let server = builder
        .bind((host.as_str(), port))
        .await
        .map_err(|e| CliError::failure(format!("cannot listen on {host}:{port}: {e}")))?;
    let mut text = format!("listening on {}\n", server.base_url());
    for (name, value) in server.worker_env(&endpoint_id, &worker_id) {
        text.push_str(&format!("export {name}={}\n", shell_quote(&value)));
    }
    text.push_str(&format!(
        "export RUNPOD_ENDPOINT_BASE_URL={}\n",
        shell_quote(&server.serverless_base_url())
    ));
    ctx.out.raw(&text)?;
    server.stopped().await;
    Ok(())
}

/// Quotes for POSIX shells when needed (the `runpod-local` binary's rule): `$ID` and friends
/// must reach the worker literally.
fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@%+,=".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn values_with_shell_syntax_are_single_quoted() {
        assert_eq!(
            shell_quote("http://127.0.0.1:1/v2"),
            "http://127.0.0.1:1/v2"
        );
        assert_eq!(
            shell_quote("http://h/v2/local/job-take/$ID?gpu=LOCAL"),
            "'http://h/v2/local/job-take/$ID?gpu=LOCAL'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
