//! GraphQL over HTTP with `graphql_client` operations.

use graphql_client::{GraphQLQuery, QueryBody};
use httpmock::Method::POST;
use httpmock::MockServer;
use runpod_transport::{HttpClient, PathSegment, Report};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::{client_with, config, fast_policy};

/// A hand-written operation, as `graphql_client`'s codegen would produce.
struct PodQuery;

#[derive(Serialize)]
struct Vars {
    id: String,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Data {
    pod: Option<Pod>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Pod {
    id: String,
    #[serde(rename = "gpuCount")]
    gpu_count: u32,
}

const QUERY: &str = "query Pod($id: String!) { pod(input: {podId: $id}) { id gpuCount } }";

impl GraphQLQuery for PodQuery {
    type Variables = Vars;
    type ResponseData = Data;
    fn build_query(variables: Vars) -> QueryBody<Vars> {
        QueryBody {
            variables,
            query: QUERY,
            operation_name: "Pod",
        }
    }
}

async fn setup(status: u16, body: serde_json::Value) -> (MockServer, HttpClient) {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/graphql").json_body(json!({
                "query": QUERY,
                "variables": {"id": "p1"},
                "operationName": "Pod",
            }));
            then.status(status)
                .header("content-type", "application/json")
                .json_body(body);
        })
        .await;
    let client = client_with(
        config()
            .with_rest_base_url(server.base_url())
            .with_retry_policy(fast_policy(3)),
    );
    (server, client)
}

fn vars() -> Vars {
    Vars { id: "p1".into() }
}

#[tokio::test]
async fn sends_query_variables_and_operation_name_and_decodes_data() {
    let (_server, client) = setup(200, json!({"data": {"pod": {"id": "p1", "gpuCount": 2}}})).await;
    let data = client.graphql::<PodQuery>(vars()).send().await.unwrap();
    assert_eq!(
        data,
        Data {
            pod: Some(Pod {
                id: "p1".into(),
                gpu_count: 2
            })
        }
    );
}

#[tokio::test]
async fn errors_with_http_200_are_graphql_errors() {
    let (_server, client) = setup(
        200,
        json!({
            "data": {"pod": null},
            "errors": [
                {"message": "Pod not found", "path": ["pod"], "locations": [{"line": 1, "column": 27}],
                 "extensions": {"code": "NOT_FOUND"}},
                {"message": "Something else", "path": ["pod", 0, "gpuCount"]}
            ]
        }),
    )
    .await;
    let err = client.graphql::<PodQuery>(vars()).send().await.unwrap_err();
    assert!(
        err.is_graphql() && !err.is_status() && !err.is_retryable(),
        "{err:?}"
    );
    let api = err.api_error().unwrap();
    assert_eq!(api.errors.len(), 2);
    assert_eq!(api.errors[0].path, [PathSegment::Key("pod".into())]);
    assert_eq!(api.errors[0].extensions, Some(json!({"code": "NOT_FOUND"})));
    assert_eq!(api.errors[1].path[1], PathSegment::Index(0));
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn data_mismatch_names_the_path() {
    let (_server, client) =
        setup(200, json!({"data": {"pod": {"id": "p1", "gpuCount": -1}}})).await;
    let err = client.graphql::<PodQuery>(vars()).send().await.unwrap_err();
    assert!(err.is_decode());
    assert_eq!(err.json_path(), Some("data.pod.gpuCount"));
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn missing_data_is_a_decode_error() {
    let (_server, client) = setup(200, json!({})).await;
    let err = client.graphql::<PodQuery>(vars()).send().await.unwrap_err();
    assert!(err.is_decode());
    assert_eq!(
        err.to_string(),
        "failed to decode graphql response: it has neither `data` nor `errors`"
    );
}

#[tokio::test]
async fn http_error_with_graphql_errors_is_a_status_error() {
    let (_server, client) = setup(
        400,
        json!({"errors": [{"message": "Syntax Error: Expected Name", "locations": [{"line": 1, "column": 3}]}]}),
    )
    .await;
    let err = client.graphql::<PodQuery>(vars()).send().await.unwrap_err();
    assert!(err.is_status() && !err.is_graphql());
    assert_eq!(
        err.api_error().unwrap().errors[0].message,
        "Syntax Error: Expected Name"
    );
    assert_eq!(
        err.to_string(),
        "http status 400 (bad request): Syntax Error: Expected Name"
    );
}

#[tokio::test]
async fn graphql_is_not_retried_unless_marked_idempotent() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/graphql");
            then.status(503);
        })
        .await;
    let client = client_with(
        config()
            .with_graphql_url(server.url("/graphql"))
            .with_retry_policy(fast_policy(3)),
    );
    client.graphql::<PodQuery>(vars()).send().await.unwrap_err();
    mock.assert_calls_async(1).await;
    client
        .graphql::<PodQuery>(vars())
        .idempotent(true)
        .send()
        .await
        .unwrap_err();
    mock.assert_calls_async(4).await;
}
