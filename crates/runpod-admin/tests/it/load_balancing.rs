//! Load-balancing endpoints: a create Runpod would refuse (no `REQUEST_COUNT` scaling) fails
//! before anything is sent, whichever way the body was built; a right one is sent as built.

use httpmock::MockServer;
use runpod_admin::AdminClient;
use runpod_admin::builders::CreateEndpoint;
use runpod_admin::rest::{
    CreateEndpointRequest, EndpointScaling, EndpointType, QueueDelayScaling, QueueDelayScalingType,
    RequestCountScaling, RequestCountScalingType,
};
use serde_json::json;

use crate::support::{client, fixture};

fn queue_delay() -> EndpointScaling {
    EndpointScaling::QueueDelay(QueueDelayScaling {
        queue_delay: 4.0,
        type_: QueueDelayScalingType::QueueDelay,
    })
}

fn request_count(n: i64) -> EndpointScaling {
    EndpointScaling::RequestCount(RequestCountScaling {
        request_count: n,
        type_: RequestCountScalingType::RequestCount,
    })
}

fn lb_body(scaling: EndpointScaling) -> CreateEndpointRequest {
    CreateEndpointRequest {
        name: "gateway".into(),
        type_: EndpointType::LoadBalancer,
        scaling,
        template_id: Some("tpl1".into()),
        ..Default::default()
    }
}

/// Every way of building a create that a load balancer cannot have.
fn refused(a: &AdminClient) -> Vec<(&'static str, CreateEndpoint)> {
    vec![
        (
            "create",
            a.endpoints()
                .create("gateway", EndpointType::LoadBalancer, queue_delay()),
        ),
        (
            "create_from",
            a.endpoints().create_from(lb_body(queue_delay())),
        ),
        (
            "create_from, zero requests",
            a.endpoints().create_from(lb_body(request_count(0))),
        ),
        (
            "set_body",
            a.endpoints()
                .create("ok", EndpointType::Queue, queue_delay())
                .set_body(lb_body(queue_delay())),
        ),
        (
            "create_load_balancer_endpoint, zero requests",
            a.create_load_balancer_endpoint("gateway", 0),
        ),
    ]
}

#[tokio::test]
async fn a_load_balancer_without_request_count_scaling_is_refused_before_sending() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(201).json_body(fixture("createEndpoint"));
        })
        .await;
    let a = client(&server);
    for (how, builder) in refused(&a) {
        let err = builder.send().await.unwrap_err();
        assert!(err.is_invalid_input(), "{how}: {err:?}");
        assert!(
            err.to_string().contains("REQUEST_COUNT") || err.to_string().contains("requestCount"),
            "{how}: {err}"
        );
    }
    assert_eq!(any.calls_async().await, 0, "nothing may be sent");
}

#[tokio::test]
async fn a_load_balancer_with_request_count_scaling_is_sent_as_built() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method("POST")
                .path("/v2/serverless")
                .json_body_includes(
                    json!({
                        "type": "LOAD_BALANCER",
                        "scaling": {"type": "REQUEST_COUNT", "requestCount": 3}
                    })
                    .to_string(),
                );
            then.status(201).json_body(fixture("createEndpoint"));
        })
        .await;
    let a = client(&server);
    a.create_load_balancer_endpoint("gateway", 3)
        .template_id("tpl1")
        .send()
        .await
        .unwrap();
    a.endpoints()
        .create_from(lb_body(request_count(3)))
        .send()
        .await
        .unwrap();
    assert_eq!(create.calls_async().await, 2);
}

#[tokio::test]
async fn a_queue_endpoint_scaling_on_queue_delay_is_not_refused() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method("POST").path("/v2/serverless");
            then.status(201).json_body(fixture("createEndpoint"));
        })
        .await;
    client(&server)
        .endpoints()
        .create("queue", EndpointType::Queue, queue_delay())
        .send()
        .await
        .unwrap();
    assert_eq!(create.calls_async().await, 1);
}
