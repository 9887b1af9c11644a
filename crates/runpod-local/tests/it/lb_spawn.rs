//! Load-balancing workers runpod-local starts itself (`--lb-spawn`): their environment, their
//! health while starting and after exiting, and their process group gone after shutdown. The
//! commands here are plain shell; `tests/e2e` spawns the real `lb_worker` and sends it traffic.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use runpod_local::{LbLimits, LbSpawn, Server};

use crate::lb_checks::{counts_reach, gone};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("lb-spawn-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn read_when_written(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text.trim_end().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn limits() -> LbLimits {
    LbLimits::new().health_interval(Duration::from_millis(50))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_worker_gets_its_environment_and_its_group_stops_with_the_server() {
    let scratch = Scratch::new();
    let dir = scratch.0.display();
    // The shell writes what it was given, leaves a second process running in its group, and
    // becomes a long sleep that never listens on PORT.
    let command = format!(
        "sleep 1000 & echo $! > '{dir}/child'; \
         echo \"$PORT $RUNPOD_POD_ID $RUNPOD_ENDPOINT_ID ${{PORT_HEALTH-none}} ${{HEALTH_CHECK_PATH-none}}\" > '{dir}/env'; \
         echo $$ > '{dir}/leader'; exec sleep 1000"
    );
    let server = Server::builder()
        .lb_spawn(LbSpawn::new("sp", command).id("w1"))
        .lb_spawn(
            LbSpawn::new(
                "sp",
                format!(
                    "echo \"$PORT $PORT_HEALTH $HEALTH_CHECK_PATH\" > '{dir}/env2'; exec sleep 1000"
                ),
            )
            .health("/up")
            .separate_health_port(),
        )
        .lb_limits(limits())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let env = read_when_written(&scratch.file("env")).await;
    let fields: Vec<&str> = env.split(' ').collect();
    let port: u16 = fields[0].parse().unwrap();
    assert_ne!(port, 0);
    assert_eq!(fields[1..], ["w1", "sp", "none", "none"]);
    let env2 = read_when_written(&scratch.file("env2")).await;
    let fields2: Vec<&str> = env2.split(' ').collect();
    assert_eq!(fields2.len(), 3, "{env2}");
    assert_ne!(fields2[0], fields2[1], "a health port of its own");
    assert_ne!(fields2[0], fields[0], "two workers, two ports");
    assert_eq!(fields2[2], "/up");

    // Running but not listening: still starting, so initializing, not unhealthy.
    counts_reach(&server, "sp", (0, 2, 0)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    counts_reach(&server, "sp", (0, 2, 0)).await;

    let leader = read_when_written(&scratch.file("leader")).await;
    let child = read_when_written(&scratch.file("child")).await;
    assert!(!gone(&leader) && !gone(&child));
    let started = Instant::now();
    server.shutdown().await;
    let shutdown_took = started.elapsed();
    assert!(gone(&leader), "the command is stopped by shutdown");
    // The group was signalled with the leader; a busy machine may run the child's exit a
    // moment after the leader's.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gone(&child) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone(&child), "what it started in its group too");
    assert!(shutdown_took < Duration::from_secs(5), "SIGTERM sufficed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_worker_that_exits_is_unhealthy_and_the_server_keeps_serving() {
    let server = Server::builder()
        .lb_spawn(LbSpawn::new("gone", "exit 3"))
        .lb_limits(limits())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    counts_reach(&server, "gone", (0, 0, 1)).await;
    let answer = reqwest::get(format!("{}/x", server.lb_url("gone")))
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 503);
    server.shutdown().await;
}
