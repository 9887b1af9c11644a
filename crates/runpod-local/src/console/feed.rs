//! The live feed, `GET /_local/v1/events`: server-sent events of job changes and overviews.
//!
//! The store records job changes only while a feed is connected (see `store/console.rs`). One
//! flusher task drains them every [`FLUSH_EVERY`], keeps the latest change per job, formats the
//! events once and hands them to a broadcast channel; each connection forwards from its own
//! receiver. Nothing the store does ever waits for a client: a client that reads too slowly
//! falls behind in the broadcast ring, loses the events it missed, and is told so with
//! `event: resync`, after which the page fetches the lists again.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, Response};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, MissedTickBehavior};

use super::{Console, sse_event};
use crate::channel_body::ChannelBody;
use crate::store::console::JobChange;

/// How often job changes are published.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// The overview is published at most this often, when something changed…
const OVERVIEW_EVERY: Duration = Duration::from_secs(1);
/// …and at least this often (worker heartbeats age without any job changing).
const OVERVIEW_AT_LEAST: Duration = Duration::from_secs(5);
/// A comment line sent on a quiet feed, so proxies and the browser keep the connection.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);
/// Events a connection may fall behind by before it gets `resync`.
const RING: usize = 32;
/// Events queued for one connection's socket.
const PER_CONNECTION: usize = 4;
/// Jobs per `jobs` event, so that one event stays small.
const JOBS_PER_EVENT: usize = 500;

/// The sending side, shared by the handlers and the flusher.
#[derive(Clone)]
pub(super) struct Feed {
    sender: broadcast::Sender<Bytes>,
    /// Something the overview shows changed outside the store (a fault rule).
    overview_changed: Arc<AtomicBool>,
}

impl Feed {
    pub(super) fn new() -> Self {
        Self {
            sender: broadcast::channel(RING).0,
            overview_changed: Arc::default(),
        }
    }

    pub(super) fn overview_changed(&self) {
        self.overview_changed.store(true, Ordering::Relaxed);
    }
}

/// Publishes job changes and overviews while any feed is connected; stops with the server.
pub(super) async fn flush_loop(console: Console) {
    let shutdown = console.store.shutdown_token().clone();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_overview = Instant::now();
    let mut dirty = false;
    let mut spare = Vec::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let feed = &console.feed;
        if feed.sender.receiver_count() == 0 {
            continue;
        }
        let drained = console.store.console_drain(std::mem::take(&mut spare));
        if drained.overflowed {
            let _ = feed.sender.send(resync());
        }
        if !drained.changes.is_empty() {
            dirty = true;
            for event in jobs_events(&drained.changes) {
                let _ = feed.sender.send(event);
            }
        }
        spare = drained.changes;
        dirty |= feed.overview_changed.swap(false, Ordering::Relaxed);
        let since = last_overview.elapsed();
        if (dirty && since >= OVERVIEW_EVERY) || since >= OVERVIEW_AT_LEAST {
            let _ = feed.sender.send(sse_event("overview", &console.overview()));
            last_overview = Instant::now();
            dirty = false;
        }
    }
}

/// The latest change of each job, in the order of those latest changes, as `jobs` events.
fn jobs_events(changes: &[JobChange]) -> Vec<Bytes> {
    // Job ids are the server's own uuids, so a fast unkeyed hash is safe here.
    let mut seen: HashSet<(&str, &str), BuildHasherDefault<FxHasher>> =
        HashSet::with_capacity_and_hasher(changes.len(), BuildHasherDefault::default());
    let mut latest: Vec<&JobChange> = changes
        .iter()
        .rev()
        .filter(|change| seen.insert((change.id.as_str(), &*change.endpoint)))
        .collect();
    latest.reverse();
    latest
        .chunks(JOBS_PER_EVENT)
        .map(|chunk| sse_event("jobs", &chunk))
        .collect()
}

/// The multiply-rotate hash rustc uses (FxHash): a few cycles per word instead of SipHash's
/// tens, for the flush's one set of job ids.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn resync() -> Bytes {
    Bytes::from_static(b"event: resync\ndata: {}\n\n")
}

/// `GET /_local/v1/events`: opens with an overview, then follows the feed.
pub(super) async fn events(State(console): State<Console>) -> Response<Body> {
    // Subscribe before the first overview, so no change falls between the two.
    let receiver = console.feed.sender.subscribe();
    let first = sse_event("overview", &console.overview());
    let (sender, queue) = mpsc::channel(PER_CONNECTION);
    tokio::spawn(forward(console, receiver, sender, first));
    let mut response = Response::new(Body::new(ChannelBody::new(queue)));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Counts a connected feed in the store for as long as it lives.
struct Listening(Arc<crate::store::Store>);

impl Listening {
    fn new(store: Arc<crate::store::Store>) -> Self {
        store.console_listen(true);
        Self(store)
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.console_listen(false);
    }
}

/// One connection: broadcast events and keepalives into its socket's queue, until the client
/// goes or the server stops.
async fn forward(
    console: Console,
    mut receiver: broadcast::Receiver<Bytes>,
    sender: mpsc::Sender<Bytes>,
    first: Bytes,
) {
    let _listening = Listening::new(Arc::clone(&console.store));
    let shutdown = console.store.shutdown_token().clone();
    if sender.send(first).await.is_err() {
        return;
    }
    let mut keepalive = tokio::time::interval_at(Instant::now() + KEEPALIVE_EVERY, KEEPALIVE_EVERY);
    loop {
        let event = tokio::select! {
            received = receiver.recv() => match received {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "console feed client fell behind; resync");
                    resync()
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = keepalive.tick() => Bytes::from_static(b": keepalive\n\n"),
            () = sender.closed() => return,
            () = shutdown.cancelled() => return,
        };
        // Waits while the client's socket is full; meanwhile the ring moves on without it.
        tokio::select! {
            sent = sender.send(event) => if sent.is_err() { return },
            () = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runpod_types::serverless::JobStatus;

    fn change(id: &str, state: JobStatus, at_ms: u64) -> JobChange {
        JobChange {
            id: id.to_owned(),
            endpoint: "ep".into(),
            state: Some(state),
            worker: None,
            at_ms,
        }
    }

    #[test]
    fn changes_coalesce_to_the_latest_per_job_in_order_of_it() {
        let events = jobs_events(&[
            change("a", JobStatus::InQueue, 1),
            change("b", JobStatus::InQueue, 2),
            change("a", JobStatus::InProgress, 3),
            change("c", JobStatus::InQueue, 4),
            change("b", JobStatus::Completed, 5),
        ]);
        assert_eq!(events.len(), 1);
        let text = std::str::from_utf8(&events[0]).unwrap();
        let data: serde_json::Value =
            serde_json::from_str(text.strip_prefix("event: jobs\ndata: ").unwrap().trim()).unwrap();
        let seen: Vec<(&str, &str)> = data
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap(), c["state"].as_str().unwrap()))
            .collect();
        assert_eq!(
            seen,
            [("a", "IN_PROGRESS"), ("c", "IN_QUEUE"), ("b", "COMPLETED")]
        );
    }

    #[test]
    fn large_flushes_split_into_bounded_events() {
        let changes: Vec<JobChange> = (0..1_250)
            .map(|i| change(&i.to_string(), JobStatus::InQueue, i))
            .collect();
        assert_eq!(jobs_events(&changes).len(), 3);
    }
}
