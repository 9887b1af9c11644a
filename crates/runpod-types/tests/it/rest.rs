use std::collections::BTreeSet;

use runpod_types::rest::{self, OPERATIONS, RestOperation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn spec() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/rest/openapi.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Drops null-valued keys (absent and null are the same to an `Option`) and reads every number
/// as f64 (`4` in an example of a float field comes back as `4.0`).
fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), normalise(x)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Number(n) => json!(n.as_f64()),
        other => other.clone(),
    }
}

/// Decodes `v` as `T` and encodes it again: nothing may be lost or changed.
fn round_trip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<(), String> {
    let decoded: T =
        serde_json::from_value(v.clone()).map_err(|e| format!("does not decode: {e}"))?;
    let encoded = serde_json::to_value(&decoded).map_err(|e| e.to_string())?;
    if normalise(&encoded) != normalise(v) {
        return Err(format!(
            "changes on a round trip:\n  in:  {v}\n  out: {encoded}"
        ));
    }
    Ok(())
}

/// The schemas the spec has examples for. A new one fails `every_spec_example_round_trips`
/// until it is added here.
macro_rules! by_name {
    ($name:expr, $value:expr; $($ty:ident),* $(,)?) => {
        match $name {
            $(stringify!($ty) => Some(round_trip::<rest::$ty>($value)),)*
            _ => None,
        }
    };
}

fn round_trip_named(name: &str, value: &Value) -> Option<Result<(), String>> {
    by_name!(name, value;
        BillingBucketSize, ClusterType, DataCenterRegion, RateLimitHeader, RateLimitPolicyHeader,
        CreateEndpointRequest, CreateNetworkVolumeRequest, CreatePodRequest, CreateRegistryRequest,
        CreateTemplateRequest, PodActionRequest, UpdateEndpointRequest, UpdateNetworkVolumeRequest,
        UpdatePodRequest, UpdateSshKeysRequest, UpdateTemplateRequest, CpuType, DataCenter, Endpoint,
        GpuType, ListBillingResponse, ListClusterBillingResponse, ListCpuTypesResponse,
        ListDataCentersResponse, ListEndpointBillingResponse, ListEndpointReleasesResponse,
        ListEndpointWorkersResponse, ListEndpointsResponse, ListGpuTypesResponse,
        ListNetworkVolumeBillingResponse, ListNetworkVolumesResponse, ListPodBillingResponse,
        ListPodsResponse, ListRegistriesResponse, ListServerlessBillingResponse, ListTemplatesResponse,
        NetworkVolume, Pod, Registry, SshKeys, Template, ErrorResponse,
    )
}

/// `(schema name, example, where)` for every example attached to a named schema.
fn examples(spec: &Value) -> Vec<(String, Value, String)> {
    let mut out = Vec::new();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for (name, schema) in schemas {
        for (i, ex) in schema["examples"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            out.push((
                name.clone(),
                ex.clone(),
                format!("components.schemas.{name}.examples[{i}]"),
            ));
        }
    }
    let mut media = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (ct, c) in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                media.push((format!("{method} {path} request {ct}"), c.clone()));
            }
            for (code, r) in op["responses"].as_object().into_iter().flatten() {
                for (ct, c) in r["content"].as_object().into_iter().flatten() {
                    media.push((format!("{method} {path} {code} {ct}"), c.clone()));
                }
            }
        }
    }
    for (name, r) in spec["components"]["responses"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for (ct, c) in r["content"].as_object().into_iter().flatten() {
            media.push((format!("components.responses.{name} {ct}"), c.clone()));
        }
    }
    for (place, c) in media {
        let Some(reference) = c["schema"]["$ref"].as_str() else {
            continue;
        };
        let name = reference.rsplit('/').next().unwrap().to_owned();
        for (key, ex) in c["examples"].as_object().into_iter().flatten() {
            out.push((
                name.clone(),
                ex["value"].clone(),
                format!("{place} example {key}"),
            ));
        }
        if !c["example"].is_null() {
            out.push((
                name.clone(),
                c["example"].clone(),
                format!("{place} example"),
            ));
        }
    }
    out
}

#[test]
fn every_spec_example_round_trips() {
    let spec = spec();
    let examples = examples(&spec);
    assert!(
        examples.len() > 40,
        "found only {} examples; is the walk broken?",
        examples.len()
    );
    let mut failures = Vec::new();
    for (name, value, place) in &examples {
        match round_trip_named(name, value) {
            None => failures.push(format!("{place}: add {name} to round_trip_named")),
            Some(Err(e)) => failures.push(format!("{place} ({name}) {e}")),
            Some(Ok(())) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn operations_table_matches_the_spec() {
    let spec = spec();
    let mut expected = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op["operationId"].as_str() {
                expected.insert((id.to_owned(), method.to_uppercase(), path.clone()));
            }
        }
    }
    let table: BTreeSet<_> = OPERATIONS
        .iter()
        .map(|op| {
            (
                op.operation_id.to_owned(),
                op.method.to_owned(),
                op.path.to_owned(),
            )
        })
        .collect();
    assert_eq!(table, expected);
    assert_eq!(OPERATIONS.len(), 53);
    let create = RestOperation::find("createPod").unwrap();
    assert_eq!(
        (create.method, create.path, create.tag),
        ("POST", "/v2/pods", "Pods")
    );
    assert!(RestOperation::find("noSuchThing").is_none());
}

#[test]
fn unknown_rest_enum_values_round_trip() {
    let status: rest::PodStatus = serde_json::from_value(json!("HIBERNATING")).unwrap();
    assert_eq!(status, rest::PodStatus::Unknown("HIBERNATING".to_owned()));
    assert_eq!(serde_json::to_value(&status).unwrap(), json!("HIBERNATING"));
    assert_eq!(rest::PodStatus::from("RUNNING"), rest::PodStatus::Running);
    // The documented value `UNKNOWN` is a real variant, not the catch-all.
    assert_eq!(
        rest::GpuManufacturer::from("UNKNOWN"),
        rest::GpuManufacturer::UnknownValue
    );
}

#[test]
fn scaling_union_follows_its_discriminator() {
    let q: rest::EndpointScaling =
        serde_json::from_value(json!({"type": "QUEUE_DELAY", "queueDelay": 4})).unwrap();
    assert!(matches!(&q, rest::EndpointScaling::QueueDelay(s) if s.queue_delay == 4.0));
    let r: rest::EndpointScaling =
        serde_json::from_value(json!({"type": "REQUEST_COUNT", "requestCount": 2})).unwrap();
    assert!(matches!(&r, rest::EndpointScaling::RequestCount(s) if s.request_count == 2));
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"type": "REQUEST_COUNT", "requestCount": 2})
    );

    let future = json!({"type": "GPU_UTILISATION", "target": 0.8});
    let u: rest::EndpointScaling = serde_json::from_value(future.clone()).unwrap();
    assert_eq!(u, rest::EndpointScaling::Unknown(future.clone()));
    assert_eq!(serde_json::to_value(&u).unwrap(), future);

    // A known tag with a broken body is an error, not silently Unknown.
    assert!(
        serde_json::from_value::<rest::EndpointScaling>(json!({"type": "QUEUE_DELAY"})).is_err()
    );
}

#[test]
fn request_url_union_picks_the_matching_shape() {
    let lb: rest::EndpointRequestUrls = serde_json::from_value(
        json!({"base": "https://x.api.runpod.ai", "health": "https://x.api.runpod.ai/ping"}),
    )
    .unwrap();
    assert!(matches!(lb, rest::EndpointRequestUrls::LoadBalancing(_)));
    let odd: rest::EndpointRequestUrls =
        serde_json::from_value(json!({"socket": "wss://x"})).unwrap();
    assert_eq!(
        odd,
        rest::EndpointRequestUrls::Unknown(json!({"socket": "wss://x"}))
    );
}

#[test]
fn nullable_fields_are_options() {
    let w: rest::Worker = serde_json::from_value(worker_example()).unwrap();
    assert_eq!(w.image, None);
    assert_eq!(w.uptime_seconds, None);
}

fn worker_example() -> Value {
    let spec = spec();
    let list = examples(&spec)
        .into_iter()
        .find(|(name, _, _)| name == "ListEndpointWorkersResponse")
        .map(|(_, v, _)| v)
        .unwrap();
    let mut worker = list["workers"][0].clone();
    worker["image"] = Value::Null;
    worker["uptimeSeconds"] = Value::Null;
    worker
}

#[test]
fn env_values_never_reach_debug_output() {
    let mut pod: rest::Pod = serde_json::from_value(
        examples(&spec())
            .into_iter()
            .find(|(n, _, _)| n == "Pod")
            .map(|(_, v, _)| v)
            .unwrap(),
    )
    .unwrap();
    pod.env
        .insert("HF_TOKEN".to_owned(), "hf_supersecret".to_owned());
    let shown = format!("{pod:?}");
    assert!(shown.contains("\"HF_TOKEN\": \"[redacted]\""), "{shown}");
    assert!(!shown.contains("hf_supersecret"), "{shown}");
    assert!(shown.contains("Pod {"), "{shown}");

    let template = rest::CreateTemplateRequest {
        env: Some(
            [("API_KEY".to_owned(), "sk-123".to_owned())]
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    };
    let shown = format!("{template:?}");
    assert!(
        shown.contains("API_KEY") && !shown.contains("sk-123"),
        "{shown}"
    );
    // Serialisation still sends the real value.
    assert_eq!(
        serde_json::to_value(&template).unwrap()["env"]["API_KEY"],
        "sk-123"
    );
}

#[test]
fn credentials_never_reach_debug_output() {
    let registry = rest::CreateRegistryRequest {
        name: "private".to_owned(),
        password: "registry-pass-123".to_owned(),
        username: "me".to_owned(),
    };
    let shown = format!("{registry:?}");
    assert!(!shown.contains("registry-pass-123"), "{shown}");
    assert!(shown.contains("password: \"[redacted]\""), "{shown}");
    assert!(shown.contains("username: \"me\""), "{shown}");

    let s3 = runpod_types::serverless::S3Config {
        access_id: Some("AKIA".to_owned()),
        access_secret: Some("s3-secret-xyz".to_owned()),
        ..Default::default()
    };
    let shown = format!("{s3:?}");
    assert!(!shown.contains("s3-secret-xyz"), "{shown}");
    assert!(
        shown.contains("access_secret: Some(\"[redacted]\")"),
        "{shown}"
    );
}
