//! The blocking Batch Jobs namespace: [`crate::batch`] without `async`.

use std::sync::Arc;
use std::time::Duration;

use runpod_transport::Result;
use runpod_types::serverless::{Batch, BatchRequest, BatchRequestsPage};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Endpoint;
use super::iter::Iter;
use crate::batch::BatchOutput;

impl Endpoint {
    /// Batch Jobs (beta) on this endpoint; see [`crate::Batches`].
    pub fn batch(&self) -> Batches {
        Batches {
            inner: self.inner.batch(),
            rt: Arc::clone(&self.rt),
        }
    }
}

wrapper! {
    /// The blocking [`crate::Batches`].
    #[derive(Clone)]
    pub struct Batches(crate::Batches);
}

impl Batches {
    fn handle(&self, inner: crate::BatchHandle) -> BatchHandle {
        BatchHandle {
            inner,
            rt: Arc::clone(&self.rt),
        }
    }

    /// See [`crate::Batches::with_max_append_bytes`].
    #[must_use]
    pub fn with_max_append_bytes(mut self, bytes: usize) -> Self {
        self.inner = self.inner.with_max_append_bytes(bytes);
        self
    }

    /// A handle to an existing batch, by id. Makes no request.
    pub fn get(&self, batch_id: impl Into<String>) -> BatchHandle {
        self.handle(self.inner.get(batch_id))
    }

    /// See [`crate::Batches::create`].
    ///
    /// # Errors
    /// As the async method.
    pub fn create(&self) -> Result<BatchHandle> {
        let inner = self.inner.clone();
        let handle = self.rt.block_on(async move { inner.create().await })?;
        Ok(self.handle(handle))
    }

    /// See [`crate::Batches::create_with`]. The inputs are serialized on the calling thread,
    /// piece by piece.
    ///
    /// # Errors
    /// As the async method.
    pub fn create_with<I>(&self, inputs: impl IntoIterator<Item = I>) -> Result<BatchHandle>
    where
        I: Serialize,
    {
        // Serialize here so that `I` need not be `Send`; the async side sends values.
        let values = inputs
            .into_iter()
            .enumerate()
            .map(|(index, input)| {
                serde_json::to_value(input).map_err(|e| {
                    runpod_transport::Error::invalid_input(format!(
                        "cannot encode input {index} as JSON: {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let inner = self.inner.clone();
        let handle = self
            .rt
            .block_on(async move { inner.create_with(values).await })?;
        Ok(self.handle(handle))
    }

    /// See [`crate::Batches::list`].
    ///
    /// # Errors
    /// As the async method.
    pub fn list(&self) -> Result<Vec<Batch>> {
        let inner = self.inner.clone();
        self.rt.block_on(async move { inner.list().await })
    }

    /// See [`crate::Batches::run`]: the outputs as an iterator, in completion order.
    pub fn run<It, T>(&self, inputs: It) -> Iter<Result<BatchOutput<T>>>
    where
        It: IntoIterator + Send + 'static,
        It::IntoIter: Send,
        It::Item: Serialize + Send + 'static,
        T: DeserializeOwned + Send + 'static,
    {
        Iter::new(&self.rt, self.inner.run::<It, T>(inputs))
    }
}

wrapper! {
    /// The blocking [`crate::BatchHandle`].
    #[derive(Clone)]
    pub struct BatchHandle(crate::BatchHandle);
}

impl BatchHandle {
    /// The batch id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// The async handle.
    pub fn as_async(&self) -> &crate::BatchHandle {
        &self.inner
    }

    /// See [`crate::BatchHandle::append`].
    ///
    /// # Errors
    /// As the async method.
    pub fn append<I: Serialize>(&self, inputs: impl IntoIterator<Item = I>) -> Result<Vec<String>> {
        let values = inputs
            .into_iter()
            .map(serde_json::to_value)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                runpod_transport::Error::invalid_input(format!("cannot encode an input: {e}"))
            })?;
        self.rt
            .call(&self.inner, |h| async move { h.append(values).await })
    }

    /// See [`crate::BatchHandle::rename`].
    ///
    /// # Errors
    /// As the async method.
    pub fn rename(&self, name: &str) -> Result<Batch> {
        let name = name.to_owned();
        self.rt
            .call(&self.inner, |h| async move { h.rename(&name).await })
    }

    /// See [`crate::BatchHandle::remove_request`].
    ///
    /// # Errors
    /// As the async method.
    pub fn remove_request(&self, request_id: &str) -> Result<Batch> {
        let id = request_id.to_owned();
        self.rt
            .call(&self.inner, |h| async move { h.remove_request(&id).await })
    }

    /// See [`crate::BatchHandle::finalize`].
    ///
    /// # Errors
    /// As the async method.
    pub fn finalize(&self) -> Result<Batch> {
        self.rt
            .call(&self.inner, |h| async move { h.finalize().await })
    }

    /// See [`crate::BatchHandle::cancel`].
    ///
    /// # Errors
    /// As the async method.
    pub fn cancel(&self) -> Result<Batch> {
        self.rt
            .call(&self.inner, |h| async move { h.cancel().await })
    }

    /// See [`crate::BatchHandle::summary`].
    ///
    /// # Errors
    /// As the async method.
    pub fn summary(&self) -> Result<Batch> {
        self.rt
            .call(&self.inner, |h| async move { h.summary().await })
    }

    /// See [`crate::BatchHandle::requests_page`].
    ///
    /// # Errors
    /// As the async method.
    pub fn requests_page(&self, offset: usize, limit: usize) -> Result<BatchRequestsPage> {
        self.rt.call(&self.inner, move |h| async move {
            h.requests_page(offset, limit).await
        })
    }

    /// See [`crate::BatchHandle::requests`]: every child request with its position.
    pub fn requests(&self) -> Iter<Result<(usize, BatchRequest)>> {
        Iter::new(&self.rt, self.inner.requests())
    }

    /// See [`crate::BatchHandle::wait`].
    ///
    /// # Errors
    /// As the async method.
    pub fn wait(&self) -> Result<Batch> {
        self.rt.call(&self.inner, |h| async move { h.wait().await })
    }

    /// See [`crate::BatchHandle::wait_with_timeout`].
    ///
    /// # Errors
    /// As the async method.
    pub fn wait_with_timeout(&self, timeout: Duration) -> Result<Batch> {
        self.rt.call(&self.inner, move |h| async move {
            h.wait_with_timeout(timeout).await
        })
    }

    /// See [`crate::BatchHandle::progress`].
    pub fn progress(&self) -> Iter<Result<Batch>> {
        Iter::new(&self.rt, self.inner.progress())
    }
}

/// The batch streams of the blocking API ([`Batches::run`], [`BatchHandle::requests`],
/// [`BatchHandle::progress`]): an [`Iter`] like every blocking stream.
pub type BatchIter<T> = Iter<T>;
