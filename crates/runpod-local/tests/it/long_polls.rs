//! Long polls (`/status-sync?wait=`, `/stream?wait=`) wake on the job's change, not on a timer,
//! and thousands of them are held at once.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::Server;
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::support::{EP, Harness};

#[tokio::test(start_paused = true)]
async fn a_long_poll_answers_the_moment_its_job_ends() {
    let h = Harness::start().await;
    let id = h.run(json!({})).await;
    h.take_expect("w", &id).await;
    let started = Instant::now();
    // 2 003 ms is prime: a server that checked on a timer would answer at a multiple of its
    // period after the end, not at the very millisecond.
    let end = Duration::from_millis(2_003);
    let finish = async {
        tokio::time::sleep(end).await;
        h.done("w", &id, json!({"output": "ok"})).await
    };
    let status = async {
        let answer = h
            .get(&format!("/v2/{EP}/status-sync/{id}?wait=300000"))
            .await;
        (answer, started.elapsed())
    };
    let stream = async {
        let answer = h.get(&format!("/v2/{EP}/stream/{id}?wait=300000")).await;
        (answer, started.elapsed())
    };
    let (((status_code, job), status_at), ((stream_code, chunks), stream_at), _) =
        tokio::join!(status, stream, finish);

    assert_eq!((status_code, stream_code), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        (job["status"].clone(), job["output"].clone()),
        (json!("COMPLETED"), json!("ok"))
    );
    assert_eq!(chunks["status"], "COMPLETED", "{chunks}");
    assert_eq!(status_at, end);
    assert_eq!(stream_at, end);
}

#[tokio::test(start_paused = true)]
async fn a_held_runsync_answers_the_moment_its_job_ends() {
    let h = Harness::start().await;
    let started = Instant::now();
    let end = Duration::from_millis(2_003);
    let client = async {
        let answer = h
            .post(
                &format!("/v2/{EP}/runsync?wait=300000"),
                json!({"input": 5}),
            )
            .await;
        (answer, started.elapsed())
    };
    let worker = async {
        let job = loop {
            if let Some(job) = h.take("w").await {
                break job;
            }
        };
        tokio::time::sleep_until(started + end).await;
        h.done("w", job["id"].as_str().unwrap(), json!({"output": "ok"}))
            .await
    };
    let (((code, job), answered_at), _) = tokio::join!(client, worker);

    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        (job["status"].clone(), job["output"].clone()),
        (json!("COMPLETED"), json!("ok"))
    );
    // At the job's end to the millisecond, not at a timer's tick nor at the hold's end.
    assert_eq!(answered_at, end);
}

#[tokio::test]
async fn thousands_of_long_polls_are_held_and_all_woken() {
    const JOBS: usize = 2_000;
    // Every job is held by its handler until the gate opens, after the long polls are in.
    let (gate, opened) = tokio::sync::watch::channel(false);
    // More connections than the default limit (1 024) allows: each long poll holds one.
    let limits = runpod_local::Limits::default().connections(JOBS + 64);
    let h = Arc::new(
        Harness::with(
            Server::builder()
                .limits(limits)
                .inline_handler(move |input| {
                    let mut opened = opened.clone();
                    async move {
                        let _ = opened.wait_for(|open| *open).await;
                        Ok(input)
                    }
                }),
        )
        .await,
    );
    let mut ids = Vec::with_capacity(JOBS);
    for n in 0..JOBS {
        ids.push(h.run(json!({ "n": n })).await);
    }
    let mut polls = JoinSet::new();
    for (n, id) in ids.into_iter().enumerate() {
        let h = Arc::clone(&h);
        polls.spawn(async move {
            let (status, job) = h
                .get(&format!("/v2/{EP}/status-sync/{id}?wait=300000"))
                .await;
            assert_eq!(status, StatusCode::OK, "{job}");
            assert_eq!(job["status"], "COMPLETED", "{job}");
            assert_eq!(job["output"], json!({ "n": n }));
        });
    }
    // Held, not answered: nothing has ended yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(polls.try_join_next().is_none());
    gate.send(true).unwrap();
    let mut answered = 0;
    // Far inside the 300 s wait: the polls are woken, not timed out.
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(done) = polls.join_next().await {
            done.unwrap();
            answered += 1;
        }
    })
    .await
    .expect("every long poll is answered once its job ends");
    assert_eq!(answered, JOBS);
}
