//! The in-memory account the REST v2 routes serve: templates, endpoints and the catalog.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use runpod_types::rest::{CpuType, Endpoint, GpuType, Template};

use super::clock::{self, Clock};

/// The catalog this module ships (see the module docs).
const CATALOG: &str = include_str!("catalog.json");

/// The GPU and CPU types `GET /v2/catalog/*` serve.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalog {
    pub(crate) gpus: Vec<GpuType>,
    pub(crate) cpus: Vec<CpuType>,
}

impl Catalog {
    fn parse(json: &str) -> Result<Self, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(json)?;
        let gpus = serde_json::from_value(value.get("gpus").cloned().unwrap_or_default())?;
        let cpus = serde_json::from_value(value.get("cpus").cloned().unwrap_or_default())?;
        Ok(Self { gpus, cpus })
    }
}

#[derive(Default)]
pub(crate) struct Account {
    pub(crate) templates: Vec<Template>,
    pub(crate) endpoints: Vec<Endpoint>,
}

#[derive(Clone)]
struct Config {
    api_key: Option<String>,
    serverless_base_url: Option<String>,
    catalog: Catalog,
    clock: Clock,
}

/// The state behind [`router`](super::router): configuration plus what was created so far.
///
/// Cheap to clone; clones share the same templates and endpoints.
#[derive(Clone)]
pub struct RestV2State {
    config: Arc<Config>,
    account: Arc<Mutex<Account>>,
}

impl fmt::Debug for RestV2State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestV2State")
            .field(
                "api_key",
                &self.config.api_key.as_ref().map(|_| "[redacted]"),
            )
            .field("serverless_base_url", &self.config.serverless_base_url)
            .field("gpus", &self.config.catalog.gpus.len())
            .field("cpus", &self.config.catalog.cpus.len())
            .finish_non_exhaustive()
    }
}

impl Default for RestV2State {
    fn default() -> Self {
        Self::new()
    }
}

impl RestV2State {
    /// No key required, the shipped catalog, no templates or endpoints yet.
    pub fn new() -> Self {
        // The shipped file is checked by a unit test; an empty catalog beats a panic.
        let catalog = Catalog::parse(CATALOG).unwrap_or_default();
        Self {
            config: Arc::new(Config {
                api_key: None,
                serverless_base_url: None,
                catalog,
                clock: clock::system(),
            }),
            account: Arc::new(Mutex::new(Account::default())),
        }
    }

    fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Requires `Authorization: Bearer <key>` on every request.
    #[must_use]
    pub fn api_key(self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.configure(|c| c.api_key = Some(key))
    }

    /// The queue API base the endpoints' `requestUrls` point at (`http://127.0.0.1:8000/v2`).
    /// Default: `http://<Host header>/v2`, this server.
    #[must_use]
    pub fn serverless_base_url(self, url: impl Into<String>) -> Self {
        let url = url.into().trim_end_matches('/').to_owned();
        self.configure(|c| c.serverless_base_url = Some(url))
    }

    /// Serves this catalog instead of the shipped one: `{"gpus": [GpuType…], "cpus": [CpuType…]}`.
    ///
    /// # Errors
    ///
    /// The JSON does not match that shape.
    pub fn catalog_json(self, json: &str) -> Result<Self, serde_json::Error> {
        let catalog = Catalog::parse(json)?;
        Ok(self.configure(|c| c.catalog = catalog))
    }

    /// Reads "now" (for `createdAt`) from `clock` instead of the system clock.
    #[must_use]
    pub fn clock(self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        let clock: Clock = Arc::new(clock);
        self.configure(|c| c.clock = clock)
    }

    pub(crate) fn key(&self) -> Option<&str> {
        self.config.api_key.as_deref()
    }

    pub(crate) fn base_url(&self) -> Option<&str> {
        self.config.serverless_base_url.as_deref()
    }

    pub(crate) fn catalog(&self) -> &Catalog {
        &self.config.catalog
    }

    pub(crate) fn now(&self) -> String {
        clock::rfc3339((self.config.clock)())
    }

    pub(crate) fn account(&self) -> MutexGuard<'_, Account> {
        // A handler that panicked mid-update leaves plain data behind; keep serving it.
        self.account
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A new resource id: 10 lowercase letters and digits, like Runpod's.
pub(crate) fn new_id() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..10)
        .map(|_| char::from(CHARS[fastrand::usize(..CHARS.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_parses() {
        let catalog = Catalog::parse(CATALOG).unwrap();
        assert!(
            catalog
                .gpus
                .iter()
                .any(|g| g.pool.as_deref() == Some("AMPERE_16"))
        );
        assert!(
            catalog
                .gpus
                .iter()
                .any(|g| g.id == "NVIDIA GeForce RTX 4090")
        );
        assert!(!catalog.cpus.is_empty());
    }
}
