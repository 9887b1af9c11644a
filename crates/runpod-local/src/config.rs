//! Server settings and the fixed limits of the Runpod queue API.

use std::fmt;
use std::time::Duration;

use crate::faults::FaultConfig;
use crate::inline::InlineHandler;
use crate::limits::Limits;

/// Largest `/run` body Runpod accepts ("10 MB"; read as MiB).
pub(crate) const RUN_BODY_LIMIT: usize = 10 * 1024 * 1024;
/// Largest batch create or append body ("at most 10 MB per call", read as MiB like `/run`).
pub(crate) const BATCH_BODY_LIMIT: usize = 10 * 1024 * 1024;
/// Largest `/runsync` body Runpod accepts ("20 MB").
pub(crate) const RUNSYNC_BODY_LIMIT: usize = 20 * 1024 * 1024;
/// Largest worker post (result or stream chunk). Runpod states no limit; the Python worker warns
/// above 20 MB, so this leaves room without letting a runaway worker exhaust memory.
pub(crate) const WORKER_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// `?wait=` bounds and default for `/runsync` and `/status-sync`, in milliseconds.
pub(crate) const WAIT_MIN_MS: u64 = 1_000;
pub(crate) const WAIT_MAX_MS: u64 = 300_000;
pub(crate) const WAIT_DEFAULT_MS: u64 = 90_000;

/// Webhook delivery: one try plus two retries, ten seconds apart (Runpod's documented policy).
pub(crate) const WEBHOOK_ATTEMPTS: u32 = 3;
pub(crate) const WEBHOOK_RETRY_DELAY: Duration = Duration::from_secs(10);
pub(crate) const WEBHOOK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest `batch_size` a single job-take-batch may ask for.
pub(crate) const MAX_BATCH_SIZE: usize = 1_000;

/// Everything the builder collects.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) api_key: Option<String>,
    pub(crate) result_retention: Duration,
    pub(crate) sync_result_retention: Duration,
    pub(crate) hold_time: Duration,
    pub(crate) default_execution_timeout: Duration,
    pub(crate) default_ttl: Duration,
    pub(crate) heartbeat_timeout: Duration,
    pub(crate) faults: FaultConfig,
    pub(crate) inline_handler: Option<InlineHandler>,
    pub(crate) limits: Limits,
    /// Listen beyond loopback without a key (see `exposure`).
    pub(crate) insecure_no_auth: bool,
    /// Hosts besides loopback that webhooks may go to.
    pub(crate) webhook_hosts: std::sync::Arc<[String]>,
    /// PEM files of certificate authorities https webhooks may chain to besides the public roots.
    pub(crate) webhook_ca_files: Vec<std::path::PathBuf>,
    /// Built from `webhook_ca_files` when the server starts.
    pub(crate) webhook_tls: Option<crate::webhook_tls::WebhookTls>,
    pub(crate) lb_workers: Vec<crate::lb::LbWorker>,
    pub(crate) lb_spawns: Vec<crate::lb::LbSpawn>,
    pub(crate) lb_limits: crate::lb::LbLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            api_key: None,
            result_retention: Duration::from_secs(30 * 60),
            sync_result_retention: Duration::from_secs(60),
            hold_time: Duration::from_secs(10),
            default_execution_timeout: Duration::from_secs(600),
            default_ttl: Duration::from_secs(24 * 60 * 60),
            heartbeat_timeout: Duration::from_secs(30),
            faults: FaultConfig::default(),
            inline_handler: None,
            limits: Limits::default(),
            insecure_no_auth: false,
            webhook_hosts: std::sync::Arc::new([]),
            webhook_ca_files: Vec::new(),
            webhook_tls: None,
            lb_workers: Vec::new(),
            lb_spawns: Vec::new(),
            lb_limits: crate::lb::LbLimits::default(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("result_retention", &self.result_retention)
            .field("sync_result_retention", &self.sync_result_retention)
            .field("hold_time", &self.hold_time)
            .field("default_execution_timeout", &self.default_execution_timeout)
            .field("default_ttl", &self.default_ttl)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("faults", &self.faults)
            .field("inline_handler", &self.inline_handler.is_some())
            .field("limits", &self.limits)
            .field("insecure_no_auth", &self.insecure_no_auth)
            .field("webhook_hosts", &self.webhook_hosts)
            .field("webhook_ca_files", &self.webhook_ca_files)
            .field("lb_workers", &self.lb_workers)
            .field("lb_spawns", &self.lb_spawns)
            .field("lb_limits", &self.lb_limits)
            .finish()
    }
}
