//! Runpod REST API v2 models, generated from `schema/rest/openapi.json`.

pub use crate::generated::rest::*;

/// One operation of the REST API, as the spec lists it (see [`OPERATIONS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RestOperation {
    /// The spec's `operationId` (`createPod`).
    pub operation_id: &'static str,
    /// The HTTP method in upper case (`POST`).
    pub method: &'static str,
    /// The path template (`/v2/pods/{id}`).
    pub path: &'static str,
    /// The first tag (`Pods`).
    pub tag: &'static str,
    /// The one-line summary.
    pub summary: &'static str,
}

impl RestOperation {
    /// The operation with this `operationId`, if the spec has one.
    pub fn find(operation_id: &str) -> Option<&'static RestOperation> {
        OPERATIONS.iter().find(|op| op.operation_id == operation_id)
    }
}
