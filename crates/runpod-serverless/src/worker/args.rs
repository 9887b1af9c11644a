//! Command-line flags of a worker binary, with the Python worker's names.
//!
//! Hand-parsed: a handful of flags does not justify clap in a library that every worker links.

use std::net::IpAddr;

/// Flags a worker binary understands. Both the Python spelling (`--rp_serve_api`) and the
/// kebab-case one (`--rp-serve-api`) work, as do `--flag value` and `--flag=value`. Unknown flags
/// are ignored, as Python's `parse_known_args` does, so a binary can have flags of its own.
///
/// | Flag | Effect |
/// |---|---|
/// | `--test_input <json>` | run this one job locally (`{"input": …}`), print the result, exit |
/// | `--rp_serve_api` | serve a local Runpod endpoint (`runpod-local`) and run the worker against it |
/// | `--rp_api_host <host>` | its bind address (default `localhost`) |
/// | `--rp_api_port <port>` | its port (default 8000) |
/// | `--rp_api_concurrency <n>` | the worker's concurrency in that mode |
/// | `--rp_log_level <level>` | log level (overrides `RUNPOD_LOG_LEVEL`) |
/// | `--concurrency <n>` | the worker's concurrency (replaces the value set in code) |
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Args {
    /// `--test_input`: the JSON text of a local test job.
    pub test_input: Option<String>,
    /// `--rp_serve_api`.
    pub serve_api: bool,
    /// `--rp_api_host` (raw; resolved when the server binds).
    pub api_host: Option<String>,
    /// `--rp_api_port`.
    pub api_port: Option<u16>,
    /// `--rp_api_concurrency`.
    pub api_concurrency: Option<usize>,
    /// `--rp_log_level`.
    pub log_level: Option<String>,
    /// `--concurrency`.
    pub concurrency: Option<usize>,
    /// Flags that were recognised but whose value was invalid, as `(flag, message)`.
    pub invalid: Vec<(String, String)>,
}

/// Default `--rp_api_port`.
pub const DEFAULT_API_PORT: u16 = 8000;

impl Args {
    /// Parses the process's arguments (`std::env::args()`).
    pub fn parse() -> Self {
        Self::parse_from(std::env::args())
    }

    /// Parses `args`; the first item is the program name, as in `std::env::args()`.
    ///
    /// ```
    /// # use runpod_serverless::__runpod as runpod;
    /// use runpod::worker::Args;
    /// let a = Args::parse_from(["w", "--rp-serve-api", "--rp_api_port=9000", "--other", "x"]);
    /// assert!(a.serve_api);
    /// assert_eq!(a.api_port, Some(9000));
    /// ```
    pub fn parse_from<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = Self::default();
        let mut it = args.into_iter().map(Into::into).skip(1).peekable();
        while let Some(arg) = it.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n.replace('-', "_"), Some(v.to_owned())),
                None => (flag.replace('-', "_"), None),
            };
            if name == "rp_serve_api" {
                out.serve_api = match inline.as_deref() {
                    None | Some("true" | "1") => true,
                    Some(_) => false,
                };
                continue;
            }
            if !matches!(
                name.as_str(),
                "test_input"
                    | "rp_api_host"
                    | "rp_api_port"
                    | "rp_api_concurrency"
                    | "rp_log_level"
                    | "concurrency"
            ) {
                continue;
            }
            let value = match inline {
                Some(v) => v,
                // The next flag is never taken as a value; a missing value is reported instead.
                None => match it.next_if(|next| !next.starts_with("--")) {
                    Some(v) => v,
                    None => {
                        out.invalid.push((name, "a value is required".to_owned()));
                        continue;
                    }
                },
            };
            match name.as_str() {
                "test_input" => out.test_input = Some(value),
                "rp_api_host" => out.api_host = Some(value),
                "rp_log_level" => out.log_level = Some(value),
                "rp_api_port" => match value.parse() {
                    Ok(p) => out.api_port = Some(p),
                    Err(_) => out
                        .invalid
                        .push((name, format!("{value:?} is not a port number"))),
                },
                "rp_api_concurrency" | "concurrency" => match value.parse::<usize>() {
                    Ok(n) if n > 0 => {
                        if name == "concurrency" {
                            out.concurrency = Some(n);
                        } else {
                            out.api_concurrency = Some(n);
                        }
                    }
                    _ => out
                        .invalid
                        .push((name, format!("{value:?} is not a positive number"))),
                },
                _ => {}
            }
        }
        out
    }

    /// The address `--rp_serve_api` binds to: `--rp_api_host` (default `localhost`, i.e.
    /// `127.0.0.1`) and `--rp_api_port` (default 8000).
    ///
    /// # Errors
    ///
    /// [`is_invalid_input`](runpod_transport::Error::is_invalid_input) when the host is neither
    /// `localhost` nor an IP address.
    pub fn api_addr(&self) -> Result<std::net::SocketAddr, runpod_transport::Error> {
        let port = self.api_port.unwrap_or(DEFAULT_API_PORT);
        let host = self.api_host.as_deref().unwrap_or("localhost");
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::from([127, 0, 0, 1])
        } else {
            host.parse().map_err(|_| {
                runpod_transport::Error::invalid_input(format!(
                    "--rp_api_host {host:?} is not an IP address or localhost"
                ))
            })?
        };
        Ok((ip, port).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_and_kebab_spellings() {
        let a = Args::parse_from([
            "w",
            "--test_input",
            r#"{"input": 1}"#,
            "--rp_api_host=0.0.0.0",
            "--rp-api-port",
            "9001",
            "--rp_api_concurrency",
            "3",
            "--rp-log-level",
            "DEBUG",
            "--concurrency=4",
        ]);
        assert_eq!(a.test_input.as_deref(), Some(r#"{"input": 1}"#));
        assert_eq!(a.api_host.as_deref(), Some("0.0.0.0"));
        assert_eq!(a.api_port, Some(9001));
        assert_eq!(a.api_concurrency, Some(3));
        assert_eq!(a.log_level.as_deref(), Some("DEBUG"));
        assert_eq!(a.concurrency, Some(4));
        assert!(!a.serve_api);
        assert!(a.invalid.is_empty());
        let b = Args::parse_from(["w", "--test-input", "{}", "--rp-serve-api"]);
        assert_eq!(b.test_input.as_deref(), Some("{}"));
        assert!(b.serve_api);
    }

    #[test]
    fn unknown_flags_and_positionals_are_ignored() {
        let a = Args::parse_from(["w", "--my-flag", "v", "pos", "--rp_serve_api", "--verbose"]);
        assert!(a.serve_api);
        assert_eq!(
            a,
            Args {
                serve_api: true,
                ..Args::default()
            }
        );
    }

    #[test]
    fn program_name_is_skipped() {
        assert_eq!(Args::parse_from(["--rp_serve_api"]), Args::default());
    }

    #[test]
    fn bad_values_are_reported_not_fatal() {
        let a = Args::parse_from([
            "w",
            "--rp_api_port",
            "http",
            "--concurrency",
            "0",
            "--test_input",
        ]);
        assert_eq!(a.api_port, None);
        assert_eq!(a.concurrency, None);
        let names: Vec<&str> = a.invalid.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["rp_api_port", "concurrency", "test_input"]);
    }

    #[test]
    fn api_addr_defaults_to_localhost_8000() {
        assert_eq!(
            Args::default().api_addr().unwrap().to_string(),
            "127.0.0.1:8000"
        );
        let a = Args::parse_from(["w", "--rp_api_host", "0.0.0.0", "--rp_api_port", "0"]);
        assert_eq!(a.api_addr().unwrap().to_string(), "0.0.0.0:0");
        let bad = Args::parse_from(["w", "--rp_api_host", "example.com"]);
        assert!(bad.api_addr().is_err());
    }
}
