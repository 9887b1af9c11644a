//! What the command line says when something fails: one line, and an exit code per kind of
//! failure.

use std::time::Duration;

use runpod::transport::HumanDuration;
use runpod::{Error, Report};

/// The exit codes, one per kind of failure. `EXIT_CODES` documents them for `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitClass {
    /// Anything else: a file that cannot be read, an unexpected answer.
    Failure,
    /// Wrong arguments or input (clap uses 2 too).
    Usage,
    /// No API key, a broken config file, a bad URL.
    Config,
    /// The API refused the key (401) or the action (403).
    Auth,
    /// The API has no such resource or job (404).
    NotFound,
    /// Any other API error: 429, 5xx, other 4xx, GraphQL errors.
    Api,
    /// No connection, a broken connection or no answer in time.
    Network,
    /// The job ended FAILED.
    JobFailed,
    /// The job ended CANCELLED.
    JobCancelled,
    /// The job ended TIMED_OUT (its execution timeout on the server).
    JobTimedOut,
    /// `--timeout` passed while waiting; the job goes on.
    WaitTimeout,
    /// Ctrl-C.
    Interrupted,
}

impl ExitClass {
    pub(crate) fn code(self) -> u8 {
        match self {
            ExitClass::Failure => 1,
            ExitClass::Usage => 2,
            ExitClass::Config => 3,
            ExitClass::Auth => 4,
            ExitClass::NotFound => 5,
            ExitClass::Api => 6,
            ExitClass::Network => 7,
            ExitClass::JobFailed => 8,
            ExitClass::JobCancelled => 9,
            ExitClass::JobTimedOut => 10,
            ExitClass::WaitTimeout => 11,
            ExitClass::Interrupted => 130,
        }
    }
}

/// The exit code table of `runpod --help` and the README (a unit test keeps them in step with
/// [`ExitClass::code`]).
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    other failure (unreadable file, unexpected answer)
  2    usage error (bad arguments, invalid JSON input)
  3    configuration error (no API key, broken ~/.runpod/config.toml, bad URL)
  4    the API refused the key (401) or the action (403)
  5    not found (404): no such endpoint, job, pod, template, …
  6    other API error (429 rate limited, 5xx, other 4xx)
  7    network error (cannot connect, no answer in time)
  8    the job FAILED
  9    the job was CANCELLED
  10   the job TIMED_OUT on the server
  11   --timeout passed while waiting (the job keeps running)
  130  interrupted (Ctrl-C)";

/// A failure, ready to print.
#[derive(Debug)]
pub(crate) struct CliError {
    class: ExitClass,
    message: String,
    /// The SDK's full report, shown with `-v`.
    detail: Option<String>,
    broken_pipe: bool,
}

pub(crate) type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    pub(crate) fn new(class: ExitClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: one_line(&message.into()),
            detail: None,
            broken_pipe: false,
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitClass::Usage, message)
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(ExitClass::Config, message)
    }

    pub(crate) fn failure(message: impl Into<String>) -> Self {
        Self::new(ExitClass::Failure, message)
    }

    /// The key is missing: say every way to give one.
    pub(crate) fn no_api_key() -> Self {
        Self::config(
            "no API key: run `runpod config` to store one, set RUNPOD_API_KEY, or pass --api-key",
        )
    }

    /// Writing to stdout failed; a closed pipe (`runpod … | head`) is not an error.
    pub(crate) fn output(err: &std::io::Error) -> Self {
        let mut e = Self::failure(format!("cannot write the output: {err}"));
        e.broken_pipe = err.kind() == std::io::ErrorKind::BrokenPipe;
        e
    }

    pub(crate) fn class(&self) -> ExitClass {
        self.class
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    pub(crate) fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }

    fn with_detail(mut self, err: &Error) -> Self {
        self.detail = Some(Report(err).to_string());
        self
    }
}

/// What the failed call was doing, for the message.
#[derive(Debug, Clone)]
pub(crate) struct Doing {
    /// e.g. `get template tpl-1`, `health of endpoint ep-1`.
    pub(crate) what: String,
    /// The base URL the call went to (for connection errors).
    pub(crate) base: String,
    /// The endpoint, when the call was about one of its jobs (for "how to resume" hints).
    pub(crate) endpoint: Option<String>,
    /// How long the call waited for a job, when it was bounded.
    pub(crate) timeout: Option<Duration>,
}

impl Doing {
    pub(crate) fn new(what: impl Into<String>, base: &str) -> Self {
        Self {
            what: what.into(),
            base: base.to_owned(),
            endpoint: None,
            timeout: None,
        }
    }

    pub(crate) fn on_endpoint(mut self, endpoint: &str) -> Self {
        self.endpoint = Some(endpoint.to_owned());
        self
    }

    pub(crate) fn waiting_up_to(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Turns an SDK error into the line the user sees.
    pub(crate) fn fail(&self, err: Error) -> CliError {
        classify(self, &err).with_detail(&err)
    }

    /// A closure for `map_err`.
    pub(crate) fn err(&self) -> impl Fn(Error) -> CliError + '_ {
        move |e| self.fail(e)
    }
}

fn classify(doing: &Doing, err: &Error) -> CliError {
    let what = &doing.what;
    let job = err.job_id().unwrap_or("?");
    if err.is_job_failed() {
        let why = err
            .job_error_summary()
            .unwrap_or_else(|| "the worker gave no error".to_owned());
        return CliError::new(ExitClass::JobFailed, format!("job {job} failed: {why}"));
    }
    if err.is_job_cancelled() {
        return CliError::new(ExitClass::JobCancelled, format!("job {job} was cancelled"));
    }
    if err.is_job_timed_out() {
        return CliError::new(
            ExitClass::JobTimedOut,
            format!("job {job} timed out: it ran past its execution timeout on the server"),
        );
    }
    if err.is_config() {
        return CliError::config(err.to_string());
    }
    if err.is_invalid_input() {
        return CliError::usage(format!("{what}: {err}"));
    }
    if err.is_unauthorized() {
        return CliError::new(
            ExitClass::Auth,
            format!(
                "{what}: the API key was refused (401 unauthorized); check it with `runpod config` or RUNPOD_API_KEY"
            ),
        );
    }
    if err.is_forbidden() {
        return CliError::new(
            ExitClass::Auth,
            format!(
                "{what}: access denied (403 forbidden){}; the API key lacks the permission for this",
                server_says(err)
            ),
        );
    }
    if err.is_not_found() {
        let hint = if err.job_id().is_some() {
            "; the job id is unknown, or its result or ttl expired"
        } else {
            "; check the id"
        };
        return CliError::new(
            ExitClass::NotFound,
            format!("{what}: not found (404){}{hint}", server_says(err)),
        );
    }
    if err.is_rate_limited() {
        let attempts = err
            .attempts()
            .map(|n| format!(" after {n} attempts"))
            .unwrap_or_default();
        let again = err
            .retry_after()
            .map(|d| format!("try again in {}", HumanDuration(d)))
            .unwrap_or_else(|| "try again later".to_owned());
        return CliError::new(
            ExitClass::Api,
            format!("{what}: rate limited by the API (429){attempts}; {again}"),
        );
    }
    if let Some(status) = err.status().filter(|s| s.is_server_error()) {
        return CliError::new(
            ExitClass::Api,
            format!(
                "{what}: server error {} ({}){}; try again later",
                status.as_u16(),
                status
                    .canonical_reason()
                    .unwrap_or("unknown")
                    .to_lowercase(),
                server_says(err)
            ),
        );
    }
    if err.is_status() || err.is_graphql() {
        return CliError::new(ExitClass::Api, format!("{what}: {err}"));
    }
    if err.is_timeout() && err.job_id().is_some() && err.status().is_none() {
        let resume = match &doing.endpoint {
            Some(ep) => format!("runpod job wait {ep} {job}"),
            None => format!("runpod job wait ENDPOINT {job}"),
        };
        let after = doing
            .timeout
            .map(|t| format!(" after {}", HumanDuration(t)))
            .unwrap_or_default();
        return CliError::new(
            ExitClass::WaitTimeout,
            format!("gave up waiting for job {job}{after}; it keeps running: `{resume}`"),
        );
    }
    if err.is_connect() {
        return CliError::new(
            ExitClass::Network,
            format!(
                "{what}: cannot connect to {}; check the network, or --api-url / --endpoint-url",
                doing.base
            ),
        );
    }
    if err.is_timeout() {
        return CliError::new(
            ExitClass::Network,
            format!("{what}: {err}; the API did not answer in time"),
        );
    }
    if err.is_decode() {
        return CliError::failure(format!("{what}: unexpected answer from the API: {err}"));
    }
    // A connection broken mid-request, and kinds this version does not know.
    CliError::new(ExitClass::Network, format!("{what}: {err}"))
}

/// `: <the server's explanation>`, when it gave one.
fn server_says(err: &Error) -> String {
    err.api_error()
        .and_then(|a| a.detail.clone().or_else(|| a.message.clone()))
        .map(|d| format!(": {}", cut(&d, 200)))
        .unwrap_or_default()
}

fn one_line(s: &str) -> String {
    s.replace("\r\n", " ").replace(['\n', '\r'], " ")
}

fn cut(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doing() -> Doing {
        Doing::new("status of job j1 on endpoint ep", "http://127.0.0.1:9/v2").on_endpoint("ep")
    }

    #[test]
    fn the_help_table_lists_every_code() {
        for class in [
            ExitClass::Failure,
            ExitClass::Usage,
            ExitClass::Config,
            ExitClass::Auth,
            ExitClass::NotFound,
            ExitClass::Api,
            ExitClass::Network,
            ExitClass::JobFailed,
            ExitClass::JobCancelled,
            ExitClass::JobTimedOut,
            ExitClass::WaitTimeout,
            ExitClass::Interrupted,
        ] {
            let line = format!("\n  {:<4} ", class.code());
            assert!(
                EXIT_CODES.contains(&line),
                "{class:?} missing from the table"
            );
        }
    }

    #[test]
    fn the_readme_shows_the_same_table() {
        let readme = include_str!("../README.md");
        assert!(
            readme.contains(&format!("```text\n{EXIT_CODES}\n```")),
            "README.md's exit code table differs from EXIT_CODES"
        );
    }

    #[test]
    fn job_outcomes_have_their_own_codes_and_say_why() {
        let failed = doing().fail(Error::job_ended(
            "j1",
            "FAILED",
            Some(json!(
                r#"{"error_type": "ValueError", "error_message": "bad input"}"#
            )),
        ));
        assert_eq!(failed.class(), ExitClass::JobFailed);
        assert_eq!(failed.message(), "job j1 failed: ValueError: bad input");

        let plain = doing().fail(Error::job_ended("j1", "FAILED", Some(json!("boom"))));
        assert_eq!(plain.message(), "job j1 failed: boom");

        let cancelled = doing().fail(Error::job_ended("j1", "CANCELLED", None));
        assert_eq!(cancelled.class(), ExitClass::JobCancelled);
        let timed_out = doing().fail(Error::job_ended("j1", "TIMED_OUT", None));
        assert_eq!(timed_out.class(), ExitClass::JobTimedOut);
    }

    #[test]
    fn a_wait_timeout_says_how_to_resume() {
        let err = doing().fail(Error::wait_timeout("j1"));
        assert_eq!(err.class(), ExitClass::WaitTimeout);
        assert!(
            err.message().contains("`runpod job wait ep j1`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn invalid_input_is_a_usage_error() {
        let err = doing().fail(Error::invalid_input("ttl out of range"));
        assert_eq!(err.class(), ExitClass::Usage);
        assert_eq!(err.class().code(), 2);
    }

    #[test]
    fn messages_stay_on_one_line() {
        let err = CliError::failure("a\nb\r\nc");
        assert_eq!(err.message(), "a b c");
    }
}
