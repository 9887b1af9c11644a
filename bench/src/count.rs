//! Counts the SDK's HTTP requests without touching the SDK: a tracing subscriber that enables
//! only the transport's per-request `runpod_http` span and does nothing but count it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// The shared count; read it with [`RequestCounter::get`].
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    /// Installs the counting subscriber for the whole process and returns its counter.
    pub(crate) fn install() -> Self {
        let counter = Self::default();
        // Only fails if a subscriber is already set; the bench's children set none.
        let _ = tracing::subscriber::set_global_default(Counting(counter.clone()));
        counter
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting(RequestCounter);

fn is_request_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.name() == "runpod_http" && meta.target().starts_with("runpod_transport")
}

impl Subscriber for Counting {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if is_request_span(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        is_request_span(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::DEBUG)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        let n = self.0.0.fetch_add(1, Ordering::Relaxed) + 1;
        Id::from_u64(n)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
