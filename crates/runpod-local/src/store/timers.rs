//! Deadlines (execution timeout, ttl, result retention, heartbeat) in one min-heap.
//!
//! Entries are never removed early: when one comes due, the store checks that it still applies
//! (same job attempt, deadline not moved), which keeps every state change O(log n). Entries of
//! jobs long gone would otherwise stay until their deadline (a day for a ttl), so the store
//! compacts the heap once it has doubled since the last compaction ([`Timers::needs_compaction`]).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimerKind {
    /// The job's `attempt`-th run exceeds its execution timeout.
    ExecutionTimeout { attempt: u64 },
    /// The job's ttl (total lifespan) ends.
    Ttl,
    /// The job's result retention ends.
    Retention,
    /// The worker may have stopped sending heartbeats.
    Heartbeat,
}

#[derive(Debug)]
pub(super) struct Timer {
    pub(super) at: Instant,
    seq: u64,
    /// Shared by every timer of the endpoint (see [`Timers::push`]).
    pub(super) endpoint: Arc<str>,
    /// A job id (shared with the job), or a worker id for [`TimerKind::Heartbeat`].
    pub(super) subject: Arc<str>,
    pub(super) kind: TimerKind,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Timer {}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timer {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<Timer>>,
    seq: u64,
    /// Set when a pushed deadline is earlier than every other, so the reaper must wake up.
    earlier: bool,
    /// Heap size at which to drop entries that no longer apply.
    compact_at: usize,
    /// Endpoint ids, one allocation each for all their timers (endpoints are never removed).
    endpoints: HashSet<Arc<str>>,
}

/// Smallest heap worth compacting.
const MIN_COMPACTION: usize = 1024;

impl Timers {
    pub(super) fn push(&mut self, at: Instant, endpoint: &str, subject: Arc<str>, kind: TimerKind) {
        if self.heap.peek().is_none_or(|Reverse(first)| at < first.at) {
            self.earlier = true;
        }
        self.seq += 1;
        let endpoint = match self.endpoints.get(endpoint) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = endpoint.into();
                self.endpoints.insert(Arc::clone(&shared));
                shared
            }
        };
        self.heap.push(Reverse(Timer {
            at,
            seq: self.seq,
            endpoint,
            subject,
            kind,
        }));
    }

    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        if self.heap.peek()?.0.at <= now {
            self.heap.pop().map(|Reverse(timer)| timer)
        } else {
            None
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(timer)| timer.at)
    }

    pub(super) fn take_earlier(&mut self) -> bool {
        std::mem::take(&mut self.earlier)
    }

    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether the heap has grown enough since the last compaction to be compacted now; each
    /// compaction costs O(n) and happens after n/2 pushes at least, so O(1) per push.
    pub(super) fn needs_compaction(&self) -> bool {
        self.heap.len() >= self.compact_at.max(MIN_COMPACTION)
    }

    /// Keeps the entries `applies` accepts.
    pub(super) fn compact(&mut self, mut applies: impl FnMut(&Timer) -> bool) {
        self.heap.retain(|Reverse(timer)| applies(timer));
        self.compact_at = self.heap.len() * 2;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let now = Instant::now();
        let mut timers = Timers::default();
        timers.push(
            now + Duration::from_secs(3),
            "ep",
            "c".into(),
            TimerKind::Ttl,
        );
        assert!(timers.take_earlier());
        timers.push(
            now + Duration::from_secs(1),
            "ep",
            "a".into(),
            TimerKind::Retention,
        );
        assert!(timers.take_earlier());
        timers.push(
            now + Duration::from_secs(2),
            "ep",
            "b".into(),
            TimerKind::Heartbeat,
        );
        assert!(!timers.take_earlier(), "a later deadline needs no wake-up");

        assert!(timers.pop_due(now).is_none());
        assert_eq!(timers.next_deadline(), Some(now + Duration::from_secs(1)));
        let later = now + Duration::from_secs(2);
        let due: Vec<_> = std::iter::from_fn(|| timers.pop_due(later))
            .map(|t| t.subject.to_string())
            .collect();
        assert_eq!(due, ["a", "b"]);
        assert_eq!(timers.next_deadline(), Some(now + Duration::from_secs(3)));
    }
}
