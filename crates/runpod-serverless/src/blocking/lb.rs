//! The blocking face of [`crate::lb`]: the same requests, sent from the runtime thread.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use runpod_transport::{Method, Result, SseEvent};
use serde::Serialize;

use super::iter::Iter;
use crate::lb::{Affinity, ColdStart, LbResponse};

wrapper! {
    /// The blocking [`crate::lb::LoadBalancer`]. Cheap to clone.
    #[derive(Clone)]
    pub struct LoadBalancer(crate::lb::LoadBalancer);
}

impl LoadBalancer {
    /// The same endpoint with another cold-start policy.
    #[must_use]
    pub fn with_cold_start(self, cold_start: ColdStart) -> Self {
        Self {
            inner: self.inner.with_cold_start(cold_start),
            rt: self.rt,
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        self.inner.url(path)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> LbRequest {
        LbRequest {
            inner: self.inner.request(method, path),
            rt: Arc::clone(&self.rt),
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> LbRequest {
        self.request(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> LbRequest {
        self.request(Method::POST, path)
    }

    /// `PUT path`.
    pub fn put(&self, path: &str) -> LbRequest {
        self.request(Method::PUT, path)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> LbRequest {
        self.request(Method::DELETE, path)
    }
}

wrapper! {
    /// The blocking [`crate::lb::LbRequest`].
    #[must_use = "a request does nothing until it is sent"]
    pub struct LbRequest(crate::lb::LbRequest);
}

impl LbRequest {
    fn map(self, f: impl FnOnce(crate::lb::LbRequest) -> crate::lb::LbRequest) -> Self {
        Self {
            inner: f(self.inner),
            rt: self.rt,
        }
    }

    /// See [`crate::lb::LbRequest::affinity`].
    pub fn affinity(self, affinity: Affinity) -> Self {
        self.map(|r| r.affinity(affinity))
    }

    /// See [`crate::lb::LbRequest::header`].
    pub fn header(self, name: &str, value: impl Into<String>) -> Self {
        self.map(|r| r.header(name, value))
    }

    /// See [`crate::lb::LbRequest::query`].
    pub fn query(self, key: &str, value: impl ToString) -> Self {
        self.map(|r| r.query(key, value))
    }

    /// See [`crate::lb::LbRequest::json`].
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|r| r.json(body))
    }

    /// See [`crate::lb::LbRequest::body`].
    pub fn body(self, bytes: impl Into<Bytes>, content_type: &str) -> Self {
        self.map(|r| r.body(bytes, content_type))
    }

    /// See [`crate::lb::LbRequest::timeout`].
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|r| r.timeout(timeout))
    }

    /// See [`crate::lb::LbRequest::idempotent`].
    pub fn idempotent(self, yes: bool) -> Self {
        self.map(|r| r.idempotent(yes))
    }

    /// Sends it and reads the whole answer.
    ///
    /// # Errors
    /// As [`crate::lb::LbRequest::send`].
    pub fn send(self) -> Result<LbResponse> {
        let inner = self.inner;
        self.rt.block_on(async move { inner.send().await })
    }

    /// Sends it and reads the answer as server-sent events, one per `next()`.
    ///
    /// # Errors
    /// As [`crate::lb::LbRequest::events`].
    pub fn events(self) -> Result<LbEvents> {
        let stream = self.rt.block_on(self.inner.events())?;
        Ok(Iter::new(&self.rt, stream))
    }
}

/// Server-sent events of an answer, as an iterator; made by [`LbRequest::events`].
pub type LbEvents = Iter<Result<SseEvent>>;
