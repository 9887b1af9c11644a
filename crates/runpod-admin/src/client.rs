//! [`AdminClient`]: the entry point of cloud management.

use runpod_transport::{HttpClient, Method, RequestBuilder};

use crate::Result;
use crate::request::{PathSegment, build_url};

/// Manages Runpod resources: pods, serverless endpoints, templates, network volumes, clusters,
/// registries, the catalog, billing and account settings.
///
/// Every call goes through REST API v2 (`{rest_base_url}/v2/...`), except the few things v2 does
/// not offer (balance and spend, GPU pricing with `lowestPrice`), which use GraphQL.
///
/// Cheap to clone: clones share one connection pool. Each resource group
/// ([`pods`](Self::pods), [`endpoints`](Self::endpoints), …) hands out owned request builders
/// that end in `.send().await`.
///
/// ```no_run
/// # use runpod_admin::__runpod as runpod;
/// # async fn demo() -> runpod::Result<()> {
/// let admin = runpod::AdminClient::from_env()?;
/// let pods = admin.pods().list().send().await?;
/// for pod in &pods.pods {
///     println!("{} {}", pod.id, pod.status);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: HttpClient,
}

impl AdminClient {
    /// A client over an existing transport (its configuration, key and retry policy).
    pub fn new(http: HttpClient) -> Self {
        Self { http }
    }

    /// A client configured from the environment: `RUNPOD_API_KEY` (or `~/.runpod/config.toml`)
    /// and `RUNPOD_API_BASE_URL`.
    ///
    /// # Errors
    ///
    /// A configuration error (`is_config()`) when the environment is unusable.
    pub fn from_env() -> Result<Self> {
        HttpClient::from_env().map(Self::new)
    }

    /// The transport this client sends through.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// A request to `{rest_base_url}/seg/seg/...`, ids percent-encoded; an id that cannot be
    /// one path segment (empty, `.`, `..`) makes a request that fails with `is_invalid_input()`
    /// when sent.
    pub(crate) fn request(&self, method: Method, segments: &[PathSegment<'_>]) -> RequestBuilder {
        match build_url(self.http.config().rest_base_url(), segments) {
            Ok(url) => self.http.request(method, url),
            Err(e) => self.http.invalid_request(method, e),
        }
    }
}
