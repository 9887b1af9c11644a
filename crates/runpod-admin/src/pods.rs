//! Pod conveniences beyond the plain operations: lifecycle shortcuts, a create that falls back
//! across GPU types and never doubles a pod, and waiting until a pod runs.

use std::collections::HashSet;
use std::time::Duration;

use runpod_transport::Error;
use runpod_types::rest::{self, PodAction, PodStatus};
use tokio::time::Instant;

use crate::builders::{ApplyPodAction, CreatePod};
use crate::errors::{CreateAdvice, create_advice};
use crate::{AdminClient, Pods, Result};

impl Pods {
    /// Starts a stopped pod (`POST /v2/pods/{id}/action` with `start`).
    pub fn start(&self, pod_id: impl Into<String>) -> ApplyPodAction {
        self.action(pod_id, PodAction::Start)
    }

    /// Stops a running pod; its volume is kept (`action: stop`).
    pub fn stop(&self, pod_id: impl Into<String>) -> ApplyPodAction {
        self.action(pod_id, PodAction::Stop)
    }

    /// Restarts a pod (`action: restart`).
    pub fn restart(&self, pod_id: impl Into<String>) -> ApplyPodAction {
        self.action(pod_id, PodAction::Restart)
    }

    /// Terminates a pod for good (`action: terminate`; the API answers `204`, so `send()` gives
    /// `None`).
    pub fn terminate(&self, pod_id: impl Into<String>) -> ApplyPodAction {
        self.action(pod_id, PodAction::Terminate)
    }

    /// Polls a pod until it is `RUNNING` (`PROVISIONING` → `STARTING` → `RUNNING`), timing each
    /// phase. See [`WaitUntilRunning`].
    pub fn wait_until_running(&self, pod_id: impl Into<String>) -> WaitUntilRunning {
        WaitUntilRunning {
            client: self.client.clone(),
            pod_id: pod_id.into(),
            poll_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(600),
        }
    }
}

impl CreatePod {
    /// Creates the pod the way the spec's `createPod` guidance recommends, trying these GPU types
    /// in order (each replaces `gpu.id`; `gpu.count` and the CUDA constraints are kept).
    ///
    /// See [`CreatePodWithFallback`] for what happens on each kind of failure.
    pub fn gpu_fallback(
        self,
        gpu_type_ids: impl IntoIterator<Item = impl Into<String>>,
    ) -> CreatePodWithFallback {
        let mut safe = self.safely();
        safe.candidates = gpu_type_ids.into_iter().map(Into::into).collect();
        safe
    }

    /// Creates the pod as given (one candidate), retrying transient failures without ever
    /// creating it twice. See [`CreatePodWithFallback`].
    pub fn safely(self) -> CreatePodWithFallback {
        CreatePodWithFallback {
            create: self,
            candidates: Vec::new(),
            retries_per_candidate: 2,
            retry_delay: Duration::from_secs(2),
            max_rate_limit_waits: 5,
        }
    }
}

/// A pod create that tries GPU types in order and resolves ambiguous failures before retrying.
///
/// For each candidate GPU type:
/// - `201`: done.
/// - `400` (a rule, or no capacity) and `403` (no access to the pool): the next candidate.
/// - `402` (insufficient balance), `422` (invalid body) and other client errors: stop with
///   that error; no candidate can succeed.
/// - `429`: wait for `Retry-After` (or the retry delay) and try the same candidate again.
/// - `5xx`, a timeout or a connection that broke after sending: the pod may exist. The pods
///   are listed and a pod with this name that did not exist before the first attempt is
///   returned as the result. Only if there is none is the same candidate tried again, after a
///   delay that doubles each time; after `retries_per_candidate` such retries the error is
///   returned.
///
/// When every candidate fails, the last candidate's error is returned: if they all said `400`,
/// read its `detail` as a problem with the request, not with capacity.
///
/// The pods with this name that exist before the first attempt are listed once up front (one
/// `GET /v2/pods`), so that a lookup never mistakes an older pod for the new one. Give pods
/// unique names to make the lookup unambiguous.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct CreatePodWithFallback {
    create: CreatePod,
    candidates: Vec<String>,
    retries_per_candidate: u32,
    retry_delay: Duration,
    max_rate_limit_waits: u32,
}

/// A pod [`CreatePodWithFallback`] created, and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CreatedPod {
    /// The pod.
    pub pod: rest::Pod,
    /// The GPU type that was placed (`None` when no GPU types were given).
    pub gpu_type_id: Option<String>,
    /// `true` when the create answered with an error but the pod was found afterwards.
    pub recovered: bool,
    /// Candidates that were skipped, with the error each one gave.
    pub skipped: Vec<SkippedCandidate>,
}

/// A GPU type [`CreatePodWithFallback`] gave up on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SkippedCandidate {
    /// The GPU type id.
    pub gpu_type_id: String,
    /// The HTTP status it failed with.
    pub status: Option<u16>,
    /// The server's explanation (`detail`), when it gave one.
    pub detail: Option<String>,
    /// Whether the message reads as "no capacity" ([`crate::errors::is_no_capacity`]).
    pub no_capacity: bool,
}

impl CreatePodWithFallback {
    /// How many times to retry one candidate after a transient failure (default 2).
    pub fn retries_per_candidate(mut self, retries: u32) -> Self {
        self.retries_per_candidate = retries;
        self
    }

    /// Delay before the first retry after a transient failure; it doubles each time (default
    /// 2 s). Also the wait after a `429` without `Retry-After`.
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// How many `429`s to wait out in total before giving up (default 5).
    pub fn max_rate_limit_waits(mut self, waits: u32) -> Self {
        self.max_rate_limit_waits = waits;
        self
    }

    /// Runs the create.
    ///
    /// # Errors
    ///
    /// The error that ended the attempt (see the type's documentation), or the error of the
    /// up-front pod listing.
    pub async fn send(self) -> Result<CreatedPod> {
        let client = self.create.client.clone();
        let name = self.create.body.name.clone();
        let before: HashSet<String> = pods_named(&client, &name)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();

        let candidates: Vec<Option<String>> = if self.candidates.is_empty() {
            vec![None]
        } else {
            self.candidates.iter().cloned().map(Some).collect()
        };
        let mut skipped = Vec::new();
        let mut rate_limit_waits = 0;
        let mut last_error = None;
        for candidate in candidates {
            let mut request = self.create.clone();
            if let Some(id) = &candidate {
                let mut gpu = request.body.gpu.take().unwrap_or_default();
                gpu.id.clone_from(id);
                request.body.gpu = Some(gpu);
            }
            let mut retries = 0;
            let mut delay = self.retry_delay;
            loop {
                let err = match request.clone().send().await {
                    Ok(pod) => {
                        return Ok(CreatedPod {
                            pod,
                            gpu_type_id: candidate,
                            recovered: false,
                            skipped,
                        });
                    }
                    Err(err) => err,
                };
                match create_advice(&err) {
                    CreateAdvice::NextCandidate => {
                        tracing::debug!(gpu_type = ?candidate, status = ?err.status(), "pod create: trying the next candidate");
                        if let Some(id) = &candidate {
                            skipped.push(SkippedCandidate::from_error(id, &err));
                        }
                        last_error = Some(err);
                        break;
                    }
                    CreateAdvice::RetryAfter(wait)
                        if rate_limit_waits < self.max_rate_limit_waits =>
                    {
                        rate_limit_waits += 1;
                        tokio::time::sleep(wait.unwrap_or(self.retry_delay)).await;
                    }
                    advice => {
                        let retry = advice == CreateAdvice::RetrySameCandidate
                            && retries < self.retries_per_candidate;
                        if retry {
                            retries += 1;
                            // Also gives the API a moment to list a pod it did create.
                            tokio::time::sleep(delay).await;
                            delay = delay.saturating_mul(2);
                        }
                        // Even when giving up, an ambiguous failure may have created the pod,
                        // and the caller must learn about it.
                        if crate::errors::may_have_been_applied(&err)
                            && let Some(pod) = created_meanwhile(&client, &name, &before).await?
                        {
                            tracing::info!(pod_id = %pod.id, "pod create failed but the pod exists; not creating another");
                            return Ok(CreatedPod {
                                pod,
                                gpu_type_id: candidate,
                                recovered: true,
                                skipped,
                            });
                        }
                        if !retry {
                            return Err(err);
                        }
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::invalid_input("no GPU type to try")))
    }
}

impl SkippedCandidate {
    fn from_error(gpu_type_id: &str, err: &Error) -> Self {
        Self {
            gpu_type_id: gpu_type_id.to_owned(),
            status: err.status().map(|s| s.as_u16()),
            detail: err
                .api_error()
                .and_then(|a| a.detail.clone().or_else(|| a.message.clone())),
            no_capacity: crate::errors::is_no_capacity(err),
        }
    }
}

async fn pods_named(client: &AdminClient, name: &str) -> Result<Vec<rest::Pod>> {
    let list = client.pods().list().send().await?;
    Ok(list.pods.into_iter().filter(|p| p.name == name).collect())
}

/// A pod named `name` that was not among `before`.
async fn created_meanwhile(
    client: &AdminClient,
    name: &str,
    before: &HashSet<String>,
) -> Result<Option<rest::Pod>> {
    Ok(pods_named(client, name)
        .await?
        .into_iter()
        .find(|p| !before.contains(&p.id)))
}

/// Waits for a pod to reach `RUNNING`; from [`Pods::wait_until_running`].
///
/// Polls `GET /v2/pods/{id}` every `poll_interval` (default 5 s) until the pod is `RUNNING`,
/// until it reaches a state it will not leave by itself (`EXITED`, `ERROR`, `TERMINATED`), or
/// until `timeout` (default 10 min) has passed. Transient polling errors are ignored until the
/// deadline; a `404` counts as transient for the first few polls (a new pod may take a moment
/// to be listed).
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct WaitUntilRunning {
    client: AdminClient,
    pod_id: String,
    poll_interval: Duration,
    timeout: Duration,
}

/// A pod that reached `RUNNING`, with how long each phase took.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunningPod {
    /// The pod as last read.
    pub pod: rest::Pod,
    /// How long each phase took, as seen by polling (precise to one poll interval).
    pub timings: StartupTimings,
}

/// Time spent in each phase of a pod's startup, as observed by polling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StartupTimings {
    /// From the start of the wait until the pod was first seen past `PROVISIONING`.
    pub provisioning: Duration,
    /// From then until it was first seen `RUNNING`.
    pub starting: Duration,
    /// The whole wait.
    pub total: Duration,
    /// How many times the pod was read.
    pub polls: u32,
}

/// How many early `404`s to put down to a pod not being listed yet.
const EARLY_NOT_FOUND: u32 = 3;

impl WaitUntilRunning {
    /// Time between two reads (default 5 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Gives up after this long (default 10 min).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Polls until the pod runs.
    ///
    /// # Errors
    ///
    /// - `is_timeout()` when the deadline passes first (the pod may still start later);
    /// - [`crate::errors::is_pod_not_running`] when the pod reaches `EXITED`, `ERROR` or
    ///   `TERMINATED`;
    /// - the error of a read that failed for a reason other than a transient one.
    pub async fn send(self) -> Result<RunningPod> {
        let start = Instant::now();
        let deadline = start + self.timeout;
        let mut timings = StartupTimings::default();
        let mut left_provisioning: Option<Instant> = None;
        loop {
            timings.polls += 1;
            match self.client.pods().get(&self.pod_id).send().await {
                Ok(pod) => {
                    let now = Instant::now();
                    if pod.status != PodStatus::Provisioning && left_provisioning.is_none() {
                        left_provisioning = Some(now);
                        timings.provisioning = now - start;
                    }
                    tracing::debug!(pod_id = %self.pod_id, status = %pod.status, "waiting for the pod to run");
                    match pod.status {
                        PodStatus::Running => {
                            timings.starting = now - left_provisioning.unwrap_or(now);
                            timings.total = now - start;
                            return Ok(RunningPod { pod, timings });
                        }
                        PodStatus::Exited | PodStatus::Error | PodStatus::Terminated => {
                            return Err(crate::errors::pod_not_running(
                                &self.pod_id,
                                pod.status.as_str(),
                            ));
                        }
                        _ => {}
                    }
                }
                Err(err) if err.is_retryable() => {
                    tracing::debug!(pod_id = %self.pod_id, error = %err, "pod poll failed; polling on");
                }
                Err(err) if err.is_not_found() && timings.polls <= EARLY_NOT_FOUND => {}
                Err(err) => return Err(err),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::wait_timeout(self.pod_id.clone()));
            }
            tokio::time::sleep(self.poll_interval.min(deadline - now)).await;
        }
    }
}
