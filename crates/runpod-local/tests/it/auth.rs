//! `--api-key`: clients send `Authorization: Bearer KEY`, workers the raw key; anything else is 401.

use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::Server;
use serde_json::json;

use crate::support::{EP, Harness};

const KEY: &str = "s3cret-key";

#[tokio::test]
async fn client_routes_need_the_bearer_key() {
    let h = Harness::with(Server::builder().api_key(KEY)).await;
    let run = h.url(&format!("/v2/{EP}/run"));
    let body = json!({"input": 1});
    for (header, expected) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("Bearer wrong".to_owned()), StatusCode::UNAUTHORIZED),
        (Some(KEY.to_owned()), StatusCode::UNAUTHORIZED),
        (Some(format!("Bearer {KEY}")), StatusCode::OK),
        (Some(format!("bearer {KEY}")), StatusCode::OK),
    ] {
        let mut request = h.http.post(&run).json(&body);
        if let Some(header) = &header {
            request = request.header("Authorization", header);
        }
        let (status, answer) = h.send(request).await;
        assert_eq!(status, expected, "{header:?}: {answer}");
        if status == StatusCode::UNAUTHORIZED {
            assert!(
                answer["error"].as_str().unwrap().contains("Bearer"),
                "{answer}"
            );
            assert!(!answer.to_string().contains(KEY), "the key is never echoed");
        }
    }
    let (status, _) = h.get(&format!("/v2/{EP}/health")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, health) = h
        .send(
            h.http
                .get(h.url(&format!("/v2/{EP}/health")))
                .bearer_auth(KEY),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        health["jobs"]["inQueue"], 2,
        "only the authorised runs were queued"
    );
}

#[tokio::test]
async fn worker_routes_need_the_raw_key() {
    let h = Harness::with(
        Server::builder()
            .api_key(KEY)
            .hold_time(Duration::from_millis(100)),
    )
    .await;
    let take = h.url(&format!("/v2/{EP}/job-take/w?gpu=LOCAL&job_in_progress=0"));
    for (header, expected) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(format!("Bearer {KEY}")), StatusCode::UNAUTHORIZED),
        (Some("wrong".to_owned()), StatusCode::UNAUTHORIZED),
        (Some(KEY.to_owned()), StatusCode::NO_CONTENT),
    ] {
        let mut request = h.http.get(&take);
        if let Some(header) = &header {
            request = request.header("Authorization", header);
        }
        let (status, _) = h.send(request).await;
        assert_eq!(status, expected, "{header:?}");
    }
    let ping = h.url(&format!("/v2/{EP}/ping/w?gpu=LOCAL"));
    let (status, _) = h.send(h.http.get(&ping)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = h.send(h.http.get(&ping).header("Authorization", KEY)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn worker_env_carries_the_key() {
    let h = Harness::with(Server::builder().api_key(KEY)).await;
    let env = h.server.worker_env(EP, "w");
    assert!(env.contains(&("RUNPOD_AI_API_KEY".to_owned(), KEY.to_owned())));
    assert!(
        !format!("{:?}", h.server).contains(KEY),
        "Debug redacts the key"
    );
    let open = Harness::start().await;
    let env = open.server.worker_env(EP, "w");
    assert!(env.contains(&("RUNPOD_AI_API_KEY".to_owned(), "local".to_owned())));
}

#[tokio::test]
async fn without_a_key_everything_is_open() {
    let h = Harness::start().await;
    let (status, _) = h
        .send(
            h.http
                .post(h.url(&format!("/v2/{EP}/run")))
                .json(&json!({"input": 1}))
                .header("Authorization", "anything"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.take("w").await.is_some());
}
