//! Config precedence: explicit > environment > `~/.runpod/config.toml` (both layouts),
//! profiles, URLs, and a clear error when no key is found.

use std::collections::HashMap;

use httpmock::MockServer;
use runpod_transport::{Config, ConfigBuilder, HttpClient, KeySource, Method};
use tempfile::TempDir;

/// A fake environment: `HOME` is a temp dir holding `.runpod/config.toml` with `file`.
struct Env {
    home: TempDir,
    vars: HashMap<String, String>,
}

impl Env {
    fn new(file: Option<&str>) -> Self {
        let home = tempfile::tempdir().unwrap();
        if let Some(text) = file {
            std::fs::create_dir_all(home.path().join(".runpod")).unwrap();
            std::fs::write(home.path().join(".runpod/config.toml"), text).unwrap();
        }
        let mut vars = HashMap::new();
        vars.insert("HOME".to_owned(), home.path().display().to_string());
        Self { home, vars }
    }

    fn var(mut self, k: &str, v: &str) -> Self {
        self.vars.insert(k.to_owned(), v.to_owned());
        self
    }

    fn builder(&self) -> ConfigBuilder {
        let vars = self.vars.clone();
        Config::builder().with_env_source(move |k| vars.get(k).cloned())
    }

    fn file(&self) -> std::path::PathBuf {
        self.home.path().join(".runpod/config.toml")
    }
}

const PYTHON_LAYOUT: &str = r#"
[default]
api_key = "file-default-key"

[work]
api_key = "file-work-key"
"#;

const RUNPODCTL_LAYOUT: &str = r#"
apiKey = "ctl-flat-key"
apiUrl = "https://api.runpod.io/graphql"
"#;

fn key(c: &Config) -> &str {
    c.api_key().unwrap().expose()
}

#[test]
fn explicit_beats_env_beats_file() {
    let env = Env::new(Some(PYTHON_LAYOUT)).var("RUNPOD_API_KEY", "env-key");
    let c = env.builder().with_api_key("explicit-key").build().unwrap();
    assert_eq!(key(&c), "explicit-key");
    assert_eq!(c.api_key_source(), Some(&KeySource::Explicit));

    let c = env.builder().build().unwrap();
    assert_eq!(key(&c), "env-key");
    assert_eq!(c.api_key_source(), Some(&KeySource::Environment));

    let env = Env::new(Some(PYTHON_LAYOUT));
    let c = env.builder().build().unwrap();
    assert_eq!(key(&c), "file-default-key");
    assert_eq!(
        c.api_key_source(),
        Some(&KeySource::File {
            path: env.file(),
            profile: "default".into()
        })
    );
}

#[test]
fn empty_env_key_falls_through_to_the_file() {
    let env = Env::new(Some(PYTHON_LAYOUT)).var("RUNPOD_API_KEY", "  ");
    assert_eq!(key(&env.builder().build().unwrap()), "file-default-key");
}

#[test]
fn profile_from_builder_beats_runpod_profile_env() {
    let env = Env::new(Some(PYTHON_LAYOUT)).var("RUNPOD_PROFILE", "work");
    assert_eq!(key(&env.builder().build().unwrap()), "file-work-key");
    let c = env.builder().with_profile("default").build().unwrap();
    assert_eq!(key(&c), "file-default-key");
}

#[test]
fn runpodctl_flat_layout() {
    let env = Env::new(Some(RUNPODCTL_LAYOUT));
    assert_eq!(key(&env.builder().build().unwrap()), "ctl-flat-key");
    // A named profile does not silently fall back to the flat key.
    let err = env.builder().with_profile("work").build().unwrap_err();
    assert!(err.is_config());
    assert!(
        err.to_string().contains("profile `work` not found in"),
        "{err}"
    );
}

#[test]
fn profile_errors_are_clear() {
    let env = Env::new(Some("[work]\nregion = \"eu\"\n"));
    let err = env.builder().with_profile("work").build().unwrap_err();
    assert!(err.is_config());
    assert!(err.to_string().ends_with("has no api_key"), "{err}");

    let env = Env::new(None);
    let err = env.builder().with_profile("work").build().unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn malformed_file_is_a_config_error_that_does_not_quote_the_file() {
    let env = Env::new(Some("[default]\napi_key = \"rpa_LEAKY_SECRET\nother = 1\n"));
    let err = env.builder().build().unwrap_err();
    assert!(err.is_config());
    let shown = runpod_transport::Report(&err).to_string();
    assert!(shown.contains("is not valid TOML at line 2"), "{shown}");
    assert!(!shown.contains("LEAKY"), "{shown}");
    assert!(!format!("{err:?}").contains("LEAKY"));
}

#[test]
fn no_key_anywhere_is_ok_until_a_request_needs_one() {
    let env = Env::new(None);
    let c = env.builder().build().unwrap();
    assert!(c.api_key().is_none());
    let err = c.require_api_key().unwrap_err();
    assert!(err.is_config());
    assert_eq!(
        err.to_string(),
        "invalid configuration: no API key: pass one to ConfigBuilder::with_api_key, \
         set RUNPOD_API_KEY, or add `api_key` to ~/.runpod/config.toml"
    );
}

#[tokio::test]
async fn missing_key_fails_before_sending() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200);
        })
        .await;
    let client = HttpClient::new(Env::new(None).builder().build().unwrap()).unwrap();
    let err = client
        .request(Method::GET, server.url("/x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    mock.assert_calls_async(0).await;
}

#[test]
fn without_env_nothing_is_read() {
    // A builder without `with_env` ignores HOME (no file) and the variables.
    let c = Config::builder().build().unwrap();
    assert!(c.api_key().is_none());
}

#[test]
fn url_environment_variables() {
    let env = Env::new(None)
        .var("RUNPOD_API_BASE_URL", "http://127.0.0.1:8080/")
        .var("RUNPOD_ENDPOINT_BASE_URL", "http://127.0.0.1:8000/v2");
    let c = env.builder().build().unwrap();
    assert_eq!(c.rest_base_url(), "http://127.0.0.1:8080");
    assert_eq!(c.graphql_url(), "http://127.0.0.1:8080/graphql");
    assert_eq!(c.serverless_base_url(), "http://127.0.0.1:8000/v2");

    let c = env
        .builder()
        .with_rest_base_url("http://10.0.0.1:1")
        .with_graphql_url("http://10.0.0.1:2/gql")
        .build()
        .unwrap();
    assert_eq!(c.rest_base_url(), "http://10.0.0.1:1");
    assert_eq!(c.graphql_url(), "http://10.0.0.1:2/gql");

    let err = Env::new(None)
        .var("RUNPOD_ENDPOINT_BASE_URL", "api.runpod.ai/v2")
        .builder()
        .build()
        .unwrap_err();
    assert!(err.is_config(), "{err}");
}

#[test]
fn home_unset_means_no_file() {
    let vars: HashMap<String, String> = HashMap::new();
    let c = Config::builder()
        .with_env_source(move |k| vars.get(k).cloned())
        .build()
        .unwrap();
    assert!(c.api_key().is_none());
}
