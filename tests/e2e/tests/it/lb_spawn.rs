//! runpod-local starting the `lb_worker` example itself (`--lb-spawn`): our client gets answers
//! through the gateway, and the worker processes are gone after shutdown.

use std::time::Duration;

use futures_util::StreamExt as _;
use runpod_local::{LbSpawn, Server};
use serde_json::{Value, json};

use crate::lb::{KEY, fast_limits, lb};
use crate::lb_checks::counts_reach;
#[cfg(target_os = "linux")]
use crate::lb_checks::gone;
use crate::support::example_binary;

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runpod_local_spawns_lb_worker_and_stops_it() {
    let binary = tokio::task::spawn_blocking(|| example_binary("lb_worker"))
        .await
        .unwrap()
        .display()
        .to_string();
    let dir = tempfile::TempDir::new().unwrap();
    let pid_file = |n: u8| dir.path().join(format!("pid{n}"));
    // Each shell notes its pid and becomes the worker (`exec` keeps the pid). The first starts
    // slowly (204 meanwhile); the second serves health on a port and path of its own, which
    // it can only find through PORT_HEALTH and HEALTH_CHECK_PATH.
    let first = format!(
        "echo $$ > '{}'; INIT_MS=300 exec '{binary}'",
        pid_file(1).display()
    );
    let second = format!("echo $$ > '{}'; exec '{binary}'", pid_file(2).display());
    let server = Server::builder()
        .api_key(KEY)
        .lb_spawn(LbSpawn::new("spawned", first))
        .lb_spawn(
            LbSpawn::new("spawned", second)
                .health("/healthz")
                .separate_health_port(),
        )
        .lb_limits(fast_limits().worker_wait(Duration::from_secs(30)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let lb = lb(&server, "spawned");

    // Sent at once: waits through the workers' start-up, then answered.
    let answer = lb
        .post("/v1/square")
        .json(&json!({"n": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.json::<Value>().unwrap(), json!({"square": 49}));
    counts_reach(&server, "spawned", (2, 0, 0)).await;

    let mut answered_by = Vec::new();
    for n in 0..4 {
        let answer = lb
            .post("/v1/square")
            .json(&json!({"n": n}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.json::<Value>().unwrap(), json!({"square": n * n}));
        answered_by.push(answer.worker_id().unwrap().to_owned());
    }
    answered_by.sort();
    answered_by.dedup();
    assert_eq!(answered_by, ["spawned-w1", "spawned-w2"]);

    let events: Vec<_> = lb
        .get("/v1/events")
        .query("n", 3)
        .events()
        .await
        .unwrap()
        .map(|e| e.unwrap().data)
        .collect()
        .await;
    assert_eq!(events.len(), 3);

    let pids: Vec<String> = [1, 2]
        .map(|n| {
            std::fs::read_to_string(pid_file(n))
                .unwrap()
                .trim()
                .to_owned()
        })
        .into();
    assert!(pids.iter().all(|pid| !gone(pid)));
    server.shutdown().await;
    for pid in &pids {
        assert!(gone(pid), "worker {pid} still running after shutdown");
    }
}
