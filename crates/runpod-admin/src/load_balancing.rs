//! Load-balancing endpoints (REST v2 `type: LOAD_BALANCER`): made right, checked before sending.
//!
//! A load-balancing endpoint sends HTTP requests straight to its workers' own servers; Runpod
//! requires it to scale on request count (`scaling: {type: "REQUEST_COUNT", requestCount: n}`).
//! Its `requestUrls` are [`LoadBalancingRequestUrls`](rest::LoadBalancingRequestUrls)
//! (`base`, `health`) rather than the queue routes.

use runpod_transport::{Error, Result};

use crate::AdminClient;
use crate::builders::CreateEndpoint;
use crate::rest;

/// Checks what Runpod would refuse about an endpoint's kind, before anything is sent: a
/// `LOAD_BALANCER` endpoint must scale on `REQUEST_COUNT` (with `requestCount` ≥ 1).
///
/// [`CreateEndpoint::send`] runs it on its body, so a create can only fail it before sending;
/// it is public for callers that build a body elsewhere (the CLI checks its flags with it).
/// An update cannot change `type`, so it has nothing to check.
///
/// # Errors
/// `is_invalid_input()` with a message naming the fix.
pub fn check_endpoint_kind(
    type_: &rest::EndpointType,
    scaling: Option<&rest::EndpointScaling>,
) -> Result<()> {
    if !matches!(type_, rest::EndpointType::LoadBalancer) {
        return Ok(());
    }
    match scaling {
        Some(rest::EndpointScaling::RequestCount(s)) if s.request_count >= 1 => Ok(()),
        Some(rest::EndpointScaling::RequestCount(_)) => Err(Error::invalid_input(
            "a LOAD_BALANCER endpoint needs scaling.requestCount of at least 1",
        )),
        _ => Err(Error::invalid_input(
            "a LOAD_BALANCER endpoint must scale on REQUEST_COUNT: set scaling to \
             {\"type\": \"REQUEST_COUNT\", \"requestCount\": N}",
        )),
    }
}

/// The check `CreateEndpoint::send` runs before sending (wired by the generator's
/// `BODY_CHECKS`), so `create`, `create_from` and `set_body` are all covered.
pub(crate) fn check_create_endpoint(body: &rest::CreateEndpointRequest) -> Result<()> {
    check_endpoint_kind(&body.type_, Some(&body.scaling))
}

impl AdminClient {
    /// A load-balancing endpoint scaling on `request_count` requests per worker: the builder
    /// of `POST /v2/serverless` with `type: LOAD_BALANCER` and `REQUEST_COUNT` scaling set
    /// (add the template, GPUs and workers as for any endpoint).
    pub fn create_load_balancer_endpoint(
        &self,
        name: impl Into<String>,
        request_count: i64,
    ) -> CreateEndpoint {
        self.endpoints().create(
            name,
            rest::EndpointType::LoadBalancer,
            rest::EndpointScaling::RequestCount(rest::RequestCountScaling {
                request_count,
                type_: rest::RequestCountScalingType::RequestCount,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_balancers_need_request_count_scaling() {
        let lb = rest::EndpointType::LoadBalancer;
        let count = |n| {
            rest::EndpointScaling::RequestCount(rest::RequestCountScaling {
                request_count: n,
                type_: rest::RequestCountScalingType::RequestCount,
            })
        };
        let delay = rest::EndpointScaling::QueueDelay(rest::QueueDelayScaling {
            queue_delay: 4.0,
            type_: rest::QueueDelayScalingType::QueueDelay,
        });
        assert!(check_endpoint_kind(&lb, Some(&count(2))).is_ok());
        for bad in [None, Some(&delay), Some(&count(0))] {
            let err = check_endpoint_kind(&lb, bad).unwrap_err();
            assert!(err.is_invalid_input(), "{err:?}");
        }
        assert!(check_endpoint_kind(&rest::EndpointType::Queue, Some(&delay)).is_ok());
    }
}
