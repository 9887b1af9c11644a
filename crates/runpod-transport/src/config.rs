//! Configuration: API key, base URLs, timeouts and retry policy, from a builder, the
//! environment and `~/.runpod/config.toml`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::{ApiKey, Error, RetryPolicy};

/// Default REST base (REST v2 paths start with `/v2`).
pub const DEFAULT_REST_BASE_URL: &str = "https://api.runpod.io";
/// Default serverless queue API base.
pub const DEFAULT_SERVERLESS_BASE_URL: &str = "https://api.runpod.ai/v2";

const ENV_API_KEY: &str = "RUNPOD_API_KEY";
const ENV_PROFILE: &str = "RUNPOD_PROFILE";
const ENV_API_BASE_URL: &str = "RUNPOD_API_BASE_URL";
const ENV_ENDPOINT_BASE_URL: &str = "RUNPOD_ENDPOINT_BASE_URL";
const ENV_HTTP_VERSION: &str = "RUNPOD_HTTP_VERSION";

/// The HTTP versions the client speaks ([`ConfigBuilder::with_http_version`]).
///
/// Over TLS the client offers HTTP/2 and HTTP/1.1 and the server picks (ALPN); HTTP/2 carries
/// every request to a host on one connection, which suits thousands of long polls held at once
/// (see [`ConfigBuilder::with_streams_per_connection`]). Plain `http://` has no such
/// negotiation, so HTTP/2 there must be asked for: runpod-local speaks both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/2 where TLS negotiates it, else HTTP/1.1 (so always HTTP/1.1 on `http://`). The
    /// default.
    #[default]
    Negotiate,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: negotiated over TLS, by prior knowledge on `http://` (the server must
    /// speak it; runpod-local does).
    Http2,
}

impl HttpVersion {
    /// Whether requests to `scheme` may share a connection (HTTP/2).
    pub(crate) fn may_multiplex(self, scheme: &str) -> bool {
        match self {
            Self::Http1 => false,
            Self::Http2 => true,
            Self::Negotiate => scheme == "https",
        }
    }
}

impl std::str::FromStr for HttpVersion {
    type Err = Error;

    /// `auto`, `1.1` or `2` (as `RUNPOD_HTTP_VERSION` takes them).
    fn from_str(text: &str) -> Result<Self, Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" | "negotiate" => Ok(Self::Negotiate),
            "1" | "1.1" | "http/1.1" | "http1" => Ok(Self::Http1),
            "2" | "http/2" | "http2" | "h2" | "h2c" => Ok(Self::Http2),
            other => Err(Error::config(format!(
                "`{other}` is not an HTTP version: use auto, 1.1 or 2"
            ))),
        }
    }
}

/// Requests in flight on one connection by default: the least that RFC 9113 §6.5.2 asks an
/// HTTP/2 server to allow (Runpod documents no value of its own).
const DEFAULT_STREAMS_PER_CONNECTION: u32 = 100;
const DEFAULT_PROFILE: &str = "default";

type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where the configured API key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// [`ConfigBuilder::with_api_key`].
    Explicit,
    /// The `RUNPOD_API_KEY` environment variable.
    Environment,
    /// A credentials file.
    File {
        /// The file read.
        path: PathBuf,
        /// The profile used (`"default"` for runpodctl's flat layout).
        profile: String,
    },
}

/// Settings shared by every client: API key, base URLs, timeouts, retry policy.
///
/// Build one with [`Config::builder`] or [`Config::from_env`]. `Debug` never shows the key.
///
/// ```
/// # use runpod_transport::__runpod as runpod;
/// use std::time::Duration;
/// use runpod::Config;
///
/// let config = Config::builder()
///     .with_api_key("rpa_example")
///     .with_serverless_base_url("http://127.0.0.1:8000/v2/")
///     .with_attempt_timeout(Some(Duration::from_secs(5)))
///     .build()?;
/// assert_eq!(config.serverless_base_url(), "http://127.0.0.1:8000/v2");
/// assert_eq!(config.graphql_url(), "https://api.runpod.io/graphql");
/// assert!(!format!("{config:?}").contains("rpa_example"));
/// # Ok::<(), runpod::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    api_key: Option<ApiKey>,
    key_source: Option<KeySource>,
    rest_base_url: String,
    graphql_url: String,
    serverless_base_url: String,
    connect_timeout: Option<Duration>,
    attempt_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
    retry_policy: RetryPolicy,
    user_agent: String,
    /// Send the key raw (`Authorization: <key>`), and nothing without one: the worker protocol.
    raw_authorization: bool,
    http_version: HttpVersion,
    streams_per_connection: u32,
}

impl Config {
    /// A builder with the defaults and no environment lookups.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Configuration from the environment.
    ///
    /// The key is `RUNPOD_API_KEY`, else `~/.runpod/config.toml` (profile `RUNPOD_PROFILE` or
    /// `"default"`; both the Python CLI's `[profile] api_key = "…"` and runpodctl's flat
    /// `apiKey = "…"`). URLs: `RUNPOD_API_BASE_URL` (default `https://api.runpod.io`; GraphQL is
    /// `<that>/graphql`) and `RUNPOD_ENDPOINT_BASE_URL` (default `https://api.runpod.ai/v2`).
    ///
    /// A missing key is not an error here (local endpoints need none); the first request that
    /// needs it fails with [`Error::is_config`].
    pub fn from_env() -> Result<Config, Error> {
        Config::builder().with_env().build()
    }

    /// The API key, if one was found.
    pub fn api_key(&self) -> Option<&ApiKey> {
        self.api_key.as_ref()
    }

    /// The API key, or a config error that says where a key can be given.
    pub fn require_api_key(&self) -> Result<&ApiKey, Error> {
        self.api_key.as_ref().ok_or_else(|| {
            Error::config(
                "no API key: pass one to ConfigBuilder::with_api_key, set RUNPOD_API_KEY, \
                 or add `api_key` to ~/.runpod/config.toml",
            )
        })
    }

    /// Where the key came from.
    pub fn api_key_source(&self) -> Option<&KeySource> {
        self.key_source.as_ref()
    }

    /// REST base URL without a trailing slash.
    pub fn rest_base_url(&self) -> &str {
        &self.rest_base_url
    }

    /// GraphQL endpoint URL.
    pub fn graphql_url(&self) -> &str {
        &self.graphql_url
    }

    /// Serverless queue API base without a trailing slash, e.g. `http://127.0.0.1:8000/v2`.
    pub fn serverless_base_url(&self) -> &str {
        &self.serverless_base_url
    }

    /// Connect timeout (client level).
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// Default per-attempt timeout.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout
    }

    /// Default whole-operation timeout (all attempts and backoff).
    pub fn operation_timeout(&self) -> Option<Duration> {
        self.operation_timeout
    }

    /// Default retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry_policy
    }

    /// Whether requests send the key raw, as the worker protocol wants, rather than as
    /// `Bearer <key>` (see [`ConfigBuilder::with_raw_authorization`]).
    pub fn raw_authorization(&self) -> bool {
        self.raw_authorization
    }

    /// The `User-Agent` sent: `runpod-rs/<version> (<os>; <arch>)` plus the suffix, if any.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The HTTP versions spoken.
    pub fn http_version(&self) -> HttpVersion {
        self.http_version
    }

    /// Requests in flight on one HTTP/2 connection before the client opens another.
    pub fn streams_per_connection(&self) -> u32 {
        self.streams_per_connection
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &self.api_key)
            .field("api_key_source", &self.key_source)
            .field("rest_base_url", &self.rest_base_url)
            .field("graphql_url", &self.graphql_url)
            .field("serverless_base_url", &self.serverless_base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("retry_policy", &self.retry_policy)
            .field("user_agent", &self.user_agent)
            .field("http_version", &self.http_version)
            .field("streams_per_connection", &self.streams_per_connection)
            .finish()
    }
}

/// Builder for [`Config`]. Values set here win over the environment and the config file.
#[derive(Default, Clone)]
#[must_use]
pub struct ConfigBuilder {
    api_key: Option<ApiKey>,
    profile: Option<String>,
    env: Option<EnvLookup>,
    rest_base_url: Option<String>,
    graphql_url: Option<String>,
    serverless_base_url: Option<String>,
    connect_timeout: Option<Option<Duration>>,
    attempt_timeout: Option<Option<Duration>>,
    operation_timeout: Option<Option<Duration>>,
    retry_policy: Option<RetryPolicy>,
    user_agent_suffix: Option<String>,
    raw_authorization: bool,
    http_version: Option<HttpVersion>,
    streams_per_connection: Option<u32>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("api_key", &self.api_key)
            .field("profile", &self.profile)
            .field("env", &self.env.as_ref().map(|_| "…"))
            .field("rest_base_url", &self.rest_base_url)
            .field("graphql_url", &self.graphql_url)
            .field("serverless_base_url", &self.serverless_base_url)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// The API key (wins over `RUNPOD_API_KEY` and the config file).
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// The profile to read from `~/.runpod/config.toml` (wins over `RUNPOD_PROFILE`).
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Fill unset values from the process environment and the config file, as
    /// [`Config::from_env`] does.
    pub fn with_env(self) -> Self {
        self.with_env_source(|name| std::env::var(name).ok())
    }

    /// Like [`with_env`](Self::with_env) but reading variables (including `HOME`) through
    /// `lookup`, so tests and sandboxes need not touch the process environment.
    pub fn with_env_source<F>(mut self, lookup: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.env = Some(Arc::new(lookup));
        self
    }

    /// REST base URL (default `https://api.runpod.io`).
    pub fn with_rest_base_url(mut self, url: impl Into<String>) -> Self {
        self.rest_base_url = Some(url.into());
        self
    }

    /// GraphQL URL (default `<rest base>/graphql`).
    pub fn with_graphql_url(mut self, url: impl Into<String>) -> Self {
        self.graphql_url = Some(url.into());
        self
    }

    /// Serverless queue API base (default `https://api.runpod.ai/v2`).
    pub fn with_serverless_base_url(mut self, url: impl Into<String>) -> Self {
        self.serverless_base_url = Some(url.into());
        self
    }

    /// Connect timeout; `None` waits as long as the OS does. Default 10 s.
    pub fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Per-attempt timeout (headers and body); `None` for none. Default 30 s.
    pub fn with_attempt_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Whole-operation timeout over all attempts and backoff; default `None` (bounded by the
    /// retry policy).
    pub fn with_operation_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// Default retry policy for requests.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = Some(policy);
        self
    }

    /// Authenticate as the serverless worker protocol does: `Authorization: <key>` without
    /// `Bearer`, and no header at all when there is no key (a local server without auth).
    /// The header value is still built once per client and marked sensitive.
    pub fn with_raw_authorization(mut self) -> Self {
        self.raw_authorization = true;
        self
    }

    /// The HTTP versions to speak (wins over `RUNPOD_HTTP_VERSION`: `auto`, `1.1` or `2`);
    /// default [`HttpVersion::Negotiate`].
    pub fn with_http_version(mut self, version: HttpVersion) -> Self {
        self.http_version = Some(version);
        self
    }

    /// Requests in flight on one HTTP/2 connection; past it the client opens another, so that
    /// no request waits for a server's stream cap while long polls hold the others. Default
    /// 100, the least RFC 9113 asks servers to allow; at least 1.
    pub fn with_streams_per_connection(mut self, streams: u32) -> Self {
        self.streams_per_connection = Some(streams);
        self
    }

    /// Text appended to the `User-Agent` (e.g. `"my-app/1.2"`).
    pub fn with_user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }

    /// Resolves the settings and validates the URLs.
    pub fn build(self) -> Result<Config, Error> {
        let env = |name: &str| -> Option<String> {
            self.env
                .as_ref()
                .and_then(|lookup| lookup(name))
                .filter(|v| !v.trim().is_empty())
        };

        let (api_key, key_source) = if let Some(key) = self.api_key.clone() {
            (Some(key), Some(KeySource::Explicit))
        } else if let Some(key) = env(ENV_API_KEY) {
            (Some(ApiKey::new(key)), Some(KeySource::Environment))
        } else if self.env.is_some() || self.profile.is_some() {
            let explicit_profile = self.profile.clone().or_else(|| env(ENV_PROFILE));
            let home = match &self.env {
                Some(_) => env("HOME").or_else(|| env("USERPROFILE")),
                None => std::env::var("HOME")
                    .or_else(|_| std::env::var("USERPROFILE"))
                    .ok(),
            };
            match home {
                Some(home) => {
                    let path = Path::new(&home).join(".runpod").join("config.toml");
                    match key_from_file(&path, explicit_profile.as_deref())? {
                        Some((key, profile)) => {
                            (Some(key), Some(KeySource::File { path, profile }))
                        }
                        None => (None, None),
                    }
                }
                None => (None, None),
            }
        } else {
            (None, None)
        };
        if api_key.as_ref().is_some_and(ApiKey::is_empty) {
            return Err(Error::config("the API key is empty"));
        }

        let rest_base_url = base_url(
            "REST base URL",
            self.rest_base_url
                .or_else(|| env(ENV_API_BASE_URL))
                .unwrap_or_else(|| DEFAULT_REST_BASE_URL.to_owned()),
        )?;
        let graphql_url = base_url(
            "GraphQL URL",
            self.graphql_url
                .unwrap_or_else(|| format!("{rest_base_url}/graphql")),
        )?;
        let serverless_base_url = base_url(
            "serverless base URL",
            self.serverless_base_url
                .or_else(|| env(ENV_ENDPOINT_BASE_URL))
                .unwrap_or_else(|| DEFAULT_SERVERLESS_BASE_URL.to_owned()),
        )?;

        let mut user_agent = format!(
            "runpod-rs/{} ({}; {})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        if let Some(suffix) = self.user_agent_suffix.as_deref().map(str::trim)
            && !suffix.is_empty()
        {
            user_agent.push(' ');
            user_agent.push_str(suffix);
        }
        if http::HeaderValue::from_str(&user_agent).is_err() {
            return Err(Error::config(
                "the user agent suffix has characters not allowed in a header",
            ));
        }

        let http_version = match self.http_version {
            Some(version) => version,
            None => env(ENV_HTTP_VERSION)
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or_default(),
        };
        let streams_per_connection = self
            .streams_per_connection
            .unwrap_or(DEFAULT_STREAMS_PER_CONNECTION);
        if streams_per_connection == 0 {
            return Err(Error::config("streams per connection must be at least 1"));
        }

        Ok(Config {
            api_key,
            key_source,
            rest_base_url,
            graphql_url,
            serverless_base_url,
            connect_timeout: self
                .connect_timeout
                .unwrap_or(Some(Duration::from_secs(10))),
            attempt_timeout: self
                .attempt_timeout
                .unwrap_or(Some(Duration::from_secs(30))),
            operation_timeout: self.operation_timeout.unwrap_or(None),
            retry_policy: self.retry_policy.unwrap_or_default(),
            user_agent,
            raw_authorization: self.raw_authorization,
            http_version,
            streams_per_connection,
        })
    }
}

fn base_url(what: &str, raw: String) -> Result<String, Error> {
    let trimmed = raw.trim().trim_end_matches('/');
    let parsed = url::Url::parse(trimmed).map_err(|e| {
        Error::config_with_source(format!("the {what} `{trimmed}` is not a valid URL"), e)
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::config(format!(
            "the {what} `{trimmed}` must use http or https"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::config(format!(
            "the {what} must not carry a query or fragment"
        )));
    }
    Ok(trimmed.to_owned())
}

/// Reads the key for `profile` (or the default) from a credentials file in either layout.
/// `Ok(None)`: no file, or no key for the default profile.
fn key_from_file(
    path: &Path,
    explicit_profile: Option<&str>,
) -> Result<Option<(ApiKey, String)>, Error> {
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match explicit_profile {
                Some(p) if p != DEFAULT_PROFILE => Err(Error::config(format!(
                    "profile `{p}` was chosen but {shown} does not exist"
                ))),
                _ => Ok(None),
            };
        }
        Err(e) => return Err(Error::config_with_source(format!("cannot read {shown}"), e)),
    };
    // The TOML error's own Display quotes the offending line, which may hold the key: report
    // only its position and message.
    let doc: toml::Table = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
        let reason = e
            .message()
            .lines()
            .next()
            .unwrap_or("syntax error")
            .to_owned();
        Error::config(format!("{shown} is not valid TOML{at}: {reason}"))
    })?;

    let profile = explicit_profile.unwrap_or(DEFAULT_PROFILE);
    let key_in = |table: &toml::Table| -> Option<String> {
        ["api_key", "apiKey", "apikey"]
            .iter()
            .find_map(|k| table.get(*k).and_then(toml::Value::as_str))
            .map(str::to_owned)
    };
    if let Some(section) = doc.get(profile) {
        let Some(table) = section.as_table() else {
            return Err(Error::config(format!(
                "`{profile}` in {shown} is not a profile table"
            )));
        };
        return match key_in(table) {
            Some(key) => Ok(Some((ApiKey::new(key), profile.to_owned()))),
            None => Err(Error::config(format!(
                "profile `{profile}` in {shown} has no api_key"
            ))),
        };
    }
    if profile == DEFAULT_PROFILE {
        // runpodctl writes a flat file: `apiKey = "…"`.
        return Ok(key_in(&doc).map(|key| (ApiKey::new(key), profile.to_owned())));
    }
    Err(Error::config(format!(
        "profile `{profile}` not found in {shown}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::builder().build().unwrap();
        assert_eq!(c.rest_base_url(), "https://api.runpod.io");
        assert_eq!(c.graphql_url(), "https://api.runpod.io/graphql");
        assert_eq!(c.serverless_base_url(), "https://api.runpod.ai/v2");
        assert_eq!(c.connect_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(c.attempt_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(c.operation_timeout(), None);
        assert!(c.api_key().is_none());
        assert!(c.require_api_key().unwrap_err().is_config());
        assert_eq!(c.http_version(), HttpVersion::Negotiate);
        assert_eq!(c.streams_per_connection(), 100);
    }

    #[test]
    fn the_http_version_comes_from_the_builder_then_the_environment() {
        let from_env = |value: &'static str| {
            Config::builder()
                .with_env_source(move |name| (name == "RUNPOD_HTTP_VERSION").then(|| value.into()))
                .build()
        };
        assert_eq!(from_env("2").unwrap().http_version(), HttpVersion::Http2);
        assert_eq!(from_env("1.1").unwrap().http_version(), HttpVersion::Http1);
        assert_eq!(
            from_env(" Auto ").unwrap().http_version(),
            HttpVersion::Negotiate
        );
        let err = from_env("3").unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("`3` is not an HTTP version"),
            "{err}"
        );
        let explicit = Config::builder()
            .with_env_source(|name| (name == "RUNPOD_HTTP_VERSION").then(|| "1.1".into()))
            .with_http_version(HttpVersion::Http2)
            .build()
            .unwrap();
        assert_eq!(explicit.http_version(), HttpVersion::Http2);
        // Only TLS negotiates HTTP/2 on its own.
        assert!(HttpVersion::Negotiate.may_multiplex("https"));
        assert!(!HttpVersion::Negotiate.may_multiplex("http"));
        assert!(HttpVersion::Http2.may_multiplex("http"));
        assert!(!HttpVersion::Http1.may_multiplex("https"));
    }

    #[test]
    fn zero_streams_per_connection_is_refused() {
        let err = Config::builder()
            .with_streams_per_connection(0)
            .build()
            .unwrap_err();
        assert!(err.is_config(), "{err}");
        let c = Config::builder()
            .with_streams_per_connection(7)
            .build()
            .unwrap();
        assert_eq!(c.streams_per_connection(), 7);
    }

    #[test]
    fn urls_are_validated_and_trimmed() {
        let c = Config::builder()
            .with_rest_base_url("http://127.0.0.1:9/")
            .build()
            .unwrap();
        assert_eq!(c.rest_base_url(), "http://127.0.0.1:9");
        assert_eq!(c.graphql_url(), "http://127.0.0.1:9/graphql");
        for bad in ["not a url", "ftp://x", "http://x/?a=1"] {
            let err = Config::builder()
                .with_serverless_base_url(bad)
                .build()
                .unwrap_err();
            assert!(err.is_config(), "{bad}: {err}");
        }
    }

    #[test]
    fn user_agent_has_version_os_arch_and_suffix() {
        let c = Config::builder()
            .with_user_agent_suffix("my-app/1.2")
            .build()
            .unwrap();
        assert_eq!(
            c.user_agent(),
            format!(
                "runpod-rs/{} ({}; {}) my-app/1.2",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::env::consts::ARCH
            )
        );
        assert!(
            Config::builder()
                .with_user_agent_suffix("bad\nvalue")
                .build()
                .unwrap_err()
                .is_config()
        );
    }
}
