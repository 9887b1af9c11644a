//! What the user hands in besides flags: job input, request bodies, secrets.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use serde_json::Value;

use crate::cli::InputArgs;
use crate::error::{CliError, CliResult};

/// The job input: `--input`, `--input-file` (`-` is stdin) or stdin when it is piped.
pub(crate) fn job_input(args: &InputArgs) -> CliResult<Value> {
    let (text, from) = match (&args.input, &args.input_file) {
        (Some(json), _) => (json.clone(), "--input".to_owned()),
        (None, Some(path)) if path == Path::new("-") => (read_stdin()?, "stdin".to_owned()),
        (None, Some(path)) => (
            std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!("cannot read --input-file {}: {e}", path.display()))
            })?,
            path.display().to_string(),
        ),
        (None, None) if std::io::stdin().is_terminal() => {
            return Err(CliError::usage(
                "no job input: pass --input JSON, --input-file FILE, or pipe JSON into stdin",
            ));
        }
        (None, None) => (read_stdin()?, "stdin".to_owned()),
    };
    parse_json(&text, &from)
}

/// A `--body`: JSON inline, `@FILE`, or `@-` for stdin. It must be an object.
pub(crate) fn body(raw: Option<&str>) -> CliResult<serde_json::Map<String, Value>> {
    let Some(raw) = raw else {
        return Ok(serde_json::Map::new());
    };
    let (text, from) = match raw.strip_prefix('@') {
        Some("-") => (read_stdin()?, "stdin".to_owned()),
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("cannot read --body file {path}: {e}")))?,
            path.to_owned(),
        ),
        None => (raw.to_owned(), "--body".to_owned()),
    };
    match parse_json(&text, &from)? {
        Value::Object(map) => Ok(map),
        _ => Err(CliError::usage(format!(
            "{from}: the body must be a JSON object"
        ))),
    }
}

fn parse_json(text: &str, from: &str) -> CliResult<Value> {
    serde_json::from_str(text).map_err(|e| {
        CliError::usage(format!(
            "{from} is not valid JSON (line {}, column {}): {}",
            e.line(),
            e.column(),
            reason(&e)
        ))
    })
}

/// serde_json's message without its trailing position, which the caller already gives.
fn reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn read_stdin() -> CliResult<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
    Ok(text)
}

/// A secret: prompted without echo on a terminal, else the first line of stdin.
pub(crate) fn secret(prompt: &str, what: &str) -> CliResult<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::failure(format!("cannot read the {what}: {e}")))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::failure(format!("cannot read the {what} from stdin: {e}")))?;
        line
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(CliError::usage(format!("no {what} given")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_json_names_where_and_why_on_one_line() {
        let err = parse_json("{\"a\": }", "--input").unwrap_err();
        assert_eq!(
            err.message(),
            "--input is not valid JSON (line 1, column 7): expected value"
        );
    }

    #[test]
    fn bodies_must_be_objects() {
        assert!(
            body(Some("{\"name\": \"x\"}"))
                .unwrap()
                .contains_key("name")
        );
        assert!(body(Some("[1]")).is_err());
        assert!(body(None).unwrap().is_empty());
    }
}
