//! ANSI colours, on only for terminals and never with `--no-color` or `NO_COLOR`.

use std::io::IsTerminal as _;

/// Whether to colour one output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Style {
    enabled: bool,
}

impl Style {
    #[cfg(test)]
    pub(crate) const PLAIN: Style = Style { enabled: false };

    /// Colour for stdout when it is a terminal.
    pub(crate) fn for_stdout(no_color: bool) -> Self {
        Self::decide(no_color, std::io::stdout().is_terminal())
    }

    /// Colour for stderr when it is a terminal.
    pub(crate) fn for_stderr(no_color: bool) -> Self {
        Self::decide(no_color, std::io::stderr().is_terminal())
    }

    fn decide(no_color: bool, terminal: bool) -> Self {
        // https://no-color.org: any non-empty value switches colour off.
        let env_off = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Style {
            enabled: terminal && !no_color && !env_off,
        }
    }

    pub(crate) fn enabled(self) -> bool {
        self.enabled
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn error(self, text: &str) -> String {
        self.paint("1;31", text)
    }

    pub(crate) fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub(crate) fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Colours a job or pod status by how it ended.
    pub(crate) fn status(self, text: &str) -> String {
        match text {
            "COMPLETED" | "RUNNING" | "READY" | "HIGH" => self.paint("32", text),
            "FAILED" | "ERROR" | "TIMED_OUT" | "TERMINATED" | "NONE" => self.paint("31", text),
            "CANCELLED" | "EXITED" | "IN_QUEUE" | "LOW" => self.paint("33", text),
            _ => text.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_writes_no_escape_codes() {
        assert_eq!(Style::PLAIN.error("error:"), "error:");
        assert_eq!(Style::PLAIN.status("FAILED"), "FAILED");
        let on = Style { enabled: true };
        assert_eq!(on.bold("x"), "\x1b[1mx\x1b[0m");
        assert_eq!(on.status("PENDING"), "PENDING");
    }
}
