//! Writing results to stdout: tables and text, or JSON.

use std::io::{IsTerminal as _, Write};

use serde::Serialize;
use serde_json::Value;

use crate::cli::OutputFormat;
use crate::error::{CliError, CliResult};
use crate::style::Style;
use crate::table::Table;

/// Where and how results go.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    format: OutputFormat,
    style: Style,
    width: Option<usize>,
}

impl Output {
    pub(crate) fn new(format: OutputFormat, no_color: bool) -> Self {
        Self {
            format,
            style: Style::for_stdout(no_color),
            width: terminal_width(),
        }
    }

    pub(crate) fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// One JSON document, pretty-printed.
    pub(crate) fn json<T: Serialize + ?Sized>(&self, value: &T) -> CliResult {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| CliError::failure(format!("cannot print the result as JSON: {e}")))?;
        self.write(&format!("{text}\n"))
    }

    /// One JSON document on one line (JSON lines, for streams).
    pub(crate) fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> CliResult {
        let text = serde_json::to_string(value)
            .map_err(|e| CliError::failure(format!("cannot print the result as JSON: {e}")))?;
        self.write(&format!("{text}\n"))
    }

    pub(crate) fn table(&self, table: &Table) -> CliResult {
        self.write(&table.render(self.width, self.style))
    }

    /// An object: JSON as it is, or a FIELD/VALUE table.
    pub(crate) fn object<T: Serialize>(&self, value: &T) -> CliResult {
        if self.is_json() {
            return self.json(value);
        }
        let value = to_value(value)?;
        self.table(&Table::fields(&value))
    }

    /// A job's output in text mode: a string as it is, anything else as indented JSON.
    pub(crate) fn output_value(&self, value: &Value) -> CliResult {
        match value {
            Value::String(s) => self.line(s),
            Value::Null => Ok(()),
            other => self.json(other),
        }
    }

    pub(crate) fn line(&self, text: &str) -> CliResult {
        self.write(&format!("{text}\n"))
    }

    /// Text without a newline, flushed at once (streamed chunks).
    pub(crate) fn raw(&self, text: &str) -> CliResult {
        self.write(text)
    }

    fn write(&self, text: &str) -> CliResult {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| CliError::output(&e))
    }
}

pub(crate) fn to_value<T: Serialize>(value: &T) -> CliResult<Value> {
    serde_json::to_value(value)
        .map_err(|e| CliError::failure(format!("cannot format the result: {e}")))
}

/// `COLUMNS` when set (tests, scripts), else the terminal's width; no limit when stdout is not a
/// terminal, so that piped tables keep every character.
fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return Some(columns);
    }
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0))
}
