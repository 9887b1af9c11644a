//! `bench openai`'s latency probe: what runpod-local adds per chunk of a streaming OpenAI call,
//! from the moment a worker starts its job-stream post to the moment the chunk's SSE line is
//! read by the caller.
//!
//! This process plays both sides with raw HTTP: the worker (job-take, job-stream, job-done)
//! and the caller (a streaming `chat/completions` call whose SSE body it reads), so both
//! instants come from one monotonic clock. Each chunk is posted only after the previous one
//! was read, so no chunk waits behind another. The number is an upper bound on runpod-local's
//! share: it also holds the post's own trip over loopback and the caller's read. The first
//! chunk of each stream is not counted (it also opens the SSE answer). Each stream has its own
//! endpoint, so that a worker takes exactly its caller's job; the real `openai_worker` serves
//! another endpoint and is idle meanwhile.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::Result;
use crate::measure::Latencies;

/// How long the probe may take altogether before it is reported as failed.
const PATIENCE: Duration = Duration::from_secs(120);

/// Runs `streams` probe streams at once, `chunks` chunks each; the latency of every chunk but
/// each stream's first.
pub(crate) async fn measure(
    base_url: &str,
    key: &str,
    streams: usize,
    chunks: usize,
) -> Result<Latencies> {
    let http = crate::raw::http()?;
    let mut tasks = Vec::new();
    for s in 0..streams {
        let endpoint = format!("openai-probe-{s}");
        tasks.push(tokio::spawn(one_stream(
            http.clone(),
            base_url.to_owned(),
            key.to_owned(),
            endpoint,
            chunks,
        )));
    }
    let mut all = Latencies::default();
    let joined = tokio::time::timeout(PATIENCE, async {
        for task in tasks {
            all.merge(task.await??);
        }
        Ok::<(), crate::Error>(())
    })
    .await;
    joined.map_err(|_| "the latency probe did not finish in 120 s")??;
    Ok(all)
}

async fn one_stream(
    http: reqwest::Client,
    base_url: String,
    key: String,
    endpoint: String,
    chunks: usize,
) -> Result<Latencies> {
    let v2 = format!("{base_url}/v2/{endpoint}");
    let worker = "probe-worker";
    // The caller: reads the SSE answer and reports each chunk's number the moment it is read.
    let (read_tx, mut read_rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let caller = tokio::spawn({
        let (http, url, key) = (
            http.clone(),
            format!("{v2}/openai/v1/chat/completions"),
            key.clone(),
        );
        async move {
            let body = json!({
                "model": "probe",
                "stream": true,
                "messages": [{"role": "user", "content": "probe"}],
            });
            let answer = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
            let mut bytes = answer.bytes_stream();
            let mut pending = String::new();
            while let Some(frame) = bytes.next().await {
                let at = Instant::now();
                pending.push_str(std::str::from_utf8(&frame?)?);
                while let Some(end) = pending.find("\n\n") {
                    let event: String = pending.drain(..end + 2).collect();
                    let data = event.trim().strip_prefix("data: ").unwrap_or_default();
                    if data == "[DONE]" {
                        return Ok::<(), crate::Error>(());
                    }
                    let chunk: Value = serde_json::from_str(data)?;
                    let n = chunk["probe"].as_u64().ok_or("a chunk without `probe`")?;
                    read_tx.send((usize::try_from(n)?, at))?;
                }
            }
            Err("the SSE answer ended without [DONE]".into())
        }
    });

    // The worker: takes the caller's job, then posts one chunk at a time.
    let job_id = loop {
        let taken = http
            .get(format!("{v2}/job-take/{worker}?gpu=LOCAL"))
            .header("authorization", &key)
            .send()
            .await?
            .error_for_status()?;
        if taken.status() == reqwest::StatusCode::OK {
            let job: Value = taken.json().await?;
            break job["id"].as_str().ok_or("a job without an id")?.to_owned();
        }
    };
    let stream_url = format!("{v2}/job-stream/{worker}/{job_id}?gpu=LOCAL");
    let mut latencies = Latencies::default();
    for n in 0..chunks {
        let chunk = json!({
            "output": format!("data: {}\n\n", json!({"object": "chat.completion.chunk", "probe": n})),
        });
        let posted = Instant::now();
        http.post(&stream_url)
            .header("authorization", &key)
            .json(&chunk)
            .send()
            .await?
            .error_for_status()?;
        let (read, at) = read_rx.recv().await.ok_or("the caller stopped reading")?;
        if read != n {
            return Err(format!("chunk {read} read where {n} was posted").into());
        }
        if n > 0 {
            latencies.record(at.saturating_duration_since(posted));
        }
    }
    http.post(format!(
        "{v2}/job-done/{worker}/{job_id}?gpu=LOCAL&isStream=true"
    ))
    .header("authorization", &key)
    .json(&json!({}))
    .send()
    .await?
    .error_for_status()?;
    caller.await??;
    Ok(latencies)
}
