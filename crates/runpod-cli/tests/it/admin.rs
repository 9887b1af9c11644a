//! Cloud management: runpod-local's REST v2 subset (templates, endpoints, catalog), httpmock
//! for what it does not serve (pods, volumes, registries, billing, account).

use httpmock::MockServer;
use runpod::admin::rest;
use runpod_local::rest_v2::RestV2State;
use serde_json::{Value, json};

use crate::support::{Cli, KEY, RestV2, redact_ids};

fn cli(api_url: &str) -> Cli {
    Cli::with_key().env("RUNPOD_API_BASE_URL", api_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_create_list_get_update_delete() {
    let rest = RestV2::start(RestV2State::new()).await;
    let cli = cli(rest.url());

    let created = cli
        .run(&[
            "templates",
            "create",
            "--name",
            "worker",
            "--image",
            "me/worker:1",
            "--serverless",
            "-e",
            "MODE=fast",
            "--disk",
            "20",
            "-o",
            "json",
        ])
        .await;
    created.ok();
    let template = created.json();
    let id = template["id"].as_str().unwrap().to_owned();
    assert_eq!(template["name"], "worker");
    assert_eq!(template["image"], "me/worker:1");
    assert_eq!(template["serverless"], true);
    assert_eq!(template["env"], json!({"MODE": "fast"}));
    assert_eq!(template["disk"], 20);

    // --body fills what has no flag; flags win over it.
    let second = cli
        .run(&[
            "templates",
            "create",
            "--name",
            "pod-tpl",
            "--body",
            r#"{"name": "ignored", "image": "me/pod:2", "ports": ["8888/http"]}"#,
            "-o",
            "json",
        ])
        .await;
    second.ok();
    assert_eq!(second.json()["name"], "pod-tpl");
    assert_eq!(second.json()["ports"], json!(["8888/http"]));
    let second_id = second.json()["id"].as_str().unwrap().to_owned();

    let list = cli.run(&["templates", "list"]).await;
    insta::assert_snapshot!(
        "templates_list_table",
        redact_ids(list.ok(), &[&id, &second_id])
    );

    let list = cli.run(&["templates", "list", "-o", "json"]).await;
    list.ok();
    assert_eq!(list.json()["templates"].as_array().unwrap().len(), 2);

    let got = cli.run(&["templates", "get", &id]).await;
    let fields = got.ok();
    assert!(
        fields.lines().next().unwrap().starts_with("FIELD"),
        "{fields}"
    );
    assert!(fields.contains("env.MODE"), "{fields}");

    let updated = cli
        .run(&[
            "templates",
            "update",
            &id,
            "--image",
            "me/worker:2",
            "-o",
            "json",
        ])
        .await;
    updated.ok();
    assert_eq!(updated.json()["image"], "me/worker:2");
    assert_eq!(updated.json()["name"], "worker");

    let deleted = cli.run(&["templates", "delete", &id]).await;
    assert_eq!(deleted.ok(), format!("deleted template {id}\n"));
    let gone = cli.run(&["templates", "get", &id]).await;
    assert!(gone.fails(5).contains(&id), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_without_its_required_fields_is_a_usage_error() {
    let rest = RestV2::start(RestV2State::new()).await;
    let run = cli(rest.url())
        .run(&["templates", "create", "--name", "x"])
        .await;
    assert_eq!(
        run.fails(2),
        "error: template create: invalid request: missing field `image` (set it with a flag or in --body)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_created_from_flags_listed_and_deleted() {
    let rest = RestV2::start(RestV2State::new()).await;
    let cli = cli(rest.url());
    let template = cli
        .run(&[
            "templates",
            "create",
            "--name",
            "t",
            "--image",
            "me/w:1",
            "--serverless",
            "-o",
            "json",
        ])
        .await;
    template.ok();
    let template_id = template.json()["id"].as_str().unwrap().to_owned();

    let created = cli
        .run(&[
            "endpoints",
            "create",
            "--name",
            "my-endpoint",
            "--template-id",
            &template_id,
            "--gpu",
            "ADA_24",
            "--gpu",
            "AMPERE_16",
            "--workers-max",
            "3",
            "--idle-timeout",
            "7",
            "-o",
            "json",
        ])
        .await;
    created.ok();
    let endpoint = created.json();
    let id = endpoint["id"].as_str().unwrap().to_owned();
    assert_eq!(endpoint["name"], "my-endpoint");
    assert_eq!(endpoint["gpu"]["pools"], json!(["ADA_24", "AMPERE_16"]));
    assert_eq!(endpoint["workers"]["max"], 3);
    assert_eq!(endpoint["workers"]["idleTimeout"], 7);
    // The default scaler when neither a flag nor --body chose one.
    assert_eq!(
        endpoint["scaling"],
        json!({"type": "QUEUE_DELAY", "queueDelay": 4.0})
    );

    let list = cli.run(&["endpoints", "list"]).await;
    insta::assert_snapshot!("endpoints_list_table", redact_ids(list.ok(), &[&id]));

    let updated = cli
        .run(&[
            "endpoints",
            "update",
            &id,
            "--workers-min",
            "1",
            "-o",
            "json",
        ])
        .await;
    updated.ok();
    assert_eq!(updated.json()["workers"]["min"], 1);

    let deleted = cli.run(&["endpoints", "delete", &id, "-o", "json"]).await;
    deleted.ok();
    assert_eq!(deleted.json(), json!({"id": id, "deleted": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpus_list_shows_memory_and_prices_and_filters() {
    let rest = RestV2::start(RestV2State::new()).await;
    let cli = cli(rest.url());

    let table = cli.run(&["gpus", "list"]).await;
    insta::assert_snapshot!("gpus_list_table", table.ok());

    let big = cli
        .run(&["gpus", "list", "--min-memory", "24", "-o", "json"])
        .await;
    big.ok();
    let json = big.json();
    let gpus = json["gpus"].as_array().unwrap();
    let ids: Vec<&str> = gpus.iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert!(!gpus.is_empty(), "{json}");
    assert!(
        gpus.iter().all(|g| g["memory"].as_i64().unwrap() >= 24),
        "{json}"
    );
    assert!(!ids.contains(&"NVIDIA RTX A4000"), "{ids:?}");

    let one = cli
        .run(&["gpus", "get", "NVIDIA GeForce RTX 4090", "-o", "json"])
        .await;
    one.ok();
    assert_eq!(one.json()["memory"], 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpus_available_drops_what_cannot_be_rented() {
    let catalog = json!({
        "gpus": [gpu("GPU-HIGH", "HIGH"), gpu("GPU-NONE", "NONE"), gpu("GPU-LOW", "LOW")],
        "cpus": []
    });
    let state = RestV2State::new()
        .catalog_json(&catalog.to_string())
        .unwrap();
    let rest = RestV2::start(state).await;
    let run = cli(rest.url()).run(&["gpus", "list", "--available"]).await;
    let table = run.ok();
    insta::assert_snapshot!("gpus_available_table", table);
    assert!(!table.contains("GPU-NONE"), "{table}");
}

fn gpu(id: &str, availability: &str) -> Value {
    json!({
        "id": id, "name": id, "pool": null, "manufacturer": "NVIDIA", "memory": 48,
        "secure": true, "community": false,
        "price": {"secure": 1.5, "community": 0.0, "serverless": 2.25},
        "maxCount": {"secure": 8, "community": 0},
        "availability": availability
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_fit_the_terminal_width() {
    let rest = RestV2::start(RestV2State::new()).await;
    let run = cli(rest.url())
        .env("COLUMNS", "60")
        .run(&["gpus", "list"])
        .await;
    for line in run.ok().lines() {
        assert!(line.chars().count() <= 60, "{line:?} is wider than 60");
    }
    assert!(run.stdout.contains('…'), "{}", run.stdout);
}

fn pod(id: &str, name: &str, status: rest::PodStatus, gpu: Option<(&str, i64)>) -> Value {
    serde_json::to_value(rest::Pod {
        id: id.to_owned(),
        name: name.to_owned(),
        status,
        image: "runpod/pytorch:2".to_owned(),
        cost: if gpu.is_some() { 0.69 } else { 0.0 },
        gpu: gpu.map(|(id, count)| rest::GpuConfig {
            id: id.to_owned(),
            count: Some(count),
        }),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_list_and_actions() {
    let server = MockServer::start_async().await;
    let pods = json!({"pods": [
        pod("p-1", "trainer", rest::PodStatus::Running, Some(("NVIDIA GeForce RTX 4090", 2))),
        pod("p-2", "idle-box", rest::PodStatus::Exited, None),
    ]});
    server
        .mock_async(|when, then| {
            when.method("GET").path("/v2/pods");
            then.status(200).json_body(pods.clone());
        })
        .await;
    let action = server
        .mock_async(|when, then| {
            when.method("POST")
                .path("/v2/pods/p-2/action")
                .header("authorization", format!("Bearer {KEY}"))
                .json_body(json!({"action": "start"}));
            then.status(200)
                .json_body(pod("p-2", "idle-box", rest::PodStatus::Starting, None));
        })
        .await;
    let cli = cli(&server.base_url());

    let table = cli.run(&["pods", "list"]).await;
    insta::assert_snapshot!("pods_list_table", table.ok());
    let json = cli.run(&["pods", "list", "-o", "json"]).await;
    json.ok();
    assert_eq!(json.json(), pods);

    let started = cli.run(&["pods", "start", "p-2", "-o", "json"]).await;
    started.ok();
    assert_eq!(started.json()["status"], "STARTING");
    action.assert_calls_async(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_passwords_come_from_stdin_and_are_not_printed() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method("POST").path("/v2/registries").json_body(json!({
                "name": "ghcr", "username": "me", "password": "s3cret-pw"
            }));
            then.status(201)
                .json_body(json!({"id": "reg-1", "name": "ghcr"}));
        })
        .await;
    let run = cli(&server.base_url())
        .run_stdin(
            &["registries", "create", "--name", "ghcr", "--username", "me"],
            Some("s3cret-pw\n"),
        )
        .await;
    let out = run.ok();
    assert!(out.contains("reg-1"), "{out}");
    assert!(
        !out.contains("s3cret-pw") && !run.stderr.contains("s3cret-pw"),
        "{run:?}"
    );
    create.assert_calls_async(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_create_sends_the_flags() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method("POST").path("/v2/network-volumes").json_body(json!({
                "name": "data", "dataCenter": "EU-RO-1", "size": 50
            }));
            then.status(201).json_body(json!({
                "id": "vol-1", "name": "data", "dataCenter": "EU-RO-1", "size": 50, "type": "STANDARD"
            }));
        })
        .await;
    let run = cli(&server.base_url())
        .run(&[
            "volumes",
            "create",
            "--name",
            "data",
            "--data-center",
            "EU-RO-1",
            "--size",
            "50",
        ])
        .await;
    insta::assert_snapshot!("volume_fields_table", run.ok());
    create.assert_calls_async(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_groups_amounts_by_product() {
    let server = MockServer::start_async().await;
    let amounts = |total: f64, pod_gpu: f64, serverless_gpu: f64| {
        let mut a = serde_json::to_value(rest::BillingAmounts::default()).unwrap();
        a["totalAmount"] = json!(total);
        a["podGpuAmount"] = json!(pod_gpu);
        a["serverlessGpuAmount"] = json!(serverless_gpu);
        a
    };
    let mut day1 = amounts(3.0, 2.0, 1.0);
    day1["startTime"] = json!("2026-11-01T00:00:00Z");
    day1["endTime"] = json!("2026-11-02T00:00:00Z");
    let body = json!({
        "metadata": {
            "query": {"startTime": "2026-11-01T00:00:00Z", "endTime": "2026-11-02T00:00:00Z", "bucketSize": "day"},
            "recordCount": 1,
            "totals": amounts(3.0, 2.0, 1.0)
        },
        "records": [day1]
    });
    server
        .mock_async(|when, then| {
            when.method("GET")
                .path("/v2/billing")
                .query_param("bucketSize", "day");
            then.status(200).json_body(body.clone());
        })
        .await;
    let run = cli(&server.base_url()).run(&["billing"]).await;
    insta::assert_snapshot!("billing_table", run.ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_reads_graphql() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST").path("/graphql");
            then.status(200).json_body(json!({"data": {"myself": {
                "id": "user-1", "email": "me@example.com", "clientBalance": 12.5,
                "currentSpendPerHr": 0.69, "spendLimit": 80
            }}}));
        })
        .await;
    let cli = cli(&server.base_url());
    let table = cli.run(&["account"]).await;
    insta::assert_snapshot!("account_table", table.ok());
    let json = cli.run(&["account", "-o", "json"]).await;
    json.ok();
    assert_eq!(
        json.json(),
        json!({"id": "user-1", "email": "me@example.com", "clientBalance": 12.5,
               "currentSpendPerHr": 0.69, "spendLimit": 80})
    );
}

/// Two log lines on the first connection; nothing after a resume (`Last-Event-ID`), as a pod
/// that writes no more.
async fn log_server() -> MockServer {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET")
                .path("/v2/pods/p-1/logs")
                .query_param("tail", "100")
                .header_missing("last-event-id");
            then.status(200)
                .header("content-type", "text/event-stream")
                .body(concat!(
                    "id: 1\ndata: {\"ts\":\"2026-11-01T00:00:01Z\",\"source\":\"container\",\"line\":\"loading model\"}\n\n",
                    "id: 2\ndata: {\"ts\":\"2026-11-01T00:00:02Z\",\"source\":\"container\",\"line\":\"ready\"}\n\n",
                ));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method("GET")
                .path("/v2/pods/p-1/logs")
                .header_exists("last-event-id");
            then.status(200)
                .header("content-type", "text/event-stream")
                .body("");
        })
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_logs_print_each_line_once() {
    let server = log_server().await;
    let cli = cli(&server.base_url());
    let run = cli.run(&["pods", "logs", "p-1"]).await;
    assert_eq!(run.ok(), "loading model\nready\n");

    let json = cli.run(&["pods", "logs", "p-1", "-o", "json"]).await;
    let lines: Vec<Value> = json
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{json:?}");
    assert_eq!(
        lines[1],
        json!({"ts": "2026-11-01T00:00:02Z", "source": "container", "line": "ready"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_logs_ends_when_the_pod_stops_writing() {
    let server = log_server().await;
    let run = cli(&server.base_url())
        .run(&["pods", "logs", "p-1", "--follow"])
        .await;
    assert_eq!(run.ok(), "loading model\nready\n");
}
