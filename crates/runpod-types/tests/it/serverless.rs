use runpod_types::serverless::*;
use serde_json::{Value, json};

#[test]
fn unknown_status_round_trips() {
    let job: JobState =
        serde_json::from_value(json!({"id": "j1", "status": "HIBERNATING"})).unwrap();
    assert_eq!(
        job.status,
        Some(JobStatus::Unknown("HIBERNATING".to_owned()))
    );
    assert!(!job.is_terminal(), "an unknown status must not end polling");
    assert_eq!(
        serde_json::to_value(&job).unwrap(),
        json!({"id": "j1", "status": "HIBERNATING"})
    );
}

#[test]
fn every_known_status_maps_both_ways() {
    let wire = [
        "IN_QUEUE",
        "IN_PROGRESS",
        "RUNNING",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMED_OUT",
    ];
    for w in wire {
        let s = JobStatus::from(w);
        assert!(
            !matches!(s, JobStatus::Unknown(_)),
            "{w} decoded as Unknown"
        );
        assert_eq!(s.as_str(), w);
        assert_eq!(s.to_string(), w);
        assert_eq!(JobStatus::from(w.to_owned()), s);
        assert_eq!(serde_json::to_value(&s).unwrap(), json!(w));
    }
    assert_eq!(JobStatus::default(), JobStatus::InQueue);
}

#[test]
fn terminal_statuses() {
    let terminal: Vec<&str> = [
        "IN_QUEUE",
        "IN_PROGRESS",
        "RUNNING",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMED_OUT",
        "NEW",
    ]
    .into_iter()
    .filter(|s| JobStatus::from(*s).is_terminal())
    .collect();
    assert_eq!(terminal, ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]);
}

#[test]
fn extra_fields_round_trip() {
    let body = json!({
        "id": "j1",
        "status": "COMPLETED",
        "delayTime": 12,
        "executionTime": 340,
        "output": {"text": "hi"},
        "workerId": "w9",
        "futureField": {"nested": [1, 2]},
        "anotherOne": "x"
    });
    let job: JobState = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(
        job.extra.get("futureField"),
        Some(&json!({"nested": [1, 2]}))
    );
    assert_eq!(job.extra.len(), 2);
    assert_eq!(serde_json::to_value(&job).unwrap(), body);

    let worker_job = json!({"id": "j2", "input": {"a": 1}, "mode": "fast"});
    let parsed: WorkerJob = serde_json::from_value(worker_job.clone()).unwrap();
    assert_eq!(parsed.extra.get("mode"), Some(&json!("fast")));
    assert_eq!(serde_json::to_value(&parsed).unwrap(), worker_job);
}

#[test]
fn partial_payloads_decode() {
    let job: JobState = serde_json::from_value(json!({"id": "j1"})).unwrap();
    assert_eq!(
        job,
        JobState {
            id: "j1".to_owned(),
            ..Default::default()
        }
    );
    let stream: StreamResponse = serde_json::from_value(json!({})).unwrap();
    assert_eq!(stream, StreamResponse::default());
    let health: HealthResponse = serde_json::from_value(json!({"jobs": {"inQueue": 3}})).unwrap();
    assert_eq!(health.jobs.and_then(|j| j.in_queue), Some(3));
    assert!(health.workers.is_none());
}

#[test]
fn required_fields_are_required() {
    let err = serde_json::from_value::<JobState>(json!({"status": "IN_QUEUE"})).unwrap_err();
    assert!(err.to_string().contains("missing field `id`"), "{err}");
    let err = serde_json::from_value::<WorkerJob>(json!({"id": "j"})).unwrap_err();
    assert!(err.to_string().contains("missing field `input`"), "{err}");
}

#[test]
fn null_output_is_kept_and_a_missing_one_is_none() {
    // A handler that returns nothing reports `"output": null`; the Python client indexes it.
    let job: JobState = serde_json::from_value(json!({"id": "j", "output": null})).unwrap();
    assert_eq!(job.output, Some(Value::Null));
    assert_eq!(
        serde_json::to_value(&job).unwrap(),
        json!({"id": "j", "output": null})
    );
    let job: JobState = serde_json::from_value(json!({"id": "j"})).unwrap();
    assert_eq!(job.output, None);
    let chunk: StreamChunk = serde_json::from_str(r#"{"output":null,"k":1}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&chunk).unwrap(),
        r#"{"output":null,"k":1}"#
    );
}

#[test]
fn writers_send_borrowed_or_raw_data_through_the_same_models() {
    // The worker's job-done body borrows the output; the reader gets the owned model back.
    let output = json!({"images": ["a", "b"]});
    let sent = serde_json::to_vec(&JobResult {
        output: Some(&output),
        error: None,
        status: None,
        stop_pod: Some(true),
        extra: serde_json::Map::new(),
    })
    .unwrap();
    let read: JobResult = serde_json::from_slice(&sent).unwrap();
    assert_eq!(read.output, Some(output));
    assert_eq!(read.stop_pod, Some(true));

    // The client's body carries its input already serialized.
    let input = serde_json::value::to_raw_value(&[1, 2]).unwrap();
    let sent = serde_json::to_string(&JobRequest {
        input: &*input,
        webhook: None,
        webhook_v2: None,
        policy: None,
        s3_config: None,
    })
    .unwrap();
    assert_eq!(sent, r#"{"input":[1,2]}"#);
}

#[test]
fn run_request_wire_shape() {
    let req = JobRequest {
        input: json!({"prompt": "hello"}),
        webhook: Some("https://example.com/hook".to_owned()),
        policy: Some(ExecutionPolicy {
            execution_timeout: Some(60_000),
            ttl: Some(3_600_000),
            ..Default::default()
        }),
        s3_config: Some(S3Config {
            bucket_name: Some("b".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    insta::assert_json_snapshot!(req, @r#"
    {
      "input": {
        "prompt": "hello"
      },
      "webhook": "https://example.com/hook",
      "policy": {
        "executionTimeout": 60000,
        "ttl": 3600000
      },
      "s3Config": {
        "bucketName": "b"
      }
    }
    "#);
}

#[test]
fn minimal_run_request_is_just_input() {
    let req = JobRequest {
        input: Value::Null,
        ..Default::default()
    };
    assert_eq!(serde_json::to_string(&req).unwrap(), r#"{"input":null}"#);
}

#[test]
fn progress_update_wire_shape() {
    let update: JobResult = JobResult {
        status: Some(JobStatus::InProgress),
        output: Some(json!("50%")),
        ..Default::default()
    };
    insta::assert_json_snapshot!(update, @r#"
    {
      "output": "50%",
      "status": "IN_PROGRESS"
    }
    "#);
}

#[test]
fn worker_error_document_decodes() {
    // What the Python worker puts, as a string, in the job-done `error`.
    let doc = r#"{"error_type": "<class 'ValueError'>", "error_message": "bad", "error_traceback": "Traceback…", "hostname": "h", "worker_id": "w", "runpod_version": "1.12.0"}"#;
    let e: WorkerError = serde_json::from_str(doc).unwrap();
    assert_eq!(e.error_message.as_deref(), Some("bad"));
    assert_eq!(e.runpod_version.as_deref(), Some("1.12.0"));
    assert!(e.extra.is_empty());
}

#[test]
fn stop_signals_and_purge() {
    let s: StopSignals = serde_json::from_value(json!({"jobsToStop": ["a", "b"]})).unwrap();
    assert_eq!(s.jobs_to_stop.unwrap(), ["a", "b"]);
    let p: PurgeQueueResponse =
        serde_json::from_value(json!({"removed": 2, "status": "completed"})).unwrap();
    assert_eq!(p.removed, Some(2));
}

#[test]
fn the_route_table_matches_its_paths() {
    // 15 protocol routes, the OpenAI route, and Batch Jobs (nine operations, one route).
    assert_eq!(Route::ALL.len(), 17);
    for (i, route) in Route::ALL.into_iter().enumerate() {
        assert_eq!(route.index(), i);
        assert!(
            route
                .path()
                .starts_with(&format!("/{{endpoint_id}}/{}", route.segment())),
            "{route:?}"
        );
        assert_eq!(Route::from_segment(route.segment()), Some(route));
        assert_eq!(route.to_string(), route.segment());
    }
    assert_eq!(
        Route::JobDone.path(),
        "/{endpoint_id}/job-done/{worker_id}/{job_id}"
    );
    assert_eq!(Route::JobDone.methods(), ["POST"]);
    assert_eq!(Route::Status.methods(), ["GET", "POST"]);
    assert_eq!(Route::Run.side(), Side::Client);
    assert_eq!(Route::JobTakeBatch.side(), Side::Worker);
    assert!(Route::Cancel.has_job_id() && !Route::Health.has_job_id());
    assert_eq!(Route::from_path("/ep-1/status/j1"), Some(Route::Status));
    assert_eq!(Route::from_path("/ep-1"), None);
    assert_eq!(Route::from_segment("nope"), None);
    assert_eq!(Route::Batch.methods(), ["POST", "GET", "PUT", "DELETE"]);
    assert_eq!(Route::Batch.path(), "/{endpoint_id}/batch");
    assert_eq!(
        Route::from_path("/ep-1/batch/b1/requests/r1"),
        Some(Route::Batch)
    );
    assert_eq!(Route::OpenAi.methods(), ["POST", "GET"]);
    assert_eq!(
        Route::from_path("/ep-1/openai/v1/chat/completions"),
        Some(Route::OpenAi)
    );
}
