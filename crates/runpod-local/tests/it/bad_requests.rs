//! Malformed requests at the edges: bad query parameters, bodies that are not UTF-8, nested
//! past serde's recursion limit or streamed past the size limit, and arbitrary bodies. Every
//! one gets a JSON error with a 4xx status, and the queue goes on exactly as before: no job is
//! lost and none appears from a refused request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::support::{EP, Harness};

/// `n`, or `PROPTEST_CASES` when set (for longer local runs).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

#[track_caller]
fn assert_refused(answer: &(StatusCode, Value), status: StatusCode, what: &str) {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    assert!(
        answer.1["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: no error message: {}",
        answer.1
    );
}

#[tokio::test]
async fn bad_query_parameters_are_400_with_a_reason() {
    let h = Harness::start().await;
    let id = h.run(json!({"k": 1})).await;
    for wait in ["abc", "-1", "1e3", "", "99999999999999999999999"] {
        let (status, body) = h
            .post(
                &format!("/v2/{EP}/runsync?wait={wait}"),
                json!({"input": 1}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "runsync wait={wait}: {body}"
        );
        let answer = h
            .get(&format!("/v2/{EP}/status-sync/{id}?wait={wait}"))
            .await;
        assert_refused(&answer, StatusCode::BAD_REQUEST, "status-sync wait");
        let answer = h.get(&format!("/v2/{EP}/stream/{id}?wait={wait}")).await;
        assert_refused(&answer, StatusCode::BAD_REQUEST, "stream wait");
    }
    for size in ["0", "-1", "abc", "1.5", ""] {
        let answer = h
            .get(&format!("/v2/{EP}/job-take-batch/w?batch_size={size}"))
            .await;
        assert_refused(&answer, StatusCode::BAD_REQUEST, "batch_size");
    }
    // Nothing above queued or took anything: the one job is still there for a worker.
    assert_eq!(h.health().await["jobs"]["inQueue"], 1);
    h.take_expect("w", &id).await;
}

#[tokio::test]
async fn bodies_that_are_not_utf8_or_nest_too_deep_are_refused() {
    let h = Harness::start().await;
    let run = h.url(&format!("/v2/{EP}/run"));
    let deep = format!(
        "{{\"input\": {}1{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let bodies: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00, 0x01],
        b"{\"input\": \"\xff\xfe\"}".to_vec(),
        deep.into_bytes(),
        b"{\"input\": 1} trailing".to_vec(),
    ];
    for body in bodies {
        let answer = h
            .send(
                h.http
                    .post(&run)
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await;
        assert_refused(
            &answer,
            StatusCode::BAD_REQUEST,
            &String::from_utf8_lossy(&body[..body.len().min(40)]),
        );
    }
    assert_eq!(h.health().await["jobs"]["inQueue"], 0);
    let id = h.run(json!("still works")).await;
    assert_eq!(h.take_expect("w", &id).await["input"], "still works");
}

#[tokio::test]
async fn a_streamed_body_without_length_is_cut_at_the_limit() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let h = Harness::start().await;
    // 11 MiB in 64 KiB chunks and no content-length: the server must count as it reads.
    let mut socket = tokio::net::TcpStream::connect(h.server.local_addr())
        .await
        .unwrap();
    let head = format!(
        "POST /v2/{EP}/run HTTP/1.1\r\nhost: local\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let chunk = [
        format!("{:x}\r\n", 64 * 1024).into_bytes(),
        vec![b' '; 64 * 1024],
        b"\r\n".to_vec(),
    ]
    .concat();
    for _ in 0..176 {
        // The server may answer and close before the whole body is sent.
        if socket.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    assert_eq!(h.health().await["jobs"]["inQueue"], 0);
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let key = prop_oneof![
            proptest::sample::select(
                &[
                    "input",
                    "webhook",
                    "policy",
                    "executionTimeout",
                    "ttl",
                    "lowPriority",
                    "s3Config"
                ][..]
            )
            .prop_map(str::to_owned),
            "[a-z]{1,5}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Arbitrary bytes, arbitrary JSON, and near-valid job requests (an `input` and odd fields).
fn run_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        (json_value(), json_value(), json_value()).prop_map(|(input, policy, webhook)| {
            serde_json::to_vec(&json!({"input": input, "policy": policy, "webhook": webhook}))
                .unwrap()
        }),
        (json_value(), any::<proptest::sample::Index>()).prop_map(|(input, cut)| {
            let full = serde_json::to_vec(&json!({"input": input})).unwrap();
            full[..cut.index(full.len())].to_vec()
        }),
        // Always valid, so every run also exercises acceptance (the arms above are valid only
        // by chance, and a run of 96 cases once drew none).
        json_value().prop_map(|v| serde_json::to_vec(&json!({"input": {"v": v}})).unwrap()),
    ]
}

/// Any body sent to `/run` either queues exactly one job (200 with an id) or is refused with a
/// JSON 4xx; afterwards the queue holds exactly the accepted jobs, and job-done with arbitrary
/// bodies either settles the job or leaves it running.
#[test]
fn arbitrary_bodies_queue_one_job_or_get_a_json_error() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(Harness::start());
    let run = h.url(&format!("/v2/{EP}/run"));
    let accepted = AtomicUsize::new(0);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(96),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&run_body(), |body| {
            let (status, answer) = rt.block_on(
                h.send(
                    h.http
                        .post(&run)
                        .header("content-type", "application/json")
                        .body(body.clone()),
                ),
            );
            if status == StatusCode::OK {
                prop_assert!(
                    answer["id"].as_str().is_some_and(|id| !id.is_empty()),
                    "{}",
                    answer
                );
                prop_assert_eq!(&answer["status"], "IN_QUEUE");
                accepted.fetch_add(1, Ordering::SeqCst);
            } else {
                prop_assert!(
                    status.is_client_error(),
                    "{} for {:?}",
                    status,
                    String::from_utf8_lossy(&body)
                );
                prop_assert!(answer["error"].is_string(), "{}", answer);
            }
            Ok(())
        })
        .unwrap();
    let queued = accepted.load(Ordering::SeqCst);
    assert!(queued > 0, "no generated body was a valid job request");
    assert_eq!(
        rt.block_on(h.health())["jobs"]["inQueue"],
        json!(queued),
        "refused requests queued jobs, or accepted ones were lost"
    );

    // Worker side: a held job gets arbitrary job-done bodies; a refusal leaves it running.
    let id = rt
        .block_on(h.take("w"))
        .and_then(|job| job["id"].as_str().map(str::to_owned))
        .expect("a queued job to take");
    let done = h.url(&format!("/v2/{EP}/job-done/w/{id}"));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(48),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..48), |body| {
            let (status, answer) = rt.block_on(h.send(h.http.post(&done).body(body.clone())));
            let job = rt.block_on(h.job(&id));
            if status == StatusCode::OK {
                // A JSON object is a result (or a progress update): the job is settled or in progress.
                prop_assert!(serde_json::from_slice::<Map<String, Value>>(&body).is_ok());
            } else {
                prop_assert!(status.is_client_error(), "{}", status);
                prop_assert!(answer["error"].is_string(), "{}", answer);
                prop_assert!(
                    job["status"] == "IN_PROGRESS"
                        || job["status"] == "COMPLETED"
                        || job["status"] == "FAILED",
                    "{}",
                    job
                );
            }
            Ok(())
        })
        .unwrap();
    rt.block_on(async {
        // Whatever happened, the server still serves both sides.
        let next = h.run(json!("after the noise")).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(job) = h.take("w2").await
                && job["id"] == json!(next)
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the new job never came out"
            );
        }
    });
}
