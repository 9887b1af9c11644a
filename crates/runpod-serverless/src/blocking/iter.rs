//! Every stream of the blocking API as an iterator.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use futures_core::Stream;

use super::runtime::RuntimeThread;

type Boxed<T> = Pin<Box<dyn Stream<Item = T> + Send + 'static>>;

/// A stream of the async API as an iterator: each `next` runs the stream on the runtime thread
/// until it yields; dropping the iterator drops the stream (and stops its polling).
pub struct Iter<T> {
    rt: Arc<RuntimeThread>,
    /// `None` once the stream ended.
    stream: Option<Boxed<T>>,
}

impl<T> fmt::Debug for Iter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Iter")
            .field("ended", &self.stream.is_none())
            .finish()
    }
}

impl<T: Send + 'static> Iter<T> {
    pub(crate) fn new(
        rt: &Arc<RuntimeThread>,
        stream: impl Stream<Item = T> + Send + 'static,
    ) -> Self {
        Self {
            rt: Arc::clone(rt),
            stream: Some(Box::pin(stream)),
        }
    }
}

impl<T: Send + 'static> Iterator for Iter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rt.next_item(&mut self.stream)
    }
}
