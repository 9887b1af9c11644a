//! The batch phase: several Batch Jobs submitted through faulty batch routes (429, 503, dropped
//! connections on every `/batch…` request), one worker killed mid-batch, and every request of
//! every batch checked to have completed exactly once with its own output.
//!
//! Create and append are not idempotent, so failures are reconciled the way the SDK's docs
//! say: a failed create is looked for in the batch list, a failed append is resumed from the
//! batch's `requestTotal`.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt as _;
use runpod_serverless::{BatchHandle, BatchStatus, Endpoint};
use serde_json::{Value, json};

use crate::Error;
use crate::report::say;

/// Attempts at one reconciling step before the phase gives up.
const ATTEMPTS: usize = 50;

/// One planned batch: its number and size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned {
    pub(crate) number: usize,
    pub(crate) size: usize,
}

fn input(batch: usize, i: usize) -> Value {
    json!({"echo": {"batch": batch, "i": i}})
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Creates an empty DRAFT; after a failure, adopts a DRAFT that appeared in the list meanwhile.
async fn create(endpoint: &Endpoint, known: &mut HashSet<String>) -> Result<BatchHandle, Error> {
    let batches = endpoint.batch();
    for _ in 0..ATTEMPTS {
        match batches.create().await {
            Ok(handle) => {
                known.insert(handle.id().to_owned());
                return Ok(handle);
            }
            Err(e) => {
                say(format!(
                    "  … batch create failed ({e}); reconciling through the list"
                ));
                pause().await;
                if let Ok(list) = batches.list().await
                    && let Some(found) = list
                        .iter()
                        .find(|b| !known.contains(&b.id) && b.status == Some(BatchStatus::Draft))
                {
                    known.insert(found.id.clone());
                    return Ok(batches.get(found.id.clone()));
                }
            }
        }
    }
    Err("could not create a batch".into())
}

/// Appends inputs `0..size`, resuming from the batch's `requestTotal` after every failure.
async fn fill(handle: &BatchHandle, plan: Planned) -> Result<(), Error> {
    let mut from = 0;
    for _ in 0..ATTEMPTS {
        if from >= plan.size {
            return Ok(());
        }
        // Small pieces, so that a run of faults hits appends in the middle of a batch.
        let piece = (from..plan.size.min(from + 50)).map(|i| input(plan.number, i));
        match handle.append(piece).await {
            Ok(_) => from = plan.size.min(from + 50),
            Err(e) => {
                say(format!("  … append failed ({e}); reading requestTotal"));
                pause().await;
                if let Ok(summary) = handle.summary().await {
                    from = usize::try_from(summary.request_total.unwrap_or(0)).unwrap_or(0);
                }
            }
        }
    }
    Err(format!("could not fill batch {}", handle.id()).into())
}

async fn finalize(handle: &BatchHandle) -> Result<(), Error> {
    for _ in 0..ATTEMPTS {
        match handle.finalize().await {
            Ok(_) => return Ok(()),
            Err(e) => {
                pause().await;
                if let Ok(s) = handle.summary().await
                    && s.status != Some(BatchStatus::Draft)
                {
                    return Ok(());
                }
                say(format!("  … finalize failed ({e}); trying again"));
            }
        }
    }
    Err(format!("could not finalize batch {}", handle.id()).into())
}

/// Submits every planned batch and returns their handles.
pub(crate) async fn submit(
    endpoint: &Endpoint,
    plans: &[Planned],
) -> Result<Vec<BatchHandle>, Error> {
    let mut known = HashSet::new();
    let mut handles = Vec::new();
    for plan in plans {
        let handle = create(endpoint, &mut known).await?;
        fill(&handle, *plan).await?;
        finalize(&handle).await?;
        handles.push(handle);
    }
    Ok(handles)
}

/// Requests completed so far over every batch (for the kill trigger); `None` on a failed read.
pub(crate) async fn completed(handles: &[BatchHandle]) -> Option<usize> {
    let mut total = 0;
    for handle in handles {
        let summary = handle.summary().await.ok()?;
        total += usize::try_from(summary.request_completed.unwrap_or(0)).ok()?;
    }
    Some(total)
}

/// Waits for every batch, then checks each request: COMPLETED once, output equal to its input.
/// Returns the problems found (empty when every invariant holds).
pub(crate) async fn verify(handles: &[BatchHandle], plans: &[Planned]) -> Vec<String> {
    let mut problems = Vec::new();
    for (handle, plan) in handles.iter().zip(plans) {
        let mut summary = None;
        for _ in 0..ATTEMPTS {
            match handle.wait_with_timeout(Duration::from_secs(300)).await {
                Ok(s) => {
                    summary = Some(s);
                    break;
                }
                Err(e) if e.is_timeout() => break,
                Err(_) => pause().await,
            }
        }
        let Some(summary) = summary else {
            problems.push(format!("batch {} never finished", handle.id()));
            continue;
        };
        let counts = (
            summary.request_total,
            summary.request_completed,
            summary.request_failed,
        );
        let size = i64::try_from(plan.size).unwrap_or(i64::MAX);
        if counts != (Some(size), Some(size), Some(0)) {
            problems.push(format!(
                "batch {}: counts {counts:?}, expected {size} completed",
                handle.id()
            ));
        }
        let mut listed = None;
        for _ in 0..ATTEMPTS {
            let read: Result<Vec<_>, _> = handle
                .requests()
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect();
            if let Ok(read) = read {
                listed = Some(read);
                break;
            }
            pause().await;
        }
        let Some(listed) = listed else {
            problems.push(format!("batch {}: results unreadable", handle.id()));
            continue;
        };
        let mut seen = HashSet::new();
        for (_, request) in &listed {
            let output = request.output.clone().unwrap_or(Value::Null);
            let i = output["i"].as_u64().and_then(|i| usize::try_from(i).ok());
            match i {
                Some(i) if output == input(plan.number, i)["echo"] && seen.insert(i) => {}
                _ => problems.push(format!(
                    "batch {} request {}: {:?} with output {output}",
                    handle.id(),
                    request.id,
                    request.status
                )),
            }
        }
        if seen.len() != plan.size || listed.len() != plan.size {
            problems.push(format!(
                "batch {}: {} requests listed, {} distinct inputs completed, {} planned",
                handle.id(),
                listed.len(),
                seen.len(),
                plan.size
            ));
        }
    }
    problems
}
