//! The error a handler returns when it wants to name the kind of failure itself, and the
//! `error_type` reported for every other error.

use std::any::Any;
use std::fmt;

/// A handler error with a kind of your choosing, reported as the job's `error_type` (what the
/// Python worker fills with the exception's class, e.g. `<class 'ValueError'>`).
///
/// Other error types are reported by their type's own name (`InvalidPrompt` for a
/// `my_crate::InvalidPrompt`), and plain text errors (`String`, `&str`, boxed errors,
/// `anyhow::Error`) as the neutral `HandlerError`.
///
/// ```
/// # use runpod_serverless::__runpod as runpod;
/// use runpod::worker::{Job, JobError};
///
/// async fn handler(job: Job<String>) -> Result<String, JobError> {
///     if job.input().is_empty() {
///         return Err(JobError::new("InvalidPrompt", "the prompt is empty"));
///     }
///     Ok(job.input().to_uppercase())
/// }
/// # fn assert_handler<M, H: runpod::worker::Handler<M>>(_: H) {}
/// # assert_handler(handler);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    kind: String,
    message: String,
}

impl JobError {
    /// An error of `kind` (the report's `error_type`) saying `message` (its `error_message`).
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// The kind, reported as `error_type`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The message, reported as `error_message`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JobError {}

/// The `error_type` of a handler's error in the failure report.
pub(crate) fn error_type_of<E: Any>(error: &E) -> String {
    if let Some(job_error) = (error as &dyn Any).downcast_ref::<JobError>() {
        return job_error.kind.clone();
    }
    type_label(std::any::type_name::<E>())
}

/// A type's name as a person reads it: the last path segment without generics, or
/// `HandlerError` for types that only carry text (their name says nothing about the failure).
fn type_label(type_name: &str) -> String {
    const TEXT_ONLY: [&str; 6] = [
        "alloc::string::String",
        "&str",
        "alloc::borrow::Cow<str>",
        "anyhow::Error",
        "eyre::Report",
        "core::convert::Infallible",
    ];
    let plain = type_name.split('<').next().unwrap_or(type_name);
    if TEXT_ONLY.contains(&type_name)
        || plain.starts_with("alloc::boxed::Box")
        || plain.starts_with("alloc::sync::Arc")
        || type_name.starts_with('&')
    {
        return "HandlerError".to_owned();
    }
    let last = plain.rsplit("::").next().unwrap_or(plain);
    if last.is_empty() {
        "HandlerError".to_owned()
    } else {
        last.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct InvalidPrompt;

    #[test]
    fn text_errors_get_a_neutral_type() {
        assert_eq!(error_type_of(&String::from("x")), "HandlerError");
        assert_eq!(error_type_of(&"x"), "HandlerError");
        let boxed: Box<dyn std::error::Error + Send + Sync> = "x".into();
        assert_eq!(error_type_of(&boxed), "HandlerError");
    }

    #[test]
    fn named_errors_keep_their_name_and_job_errors_their_kind() {
        assert_eq!(error_type_of(&InvalidPrompt), "InvalidPrompt");
        assert_eq!(
            error_type_of(&std::io::Error::other("disk")),
            "Error",
            "std::io::Error"
        );
        assert_eq!(error_type_of(&std::fmt::Error), "Error");
        assert_eq!(
            error_type_of(&JobError::new("OutOfCredits", "no credits")),
            "OutOfCredits"
        );
        assert_eq!(
            type_label("my_crate::errors::Failure<alloc::string::String>"),
            "Failure"
        );
    }
}
