//! `WorkerEnv`: the configuration the platform hands a worker through environment variables.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use runpod_transport::{ApiKey, Config, ConfigBuilder};

use super::urls::WorkerUrls;

/// Default heartbeat period (`RUNPOD_PING_INTERVAL`, in milliseconds, unset).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_millis(10_000);

/// The worker's configuration, read from the environment the way the Python worker reads it.
///
/// | Variable | Use |
/// |---|---|
/// | `RUNPOD_WEBHOOK_GET_JOB` | job-take template (`$ID` → worker id). Unset → local test mode. |
/// | `RUNPOD_WEBHOOK_POST_OUTPUT` | job-done template (`$RUNPOD_POD_ID` → worker id, `$ID` → job id) |
/// | `RUNPOD_WEBHOOK_POST_STREAM` | job-stream template (same placeholders) |
/// | `RUNPOD_WEBHOOK_PING` | heartbeat template (`$RUNPOD_POD_ID` → worker id) |
/// | `RUNPOD_PING_INTERVAL` | heartbeat period in ms (default 10000; any value ≥ 1 works) |
/// | `RUNPOD_POD_ID` | worker id (default: a random uuid-like id) |
/// | `RUNPOD_AI_API_KEY` | worker key, sent raw as `Authorization` |
/// | `RUNPOD_ENDPOINT_ID`, `RUNPOD_POD_HOSTNAME` | endpoint id; hostname put in error reports |
/// | `RUNPOD_LOG_LEVEL` (else `RUNPOD_DEBUG_LEVEL`) | log level for [`start`](super::start) |
/// | `RUNPOD_INIT_TIMEOUT` | seconds the initializer and fitness checks may take (default 420) |
/// | `RUNPOD_HTTP_VERSION` | `auto` (default), `1.1` or `2`: as for clients ([`HttpVersion`](runpod_transport::HttpVersion)) |
///
/// Unlike the Python worker, `~/.runpod/config.toml` is never read: the key the platform puts in
/// the environment is the one used. Empty values count as unset. The key is redacted in `Debug`.
#[derive(Clone)]
pub struct WorkerEnv {
    pub(crate) get_job: Option<String>,
    pub(crate) post_output: Option<String>,
    pub(crate) post_stream: Option<String>,
    pub(crate) ping: Option<String>,
    pub(crate) ping_interval: Duration,
    pub(crate) worker_id: String,
    worker_id_generated: bool,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) endpoint_id: Option<String>,
    pub(crate) hostname: Option<String>,
    pub(crate) log_level: Option<String>,
    pub(crate) init_timeout: Option<Duration>,
    /// As written; parsed (and refused when unknown) with the worker's client configuration.
    http_version: Option<String>,
}

impl fmt::Debug for WorkerEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerEnv")
            .field("get_job", &self.get_job)
            .field("post_output", &self.post_output)
            .field("post_stream", &self.post_stream)
            .field("ping", &self.ping)
            .field("ping_interval", &self.ping_interval)
            .field("worker_id", &self.worker_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("endpoint_id", &self.endpoint_id)
            .field("hostname", &self.hostname)
            .field("log_level", &self.log_level)
            .field("init_timeout", &self.init_timeout)
            .field("http_version", &self.http_version)
            .finish()
    }
}

impl WorkerEnv {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(std::env::vars())
    }

    /// Reads the given variables instead of the process environment (tests, embedding).
    /// Unknown names are ignored.
    ///
    /// ```
    /// # use runpod_serverless::__runpod as runpod;
    /// use runpod::worker::WorkerEnv;
    /// let env = WorkerEnv::from_vars([
    ///     ("RUNPOD_WEBHOOK_GET_JOB", "http://127.0.0.1:8000/v2/ep/job-take/$ID"),
    ///     ("RUNPOD_POD_ID", "w1"),
    ///     ("RUNPOD_PING_INTERVAL", "250"),
    /// ]);
    /// assert_eq!(env.worker_id(), "w1");
    /// assert_eq!(env.ping_interval(), std::time::Duration::from_millis(250));
    /// assert!(!env.is_local());
    /// ```
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .filter(|(_, v)| !v.as_ref().trim().is_empty())
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().trim().to_owned()))
            .collect();
        let get = |k: &str| vars.get(k).cloned();
        let (worker_id, worker_id_generated) = match get("RUNPOD_POD_ID") {
            Some(id) => (id, false),
            None => (random_worker_id(), true),
        };
        Self {
            get_job: get("RUNPOD_WEBHOOK_GET_JOB"),
            post_output: get("RUNPOD_WEBHOOK_POST_OUTPUT"),
            post_stream: get("RUNPOD_WEBHOOK_POST_STREAM"),
            ping: get("RUNPOD_WEBHOOK_PING"),
            ping_interval: parse_ping_interval(get("RUNPOD_PING_INTERVAL").as_deref()),
            worker_id,
            worker_id_generated,
            api_key: get("RUNPOD_AI_API_KEY").map(ApiKey::new),
            endpoint_id: get("RUNPOD_ENDPOINT_ID"),
            hostname: get("RUNPOD_POD_HOSTNAME"),
            log_level: get("RUNPOD_LOG_LEVEL").or_else(|| get("RUNPOD_DEBUG_LEVEL")),
            // Seconds, as the platform reads it; a value that is not a number is ignored.
            init_timeout: get("RUNPOD_INIT_TIMEOUT")
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64),
            http_version: get("RUNPOD_HTTP_VERSION"),
        }
    }

    /// The worker's HTTP client settings: the worker protocol's authorization (the key sent as
    /// it is, its header value built once per client and marked sensitive) and the HTTP version.
    ///
    /// # Errors
    /// `RUNPOD_HTTP_VERSION` names no HTTP version.
    pub(crate) fn client_config(&self) -> Result<ConfigBuilder, runpod_transport::Error> {
        let mut config = Config::builder().with_raw_authorization();
        if let Some(key) = &self.api_key {
            config = config.with_api_key(key.expose());
        }
        if let Some(version) = &self.http_version {
            config = config.with_http_version(version.parse()?);
        }
        Ok(config)
    }

    /// True when `RUNPOD_WEBHOOK_GET_JOB` is unset: the worker then runs one local test job.
    pub fn is_local(&self) -> bool {
        self.get_job.is_none()
    }

    /// The worker id (`RUNPOD_POD_ID`, or a random id when unset).
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// True when `RUNPOD_POD_ID` was unset and the id was generated.
    pub fn worker_id_is_generated(&self) -> bool {
        self.worker_id_generated
    }

    /// The heartbeat period (`RUNPOD_PING_INTERVAL`).
    pub fn ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// `RUNPOD_ENDPOINT_ID`, if set.
    pub fn endpoint_id(&self) -> Option<&str> {
        self.endpoint_id.as_deref()
    }

    /// `RUNPOD_POD_HOSTNAME`, if set.
    pub fn hostname(&self) -> Option<&str> {
        self.hostname.as_deref()
    }

    /// `RUNPOD_LOG_LEVEL` (else `RUNPOD_DEBUG_LEVEL`), as written.
    pub fn log_level(&self) -> Option<&str> {
        self.log_level.as_deref()
    }

    /// Whether a worker key (`RUNPOD_AI_API_KEY`) is set. The key itself is never exposed here.
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// Replaces the heartbeat period.
    #[must_use]
    pub fn with_ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval.max(Duration::from_millis(1));
        self
    }

    pub(crate) fn urls(&self) -> WorkerUrls {
        WorkerUrls::new(
            self.get_job.as_deref(),
            self.post_output.as_deref(),
            self.post_stream.as_deref(),
            self.ping.as_deref(),
            &self.worker_id,
        )
    }
}

/// Milliseconds, as the platform writes them; no truncation to whole seconds (the Python worker
/// turns anything under 1000 into 0 and its heartbeat dies).
fn parse_ping_interval(v: Option<&str>) -> Duration {
    match v.map(str::parse::<u64>) {
        None => DEFAULT_PING_INTERVAL,
        Some(Ok(ms)) if ms > 0 => Duration::from_millis(ms),
        Some(_) => {
            tracing::warn!(
                value = v.unwrap_or_default(),
                "RUNPOD_PING_INTERVAL is not a positive number of milliseconds; using 10000"
            );
            DEFAULT_PING_INTERVAL
        }
    }
}

/// A uuid-v4-shaped id from the std hasher's random keys (no extra dependency).
fn random_worker_id() -> String {
    let a = super::random::u64();
    let b = super::random::u64();
    let (a, b) = (a.to_be_bytes(), b.to_be_bytes());
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a);
    bytes[8..].copy_from_slice(&b);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The machine's host name, for failure reports when `RUNPOD_POD_HOSTNAME` is unset (a worker
/// run by hand, in `docker run`, on another platform): the kernel's name, else `/etc/hostname`,
/// else `$HOSTNAME`, else `"unknown"` as the Python worker writes.
pub(crate) fn system_hostname() -> String {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    first_hostname([
        read("/proc/sys/kernel/hostname"),
        read("/etc/hostname"),
        std::env::var("HOSTNAME").ok(),
    ])
}

fn first_hostname(candidates: impl IntoIterator<Item = Option<String>>) -> String {
    candidates
        .into_iter()
        .flatten()
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use runpod_transport::HttpVersion;

    use super::WorkerEnv;

    #[test]
    fn the_http_version_reaches_the_workers_client_and_an_unknown_one_is_refused() {
        let config = |vars: &[(&str, &str)]| {
            WorkerEnv::from_vars(vars.iter().copied())
                .client_config()
                .and_then(runpod_transport::ConfigBuilder::build)
        };
        let version = |vars| config(vars).unwrap().http_version();
        assert_eq!(version(&[]), HttpVersion::Negotiate);
        assert_eq!(version(&[("RUNPOD_HTTP_VERSION", "2")]), HttpVersion::Http2);
        assert_eq!(
            version(&[("RUNPOD_HTTP_VERSION", "1.1")]),
            HttpVersion::Http1
        );
        let err = config(&[("RUNPOD_HTTP_VERSION", "h3")]).unwrap_err();
        assert!(err.is_config(), "{err}");
        // The worker's key is sent raw, as the worker protocol wants.
        let keyed = config(&[("RUNPOD_AI_API_KEY", "k")]).unwrap();
        assert!(keyed.raw_authorization() && keyed.api_key().is_some());
    }

    #[test]
    fn the_first_non_empty_host_name_wins() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            super::first_hostname([None, s(" \n"), s("box-1\n")]),
            "box-1"
        );
        assert_eq!(super::first_hostname([s("kernel"), s("file")]), "kernel");
        assert_eq!(super::first_hostname([None, None]), "unknown");
    }

    use super::*;

    #[test]
    fn reads_every_variable() {
        let env = WorkerEnv::from_vars([
            ("RUNPOD_WEBHOOK_GET_JOB", "http://h/job-take/$ID?gpu=x"),
            (
                "RUNPOD_WEBHOOK_POST_OUTPUT",
                "http://h/job-done/$RUNPOD_POD_ID/$ID?gpu=x",
            ),
            (
                "RUNPOD_WEBHOOK_POST_STREAM",
                "http://h/job-stream/$RUNPOD_POD_ID/$ID?gpu=x",
            ),
            ("RUNPOD_WEBHOOK_PING", "http://h/ping/$RUNPOD_POD_ID?gpu=x"),
            ("RUNPOD_PING_INTERVAL", "500"),
            ("RUNPOD_POD_ID", "pod-1"),
            ("RUNPOD_AI_API_KEY", "secret-key"),
            ("RUNPOD_ENDPOINT_ID", "ep"),
            ("RUNPOD_POD_HOSTNAME", "host-1"),
            ("RUNPOD_LOG_LEVEL", "WARN"),
        ]);
        assert!(!env.is_local());
        assert_eq!(env.worker_id(), "pod-1");
        assert!(!env.worker_id_is_generated());
        assert_eq!(env.ping_interval(), Duration::from_millis(500));
        assert_eq!(env.endpoint_id(), Some("ep"));
        assert_eq!(env.hostname(), Some("host-1"));
        assert_eq!(env.log_level(), Some("WARN"));
        assert_eq!(env.api_key.as_ref().map(ApiKey::expose), Some("secret-key"));
        let urls = env.urls();
        assert_eq!(
            urls.take(1, false).unwrap(),
            "http://h/job-take/pod-1?gpu=x&job_in_progress=0"
        );
        assert_eq!(
            urls.done("j", false).unwrap(),
            "http://h/job-done/pod-1/j?gpu=x&isStream=false"
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let env = WorkerEnv::from_vars([("RUNPOD_AI_API_KEY", "secret-key")]);
        let dbg = format!("{env:?}");
        assert!(!dbg.contains("secret-key"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn defaults_when_unset_or_empty() {
        let env = WorkerEnv::from_vars([("RUNPOD_WEBHOOK_GET_JOB", " "), ("RUNPOD_POD_ID", "")]);
        assert!(env.is_local());
        assert!(env.worker_id_is_generated());
        assert_eq!(env.ping_interval(), DEFAULT_PING_INTERVAL);
        assert_eq!(env.api_key.as_ref().map(ApiKey::expose), None);
    }

    #[test]
    fn ping_interval_keeps_sub_second_values_and_rejects_garbage() {
        assert_eq!(parse_ping_interval(Some("250")), Duration::from_millis(250));
        assert_eq!(
            parse_ping_interval(Some("1500")),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_ping_interval(Some("0")), DEFAULT_PING_INTERVAL);
        assert_eq!(parse_ping_interval(Some("ten")), DEFAULT_PING_INTERVAL);
        assert_eq!(parse_ping_interval(None), DEFAULT_PING_INTERVAL);
    }

    #[test]
    fn debug_level_is_the_fallback_log_variable() {
        let env = WorkerEnv::from_vars([("RUNPOD_DEBUG_LEVEL", "ERROR")]);
        assert_eq!(env.log_level(), Some("ERROR"));
    }

    #[test]
    fn generated_ids_look_like_uuids_and_differ() {
        let a = random_worker_id();
        let b = random_worker_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert_eq!(a.matches('-').count(), 4);
    }
}
