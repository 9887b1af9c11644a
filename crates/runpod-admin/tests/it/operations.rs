//! Every REST v2 operation on the wire: method, path, query, headers and body (insta
//! snapshots), and its success response decoded from the spec's example.

use futures_util::StreamExt as _;
use httpmock::MockServer;
use runpod_admin::builders::PublicTemplatesSource;
use runpod_admin::rest::{
    BillingBucketSize, CatalogInclude, Cloud, ClusterCompute, ClusterType, Compliance, CpuProduct,
    CreateEndpointGpuConfig, CreateEndpointRequestWorkers, CreateGpuConfig, DataCenterInclude,
    DataCenterRegion, EndpointScaling, EndpointType, EndpointWorkers, FlashBoot, GpuCloudFilter,
    LogSource, PodAction, Product, QueueDelayScaling, QueueDelayScalingType, RestOperation,
    TemplateCategory, VolumeType,
};
use runpod_admin::{AdminClient, Result};
use serde::Serialize;
use serde_json::{Value, json};

use crate::support::{Recorder, client, fixture};

fn v(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

/// An SSE body with the spec's example event.
pub(crate) const LOG_EVENT: &str = "id: 2026-06-01T12:02:03Z/000000000001\ndata: {\"ts\":\"2026-06-01T12:02:03Z\",\"source\":\"container\",\"line\":\"Model loaded.\"}\n\n";

/// Calls operation `op` with representative arguments; `None` when this table has no case for
/// it (the coverage test fails then).
pub(crate) async fn call(a: &AdminClient, op: &str) -> Option<Result<Value>> {
    let pod = "7h9k2m4n6p";
    let ep = "ep_abc123";
    Some(match op {
        // Pods
        "listPods" => a
            .pods()
            .list()
            .include_cluster_pods(true)
            .send()
            .await
            .map(v),
        "createPod" => a
            .pods()
            .create("pytorch-training")
            .image("runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404")
            .gpu(CreateGpuConfig {
                id: "NVIDIA GeForce RTX 4090".into(),
                count: Some(1),
                min_cuda_version: Some("12.6".into()),
                ..Default::default()
            })
            .cloud(Cloud::Secure)
            .ports(["8888/http", "22/tcp"])
            .env([("MODEL_NAME", "llama-3")])
            .disk(50)
            .data_center_ids(["US-KS-2"])
            .start_ssh(true)
            .send()
            .await
            .map(v),
        "getPod" => a.pods().get(pod).send().await.map(v),
        "updatePod" => a
            .pods()
            .update(pod)
            .name("renamed")
            .locked(true)
            .send()
            .await
            .map(v),
        "deletePod" => a.pods().delete(pod).send().await.map(v),
        "podAction" => a.pods().action(pod, PodAction::Start).send().await.map(v),
        "getPodLogs" => first_line(
            a.pods()
                .logs(pod)
                .source(LogSource::Container)
                .tail(10)
                .since("2026-06-01T12:00:00Z")
                .last_event_id("2026-06-01T12:01:00Z/000000000000")
                .stream(),
        )
        .await
        .map(v),
        // Serverless
        "listEndpoints" => a.endpoints().list().send().await.map(v),
        "createEndpoint" => a
            .endpoints()
            .create(
                "my-inference",
                EndpointType::Queue,
                EndpointScaling::QueueDelay(QueueDelayScaling {
                    queue_delay: 4.0,
                    type_: QueueDelayScalingType::QueueDelay,
                }),
            )
            .template_id("30zmvf89kd")
            .gpu(CreateEndpointGpuConfig {
                pools: vec!["ADA_24".into()],
                count: Some(1),
                ..Default::default()
            })
            .workers(CreateEndpointRequestWorkers {
                min: Some(0),
                max: Some(3),
                idle_timeout: Some(5),
            })
            .flashboot(FlashBoot::Flashboot)
            .send()
            .await
            .map(v),
        "getEndpoint" => a.endpoints().get(ep).send().await.map(v),
        "updateEndpoint" => a
            .endpoints()
            .update(ep)
            .workers(EndpointWorkers {
                min: Some(1),
                max: Some(5),
                ..Default::default()
            })
            .send()
            .await
            .map(v),
        "deleteEndpoint" => a.endpoints().delete(ep).send().await.map(v),
        "listEndpointWorkers" => a.endpoints().workers(ep).send().await.map(v),
        "listEndpointReleases" => a.endpoints().releases(ep).send().await.map(v),
        "getWorkerLogs" => first_line(a.endpoints().worker_logs(ep, "wk/1 2").tail(0).stream())
            .await
            .map(v),
        // Templates
        "listTemplates" => a.templates().list().send().await.map(v),
        "createTemplate" => a
            .templates()
            .create(
                "My PyTorch Template",
                "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404",
            )
            .serverless(false)
            .category(TemplateCategory::Nvidia)
            .env([("JUPYTER_PASSWORD", "hunter2")])
            .send()
            .await
            .map(v),
        "getTemplate" => a.templates().get("30zmvf89kd").send().await.map(v),
        "updateTemplate" => a
            .templates()
            .update("30zmvf89kd")
            .name("Renamed")
            .send()
            .await
            .map(v),
        "deleteTemplate" => a.templates().delete("30zmvf89kd").send().await.map(v),
        // Network volumes
        "listNetworkVolumes" => a.network_volumes().list().send().await.map(v),
        "createNetworkVolume" => a
            .network_volumes()
            .create("my-volume", 100, "US-KS-2")
            .type_(VolumeType::HighPerformance)
            .send()
            .await
            .map(v),
        "getNetworkVolume" => a.network_volumes().get("vol_1").send().await.map(v),
        "updateNetworkVolume" => a
            .network_volumes()
            .update("vol_1")
            .size(200)
            .send()
            .await
            .map(v),
        "deleteNetworkVolume" => a.network_volumes().delete("vol_1").send().await.map(v),
        // Clusters
        "listClusters" => a.clusters().list().send().await.map(v),
        "createCluster" => a
            .clusters()
            .create(
                "train",
                ClusterType::Training,
                ClusterCompute {
                    gpu_type_id: "NVIDIA H100 80GB HBM3".into(),
                    gpu_count_per_pod: 8,
                    pod_count: 2,
                },
            )
            .image("runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404")
            .send()
            .await
            .map(v),
        "getCluster" => a.clusters().get("cl_1").send().await.map(v),
        "updateCluster" => a
            .clusters()
            .update("cl_1")
            .name("renamed")
            .send()
            .await
            .map(v),
        "deleteCluster" => a.clusters().delete("cl_1").send().await.map(v),
        "listClusterPods" => a.clusters().pods("cl_1").send().await.map(v),
        // Registries
        "listRegistries" => a.registries().list().send().await.map(v),
        "createRegistry" => a
            .registries()
            .create("docker-hub", "me", "s3cret")
            .send()
            .await
            .map(v),
        "getRegistry" => a.registries().get("reg_1").send().await.map(v),
        "deleteRegistry" => a.registries().delete("reg_1").send().await.map(v),
        "listDelegations" => a.registries().delegations().send().await.map(v),
        "createDelegation" => a
            .registries()
            .create_delegation("arn:aws:ecr:us-east-1:123456789012:repository/app")
            .name("app")
            .send()
            .await
            .map(v),
        "revokeDelegation" => a
            .registries()
            .revoke_delegation("del_1")
            .send()
            .await
            .map(v),
        // Catalog
        "listGpuTypes" => a
            .catalog()
            .gpus()
            .include([CatalogInclude::Availability])
            .product([Product::Pod, Product::Serverless])
            .count(2)
            .cloud(GpuCloudFilter::Secure)
            .country_codes(["FR", "DE"])
            .cuda_versions(["12.8", "12.6"])
            .send()
            .await
            .map(v),
        "getGpuType" => a
            .catalog()
            .gpu("NVIDIA GeForce RTX 4090")
            .include([CatalogInclude::Availability])
            .product([Product::Pod])
            .min_cuda_version("12.1")
            .send()
            .await
            .map(v),
        "listCpuTypes" => a
            .catalog()
            .cpus()
            .include([CatalogInclude::Availability])
            .product([CpuProduct::Pod, CpuProduct::Serverless])
            .vcpu_count(4)
            .send()
            .await
            .map(v),
        "getCpuType" => a.catalog().cpu("cpu3c-2-4").send().await.map(v),
        "listDataCenters" => a
            .catalog()
            .data_centers()
            .include([
                DataCenterInclude::GpuAvailability,
                DataCenterInclude::CpuAvailability,
            ])
            .regions([DataCenterRegion::Europe, DataCenterRegion::Asia])
            .network_volume_types([VolumeType::Standard, VolumeType::HighPerformance])
            .compliance([Compliance::Gdpr, Compliance::Soc2Type2])
            .global_network(true)
            .send()
            .await
            .map(v),
        "getDataCenter" => a
            .catalog()
            .data_center("US-KS-2")
            .include([DataCenterInclude::GpuAvailability])
            .send()
            .await
            .map(v),
        "listPublicTemplates" => a
            .catalog()
            .templates()
            .source(PublicTemplatesSource::Verified)
            .send()
            .await
            .map(v),
        // Billing
        "listBilling" => a
            .billing()
            .aggregated()
            .start_time("2026-05-01T00:00:00Z")
            .end_time("2026-06-01T00:00:00Z")
            .bucket_size(BillingBucketSize::Day)
            .send()
            .await
            .map(v),
        "listPodBilling" => a.billing().pods().pod_id(pod).last_n(7).send().await.map(v),
        "listServerlessBilling" => a
            .billing()
            .serverless()
            .serverless_id(ep)
            .bucket_size(BillingBucketSize::Hour)
            .last_n(24)
            .send()
            .await
            .map(v),
        "listEndpointBilling" => a
            .billing()
            .public_endpoints()
            .last_n(30)
            .send()
            .await
            .map(v),
        "listNetworkVolumeBilling" => a
            .billing()
            .network_volumes()
            .network_volume_id("vol_1")
            .send()
            .await
            .map(v),
        "listClusterBilling" => a
            .billing()
            .clusters()
            .cluster_id("cl_1")
            .bucket_size(BillingBucketSize::Month)
            .send()
            .await
            .map(v),
        // Account
        "getSshKeys" => a.account().ssh_keys().send().await.map(v),
        "updateSshKeys" => a
            .account()
            .update_ssh_keys(["ssh-ed25519 AAAAC3Nza me@host"])
            .send()
            .await
            .map(v),
        _ => return None,
    })
}

async fn first_line(
    stream: impl futures_core::Stream<Item = Result<runpod_admin::LogLine>>,
) -> Result<runpod_admin::LogLine> {
    let mut stream = std::pin::pin!(stream);
    stream
        .next()
        .await
        .expect("the stream ended before its first line")
}

/// What the mock answers for `op`: the status the spec gives its success and the fixture.
pub(crate) fn success(op: &RestOperation) -> (u16, Option<String>, &'static str) {
    let id = op.operation_id;
    if id.ends_with("Logs") {
        return (200, Some(LOG_EVENT.to_owned()), "text/event-stream");
    }
    let path = format!(
        "{}/tests/fixtures/rest_v2/{id}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::path::Path::new(&path).exists() {
        let status = if id.starts_with("create") { 201 } else { 200 };
        (status, Some(fixture(id).to_string()), "application/json")
    } else {
        (204, None, "application/json")
    }
}

/// Sends `op` to a mock that records it and answers with its success response.
pub(crate) async fn exchange(op_id: &str) -> (crate::support::Recorded, Value) {
    let op = RestOperation::find(op_id).unwrap_or_else(|| panic!("{op_id} is not in OPERATIONS"));
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    let (status, body, content_type) = success(op);
    server
        .mock_async(|when, then| {
            when.is_true(recorder.matcher());
            let then = then.status(status).header("content-type", content_type);
            if let Some(body) = body {
                then.body(body);
            }
        })
        .await;
    let admin = client(&server);
    let result = call(&admin, op_id)
        .await
        .unwrap_or_else(|| panic!("no case for {op_id}"));
    let value = result.unwrap_or_else(|e| panic!("{op_id}: {}", runpod_transport::Report(&e)));
    // Log streams reconnect after the server closes; only the first request is the call's own.
    let request = recorder
        .take()
        .into_iter()
        .next()
        .expect("no request reached the server");
    (request, value)
}

/// JSON compared as data: an optional field sent as `null` reads as absent (and is not sent
/// back), and `0` and `0.0` are the same number.
pub(crate) fn same_data(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, same_data(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(same_data).collect()),
        Value::Number(n) => json!(n.as_f64().unwrap()),
        other => other,
    }
}

/// `/v2/pods/{id}` matches `/v2/pods/7h9k2m4n6p`.
pub(crate) fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

macro_rules! wire {
    ($($name:ident => $op:literal,)*) => {$(
        #[tokio::test]
        async fn $name() {
            let (request, response) = exchange($op).await;
            let op = RestOperation::find($op).unwrap();
            assert_eq!(request.method, op.method, "{}", $op);
            assert!(path_matches(op.path, &request.path), "{} sent {} for {}", $op, request.path, op.path);
            insta::assert_json_snapshot!(concat!("request_", $op), request);
            // The decoded response carries everything the example had (nothing dropped,
            // renamed or invented on the way through the model).
            let (status, body, _) = success(op);
            match body {
                Some(body) if status != 204 && !$op.ends_with("Logs") => {
                    let expected: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(same_data(response), same_data(expected), "{} round trip", $op);
                }
                Some(_) => assert_eq!(response, json!({
                    "ts": "2026-06-01T12:02:03Z", "source": "container", "line": "Model loaded."
                })),
                None => assert_eq!(response, Value::Null),
            }
        }
    )*};
}

wire! {
    list_pods => "listPods",
    create_pod => "createPod",
    get_pod => "getPod",
    update_pod => "updatePod",
    delete_pod => "deletePod",
    pod_action => "podAction",
    get_pod_logs => "getPodLogs",
    list_endpoints => "listEndpoints",
    create_endpoint => "createEndpoint",
    get_endpoint => "getEndpoint",
    update_endpoint => "updateEndpoint",
    delete_endpoint => "deleteEndpoint",
    list_endpoint_workers => "listEndpointWorkers",
    list_endpoint_releases => "listEndpointReleases",
    get_worker_logs => "getWorkerLogs",
    list_templates => "listTemplates",
    create_template => "createTemplate",
    get_template => "getTemplate",
    update_template => "updateTemplate",
    delete_template => "deleteTemplate",
    list_network_volumes => "listNetworkVolumes",
    create_network_volume => "createNetworkVolume",
    get_network_volume => "getNetworkVolume",
    update_network_volume => "updateNetworkVolume",
    delete_network_volume => "deleteNetworkVolume",
    list_clusters => "listClusters",
    create_cluster => "createCluster",
    get_cluster => "getCluster",
    update_cluster => "updateCluster",
    delete_cluster => "deleteCluster",
    list_cluster_pods => "listClusterPods",
    list_registries => "listRegistries",
    create_registry => "createRegistry",
    get_registry => "getRegistry",
    delete_registry => "deleteRegistry",
    list_delegations => "listDelegations",
    create_delegation => "createDelegation",
    revoke_delegation => "revokeDelegation",
    list_gpu_types => "listGpuTypes",
    get_gpu_type => "getGpuType",
    list_cpu_types => "listCpuTypes",
    get_cpu_type => "getCpuType",
    list_data_centers => "listDataCenters",
    get_data_center => "getDataCenter",
    list_public_templates => "listPublicTemplates",
    list_billing => "listBilling",
    list_pod_billing => "listPodBilling",
    list_serverless_billing => "listServerlessBilling",
    list_endpoint_billing => "listEndpointBilling",
    list_network_volume_billing => "listNetworkVolumeBilling",
    list_cluster_billing => "listClusterBilling",
    get_ssh_keys => "getSshKeys",
    update_ssh_keys => "updateSshKeys",
}

#[tokio::test]
async fn array_filters_are_comma_joined_once() {
    // style: form, explode: false — one key per filter, values joined by commas (not repeated
    // keys). The commas travel percent-encoded (`%2C`), which servers decode before splitting.
    let (request, _) = exchange("listDataCenters").await;
    assert_eq!(
        request.raw_query.as_deref(),
        Some(
            "include=GPU_AVAILABILITY%2CCPU_AVAILABILITY&regions=EUROPE%2CASIA\
             &networkVolumeTypes=STANDARD%2CHIGH_PERFORMANCE&compliance=GDPR%2CSOC_2_TYPE_2&globalNetwork=true"
        )
    );
    let decoded: Vec<(&str, &str)> = request
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(decoded[0], ("include", "GPU_AVAILABILITY,CPU_AVAILABILITY"));
    assert_eq!(decoded.len(), 5);
}

#[tokio::test]
async fn ids_are_percent_encoded_into_one_segment() {
    let (request, _) = exchange("getGpuType").await;
    assert_eq!(
        request.path,
        "/v2/catalog/gpus/NVIDIA%20GeForce%20RTX%204090"
    );
    let (request, _) = exchange("getWorkerLogs").await;
    assert_eq!(
        request.path,
        "/v2/serverless/ep_abc123/workers/wk%2F1%202/logs"
    );
}

#[tokio::test]
async fn pod_action_without_content_is_none() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("POST")
                .path("/v2/pods/p1/action")
                .json_body(json!({"action": "terminate"}));
            then.status(204);
        })
        .await;
    let pod = client(&server).pods().terminate("p1").send().await.unwrap();
    assert!(pod.is_none());
    mock.assert_async().await;
}
