//! Everything a command needs from the global flags: the SDK configuration, the clients and
//! the output.

use runpod::admin::AdminClient;
use runpod::serverless::ServerlessClient;
use runpod::{Config, HttpClient};

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::output::Output;

/// Identifies this tool in the `User-Agent`.
const USER_AGENT_SUFFIX: &str = concat!("runpod-cli/", env!("CARGO_PKG_VERSION"));

/// The global flags, resolved lazily: commands that need no API (completions, config) never
/// read the key.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) out: Output,
    api_key: Option<String>,
    profile: Option<String>,
    api_url: Option<String>,
    endpoint_url: Option<String>,
}

impl Context {
    pub(crate) fn new(global: GlobalArgs) -> Self {
        Self {
            out: Output::new(global.output, global.no_color),
            api_key: global.api_key,
            profile: global.profile,
            api_url: global.api_url,
            endpoint_url: global.endpoint_url,
        }
    }

    pub(crate) fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }

    pub(crate) fn api_key_flag(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// The SDK configuration: flags first, then the environment and the config file.
    pub(crate) fn config(&self) -> CliResult<Config> {
        let mut builder = Config::builder()
            .with_env()
            .with_user_agent_suffix(USER_AGENT_SUFFIX);
        if let Some(key) = &self.api_key {
            builder = builder.with_api_key(key);
        }
        if let Some(profile) = &self.profile {
            builder = builder.with_profile(profile);
        }
        if let Some(url) = &self.api_url {
            builder = builder.with_rest_base_url(url);
        }
        if let Some(url) = &self.endpoint_url {
            builder = builder.with_serverless_base_url(url);
        }
        let config = builder
            .build()
            .map_err(|e| CliError::config(e.to_string()))?;
        if config.api_key().is_none() {
            return Err(CliError::no_api_key());
        }
        Ok(config)
    }

    fn http(&self) -> CliResult<HttpClient> {
        HttpClient::new(self.config()?).map_err(|e| CliError::config(e.to_string()))
    }

    pub(crate) fn serverless(&self) -> CliResult<ServerlessClient> {
        Ok(ServerlessClient::new(self.http()?))
    }

    pub(crate) fn admin(&self) -> CliResult<AdminClient> {
        Ok(AdminClient::new(self.http()?))
    }
}
