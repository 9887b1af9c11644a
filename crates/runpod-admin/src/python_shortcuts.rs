//! One-call shortcuts that mirror the Python SDK's functions (`runpod.get_gpus()`,
//! `runpod.create_endpoint(...)`, …); see `COMING_FROM_PYTHON.md`. Each is one `.send()` of a
//! builder with the Python defaults filled in; use the builder for anything else.

use runpod_types::rest::{
    self, CreateEndpointGpuConfig, CreateEndpointRequestWorkers, EndpointScaling, EndpointType,
    QueueDelayScaling, QueueDelayScalingType,
};

use crate::graphql::{AccountBalance, GpuPricing};
use crate::pods::CreatedPod;
use crate::{AdminClient, Result};

/// The Python SDK's `create_endpoint` defaults.
const PY_IDLE_TIMEOUT: i64 = 5;
const PY_QUEUE_DELAY: f64 = 4.0;

impl AdminClient {
    /// Every GPU type (`runpod.get_gpus()`); REST `GET /v2/catalog/gpus`.
    ///
    /// # Errors
    ///
    /// Any error of [`ListGpuTypes::send`](crate::builders::ListGpuTypes::send).
    pub async fn get_gpus(&self) -> Result<Vec<rest::GpuType>> {
        Ok(self.catalog().gpus().send().await?.gpus)
    }

    /// One GPU type with its prices and the lowest price for one GPU
    /// (`runpod.get_gpu(id)`); `None` for an unknown id. For another GPU count use
    /// `catalog().gpu_pricing(id).gpu_count(n)`.
    ///
    /// # Errors
    ///
    /// Any error of [`GetGpuPricing::send`](crate::GetGpuPricing::send).
    pub async fn get_gpu(&self, gpu_type_id: impl Into<String>) -> Result<Option<GpuPricing>> {
        self.catalog().gpu_pricing(gpu_type_id).send().await
    }

    /// The account: id, email, balance, spend per hour and spend limit (`runpod.get_user()`).
    ///
    /// # Errors
    ///
    /// Any error of [`GetAccountBalance::send`](crate::GetAccountBalance::send).
    pub async fn get_user(&self) -> Result<AccountBalance> {
        self.account().balance().send().await
    }

    /// Every serverless endpoint (`runpod.get_endpoints()`).
    ///
    /// # Errors
    ///
    /// Any error of [`ListEndpoints::send`](crate::builders::ListEndpoints::send).
    pub async fn get_endpoints(&self) -> Result<Vec<rest::Endpoint>> {
        Ok(self.endpoints().list().send().await?.endpoints)
    }

    /// Creates a template (`runpod.create_template(name, image_name, is_serverless=...)`).
    ///
    /// # Errors
    ///
    /// Any error of [`CreateTemplate::send`](crate::builders::CreateTemplate::send).
    pub async fn create_template(
        &self,
        name: impl Into<String>,
        image: impl Into<String>,
        serverless: bool,
    ) -> Result<rest::Template> {
        self.templates()
            .create(name, image)
            .serverless(serverless)
            .send()
            .await
    }

    /// Creates a queue endpoint from a serverless template on GPU pools such as `"AMPERE_16"`
    /// (`runpod.create_endpoint(name, template_id, gpu_ids, workers_min=, workers_max=)`), with
    /// the Python defaults: one GPU per worker, 5 s idle timeout, queue-delay scaling at 4 s.
    ///
    /// # Errors
    ///
    /// Any error of [`CreateEndpoint::send`](crate::builders::CreateEndpoint::send).
    pub async fn create_endpoint(
        &self,
        name: impl Into<String>,
        template_id: impl Into<String>,
        gpu_pool_ids: impl IntoIterator<Item = impl Into<String>>,
        workers_min: i64,
        workers_max: i64,
    ) -> Result<rest::Endpoint> {
        let scaling = EndpointScaling::QueueDelay(QueueDelayScaling {
            queue_delay: PY_QUEUE_DELAY,
            type_: QueueDelayScalingType::QueueDelay,
        });
        self.endpoints()
            .create(name, EndpointType::Queue, scaling)
            .template_id(template_id)
            .gpu(CreateEndpointGpuConfig {
                pools: gpu_pool_ids.into_iter().map(Into::into).collect(),
                count: Some(1),
                ..Default::default()
            })
            .workers(CreateEndpointRequestWorkers {
                min: Some(workers_min),
                max: Some(workers_max),
                idle_timeout: Some(PY_IDLE_TIMEOUT),
            })
            .send()
            .await
    }

    /// Every pod (`runpod.get_pods()`).
    ///
    /// # Errors
    ///
    /// Any error of [`ListPods::send`](crate::builders::ListPods::send).
    pub async fn get_pods(&self) -> Result<Vec<rest::Pod>> {
        Ok(self.pods().list().send().await?.pods)
    }

    /// One pod (`runpod.get_pod(id)`).
    ///
    /// # Errors
    ///
    /// `is_not_found()` for an unknown id; any error of
    /// [`GetPod::send`](crate::builders::GetPod::send).
    pub async fn get_pod(&self, pod_id: impl Into<String>) -> Result<rest::Pod> {
        self.pods().get(pod_id).send().await
    }

    /// Creates a GPU pod (`runpod.create_pod(name, image_name, gpu_type_id)`), trying the GPU
    /// types in order and never creating it twice (see
    /// [`CreatePodWithFallback`](crate::CreatePodWithFallback)).
    ///
    /// # Errors
    ///
    /// The error of the last candidate, or the first one that no candidate can get past.
    pub async fn create_pod(
        &self,
        name: impl Into<String>,
        image: impl Into<String>,
        gpu_type_ids: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<CreatedPod> {
        self.pods()
            .create(name)
            .image(image)
            .gpu_fallback(gpu_type_ids)
            .send()
            .await
    }

    /// Stops a pod (`runpod.stop_pod(id)`).
    ///
    /// # Errors
    ///
    /// `is_conflict` when the pod cannot be stopped in its state; any transport error.
    pub async fn stop_pod(&self, pod_id: impl Into<String>) -> Result<Option<rest::Pod>> {
        self.pods().stop(pod_id).send().await
    }

    /// Starts a stopped pod again (`runpod.resume_pod(id, gpu_count)`; REST keeps the pod's
    /// GPU count).
    ///
    /// # Errors
    ///
    /// As [`stop_pod`](Self::stop_pod).
    pub async fn resume_pod(&self, pod_id: impl Into<String>) -> Result<Option<rest::Pod>> {
        self.pods().start(pod_id).send().await
    }

    /// Terminates a pod (`runpod.terminate_pod(id)`).
    ///
    /// # Errors
    ///
    /// As [`stop_pod`](Self::stop_pod).
    pub async fn terminate_pod(&self, pod_id: impl Into<String>) -> Result<()> {
        self.pods().terminate(pod_id).send().await.map(drop)
    }
}
