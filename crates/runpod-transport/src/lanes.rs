//! The connections that carry the requests in flight.
//!
//! Under HTTP/2 every request to a host shares one connection, and a server serves only so many
//! of them at once on it (`SETTINGS_MAX_CONCURRENT_STREAMS`); the requests past that wait inside
//! the connection for a stream to free. A long poll holds its stream for its whole wait, so a
//! client waiting on thousands of jobs would leave every other request (the next `/run`, a
//! cancel) queued behind them, unsent. reqwest keeps one HTTP/2 connection per host and cannot
//! be told to open another, so the client keeps lanes: HTTP clients of their own, each with its
//! own pool. A request takes the first lane with fewer than `streams` requests in flight, and a
//! lane is opened when every one is full. Under HTTP/1.1 a request in flight has a connection
//! to itself anyway: there is one lane and nothing is counted.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

/// Lanes at most: 128 × 100 streams holds 12 800 requests in flight; past that, requests share
/// the least-loaded lane and wait there for a stream.
const MAX_LANES: usize = 128;

pub(crate) struct Lanes {
    first: Lane,
    /// Lanes 1 and on, opened as needed.
    more: Box<[OnceLock<Lane>]>,
    /// Requests in flight on one lane before the next is taken.
    streams: u32,
}

struct Lane {
    http: reqwest::Client,
    in_flight: AtomicU32,
}

impl Lane {
    fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            in_flight: AtomicU32::new(0),
        }
    }
}

/// A request's hold on its lane, given back when dropped (with the response body, for a
/// response read as it arrives).
pub(crate) struct Lease {
    held: Option<(Arc<Lanes>, usize)>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some((lanes, index)) = self.held.take()
            && let Some(lane) = lanes.lane(index)
        {
            lane.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Lanes {
    /// Lanes whose first is `first`; each holds `streams` requests (at least 1).
    pub(crate) fn new(first: reqwest::Client, streams: u32) -> Self {
        Self {
            first: Lane::new(first),
            more: (1..MAX_LANES).map(|_| OnceLock::new()).collect(),
            streams: streams.max(1),
        }
    }

    /// The first lane's client: the one every request uses when nothing is multiplexed.
    pub(crate) fn first(&self) -> &reqwest::Client {
        &self.first.http
    }

    /// Lane `index`, if opened.
    fn lane(&self, index: usize) -> Option<&Lane> {
        match index {
            0 => Some(&self.first),
            _ => self.more.get(index - 1)?.get(),
        }
    }

    /// The lanes opened so far, with their indices.
    fn open_lanes(&self) -> impl Iterator<Item = (usize, &Lane)> {
        (0..MAX_LANES).map_while(|index| Some((index, self.lane(index)?)))
    }

    /// The client for one multiplexed request, and its lease. `open` makes the client of a new
    /// lane (`None`: it could not, and the new lane shares the first lane's connections).
    pub(crate) fn take(
        self: &Arc<Self>,
        open: impl Fn() -> Option<reqwest::Client>,
    ) -> (&reqwest::Client, Lease) {
        let lanes = std::iter::once(&self.first).chain(self.more.iter().map(|slot| {
            slot.get_or_init(|| Lane::new(open().unwrap_or_else(|| self.first.http.clone())))
        }));
        // Lanes are opened in order, each only once those before it are full.
        for (index, lane) in lanes.enumerate() {
            if lane.in_flight.fetch_add(1, Ordering::Relaxed) < self.streams {
                return (&lane.http, self.lease(index));
            }
            lane.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        // Every lane full: the least loaded one, where the request waits for a stream.
        let (index, lane) = self
            .open_lanes()
            .min_by_key(|(_, lane)| lane.in_flight.load(Ordering::Relaxed))
            .unwrap_or((0, &self.first));
        lane.in_flight.fetch_add(1, Ordering::Relaxed);
        (&lane.http, self.lease(index))
    }

    fn lease(self: &Arc<Self>, index: usize) -> Lease {
        Lease {
            held: Some((Arc::clone(self), index)),
        }
    }

    /// Lanes opened so far (for tests and tracing).
    pub(crate) fn opened(&self) -> usize {
        self.open_lanes().count()
    }

    /// Requests in flight over every lane.
    pub(crate) fn in_flight_total(&self) -> u32 {
        self.open_lanes()
            .map(|(_, lane)| lane.in_flight.load(Ordering::Relaxed))
            .sum()
    }

    /// Requests in flight on each lane opened.
    #[cfg(test)]
    fn in_flight(&self) -> Vec<u32> {
        self.open_lanes()
            .map(|(_, lane)| lane.in_flight.load(Ordering::Relaxed))
            .collect()
    }
}

impl Lease {
    /// A lease on nothing: the request was not multiplexed.
    pub(crate) fn none() -> Self {
        Self { held: None }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn lanes(streams: u32) -> Arc<Lanes> {
        Arc::new(Lanes::new(reqwest::Client::new(), streams))
    }

    #[test]
    fn a_lane_opens_only_when_every_open_lane_is_full() {
        let lanes = lanes(2);
        let opened = Cell::new(0);
        let open = || {
            opened.set(opened.get() + 1);
            Some(reqwest::Client::new())
        };
        let a = lanes.take(open).1;
        let b = lanes.take(open).1;
        assert_eq!((opened.get(), lanes.in_flight()), (0, vec![2]));
        let c = lanes.take(open).1;
        assert_eq!((opened.get(), lanes.in_flight()), (1, vec![2, 1]));
        drop(a);
        // The first lane has room again: taken before the second.
        let d = lanes.take(open).1;
        assert_eq!((opened.get(), lanes.in_flight()), (1, vec![2, 1]));
        drop((b, c, d));
        assert_eq!(lanes.in_flight(), vec![0, 0]);
        assert_eq!(lanes.opened(), 2);
    }

    #[test]
    fn past_the_last_lane_requests_share_the_least_loaded() {
        let lanes = lanes(1);
        let mut held: Vec<Lease> = (0..MAX_LANES)
            .map(|_| lanes.take(|| Some(reqwest::Client::new())).1)
            .collect();
        assert_eq!(lanes.opened(), MAX_LANES);
        // Free the 10th lane's stream, then fill every lane to two but one.
        held.swap_remove(9);
        held.push(lanes.take(|| None).1);
        assert_eq!(lanes.in_flight()[9], 1);
        let extra = lanes.take(|| None).1;
        assert!(lanes.in_flight().iter().all(|&n| n >= 1));
        assert_eq!(lanes.in_flight().iter().filter(|&&n| n == 2).count(), 1);
        drop(extra);
        drop(held);
        assert!(lanes.in_flight().iter().all(|&n| n == 0));
    }

    #[test]
    fn a_lane_that_cannot_be_opened_shares_the_first_lanes_connections() {
        let lanes = lanes(1);
        let _a = lanes.take(|| None);
        let (_, b) = lanes.take(|| None);
        assert_eq!(lanes.opened(), 2);
        assert_eq!(lanes.in_flight(), vec![1, 1]);
        drop(b);
    }
}
