//! Property tests of the transport's decoders of network data: error bodies (problem+json,
//! REST v1, queue API, GraphQL), job errors, decode errors, whole HTTP answers, server-sent
//! events and the credentials file. None may panic, every failure is a typed error, and what
//! an error keeps of a body is bounded. Small case counts keep this module to a few seconds.

use std::time::Duration;

use futures_util::StreamExt as _;
use proptest::prelude::*;
use runpod_transport::{ApiError, Config, Error, Method, Report, SseEvent, from_value};
use serde_json::{Map, Value, json};

use crate::support::{Reply, ScriptedServer, client_with, config, fast_policy};

/// `n` cases, or `PROPTEST_CASES` when set (for longer local runs).
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(n),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        let key = prop_oneof![
            3 => proptest::sample::select(
                &["type", "title", "status", "detail", "message", "error", "errors", "path",
                  "extensions", "locations", "data"][..]
            )
            .prop_map(str::to_owned),
            1 => "\\PC{0,6}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// The short, lowercase Display line every error promises, and a Report that terminates.
fn well_formed(err: &Error) -> Result<(), TestCaseError> {
    let shown = err.to_string();
    prop_assert!(!shown.is_empty());
    prop_assert!(
        shown.starts_with(|c: char| !c.is_uppercase()),
        "display starts uppercase: {}",
        shown
    );
    prop_assert!(!Report(err).to_string().is_empty());
    let debug = format!("{err:?}");
    prop_assert!(!debug.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn error_bodies_never_panic_and_keep_their_text(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        let parsed = ApiError::from_body(&bytes);
        prop_assert_eq!(&parsed, &ApiError::from_value(&value));
        if let Some(api) = parsed {
            // May be empty: `{"errors": [""]}` summarises as "" (reported; cosmetic).
            let shown = api.to_string();
            if let Some(detail) = value.get("detail").and_then(Value::as_str) {
                prop_assert!(shown.contains(detail), "{:?} lost detail {:?}", shown, detail);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_are_no_error_body_or_a_parsed_one(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        // Whatever comes, parsing terminates and agrees with parsing the decoded value.
        let parsed = ApiError::from_body(&bytes);
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => prop_assert_eq!(parsed, ApiError::from_value(&v)),
            Err(_) => prop_assert_eq!(parsed, None),
        }
    }

    #[test]
    fn job_errors_of_any_shape_are_typed(
        status in proptest::sample::select(&["FAILED", "CANCELLED", "TIMED_OUT", "WEIRD", ""][..]),
        error in proptest::option::of(json_value()),
        as_string in any::<bool>(),
    ) {
        // The Python worker sends its error object as a JSON string; try both.
        let error = error.map(|e| if as_string { Value::String(e.to_string()) } else { e });
        let err = Error::job_ended("job-1", status, error.clone());
        prop_assert!(err.is_job_outcome());
        prop_assert_eq!(err.is_job_cancelled(), status == "CANCELLED");
        prop_assert_eq!(err.is_job_timed_out(), status == "TIMED_OUT");
        prop_assert_eq!(err.job_id(), Some("job-1"));
        prop_assert_eq!(err.job_error().is_none(), error.as_ref().is_none_or(Value::is_null));
        well_formed(&err)?;
    }

    #[test]
    fn decode_errors_are_typed_and_keep_at_most_4_kib(value in json_value(), pad in 0usize..20_000) {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Strict { id: String, n: u32 }
        let mut value = value;
        if let Value::Object(m) = &mut value {
            m.insert("pad".into(), Value::String("p".repeat(pad)));
        }
        if let Err(err) = from_value::<Strict>(value) {
            prop_assert!(err.is_decode());
            prop_assert!(!err.is_retryable());
            prop_assert!(err.body().map_or(0, str::len) <= 4096);
            well_formed(&err)?;
        }
    }
}

/// One HTTP exchange with a scripted answer, on a fresh current-thread runtime.
fn exchange(reply: Reply) -> Result<Value, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let server = ScriptedServer::start(vec![reply]).await;
        client_with(config().with_retry_policy(fast_policy(2)))
            .request(Method::GET, server.url("/v2/ep/status/j"))
            .send_json::<Value>()
            .await
    })
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn any_http_answer_is_a_value_or_a_typed_error(
        status in proptest::sample::select(&[200u16, 201, 204, 400, 401, 404, 422, 500, 502][..]),
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            Just(b"<html><body>502 Bad Gateway</body></html>".to_vec()),
            Just(vec![b'x'; 64 * 1024]),
        ],
    ) {
        let reply = match String::from_utf8(body.clone()) {
            Ok(text) => Reply::json(status, &text),
            Err(_) => {
                let mut raw = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                raw.extend_from_slice(&body);
                Reply::Raw(raw)
            }
        };
        match exchange(reply) {
            Ok(value) => {
                prop_assert!((200..300).contains(&status));
                if status != 204 && let Ok(sent) = serde_json::from_slice::<Value>(&body) {
                    prop_assert_eq!(value, sent);
                }
            }
            Err(err) => {
                if (200..300).contains(&status) {
                    prop_assert!(err.is_decode(), "2xx with a bad body must be a decode error: {:?}", err);
                } else {
                    prop_assert!(err.is_status(), "{:?}", err);
                    prop_assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
                }
                prop_assert!(err.body().map_or(0, str::len) <= 4096);
                well_formed(&err)?;
            }
        }
    }

    #[test]
    fn truncated_answers_are_typed_errors(keep in 0usize..40) {
        // The server promises 40 bytes and closes after `keep`.
        let body = br#"{"id":"j","status":"COMPLETED","x":1}    "#;
        let mut raw = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 40\r\nconnection: close\r\n\r\n".to_vec();
        raw.extend_from_slice(&body[..keep.min(body.len())]);
        let err = exchange(Reply::Raw(raw)).unwrap_err();
        prop_assert!(!err.is_status() && !err.is_job_outcome(), "{:?}", err);
        prop_assert!(err.is_retryable() || err.is_decode(), "{:?}", err);
        well_formed(&err)?;
    }
}

/// The events a client gets for `body` sent in `chunks` pieces (a clean end: no reconnect).
fn sse_events(body: &[u8], cuts: &[usize]) -> Vec<Result<SseEvent, String>> {
    let mut raw = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.push(0);
    points.push(body.len());
    points.sort_unstable();
    points.dedup();
    for pair in points.windows(2) {
        let piece = &body[pair[0]..pair[1]];
        raw.extend(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend(b"\r\n");
    }
    raw.extend(b"0\r\n\r\n");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let server = ScriptedServer::start(vec![Reply::Raw(raw)]).await;
        client_with(config().with_retry_policy(fast_policy(1)))
            .request(Method::GET, server.url("/v2/pods/p/logs"))
            .with_operation_timeout(Some(Duration::from_secs(10)))
            .send_sse()
            .map(|item| item.map_err(|e| e.to_string()))
            .collect()
            .await
    })
}

fn sse_body() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "data: \\PC{0,10}".prop_map(String::into_bytes),
        "data:\\PC{0,4}".prop_map(String::into_bytes),
        "id: [a-z0-9]{0,4}".prop_map(String::into_bytes),
        "event: [a-z]{0,5}".prop_map(String::into_bytes),
        "retry: [0-9]{1,4}".prop_map(String::into_bytes),
        ": keep-alive".prop_map(String::into_bytes),
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..6),
    ];
    let end = proptest::sample::select(&["\n", "\r\n", "\r"][..]);
    proptest::collection::vec((line, end), 0..16).prop_map(|lines| {
        lines
            .into_iter()
            .flat_map(|(mut l, e)| {
                l.extend_from_slice(e.as_bytes());
                l
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(cases(32))]

    #[test]
    fn sse_events_do_not_depend_on_how_the_bytes_are_split(
        body in sse_body(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let whole = sse_events(&body, &[]);
        let split = sse_events(&body, &cuts);
        prop_assert_eq!(&whole, &split);
        // A stream that ended cleanly yields only events.
        prop_assert!(whole.iter().all(Result::is_ok), "{:?}", whole);
    }
}

const SECRET: &str = "rpa_PROPTEST_SECRET_9f3a";

fn config_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("[default]\n".to_owned()),
        Just("[work]\n".to_owned()),
        Just(format!("api_key = \"{SECRET}\"\n")),
        Just(format!("apiKey = '{SECRET}'\n")),
        Just(format!("api_key = \"{SECRET}\n")),
        Just(format!("apikey = {SECRET}\n")),
        Just(format!("{SECRET} = 1\n")),
        Just(format!("[{SECRET}]\n")),
        Just("api_key = 42\n".to_owned()),
        Just("default = \"x\"\n".to_owned()),
        "\\PC{0,12}".prop_map(|s| s + "\n"),
        Just("\"\"\"".to_owned()),
        Just("=".to_owned()),
    ];
    proptest::collection::vec(fragment, 0..6).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(cases(96))]

    #[test]
    fn the_credentials_file_never_panics_or_leaks_its_key(
        text in config_text(),
        profile in proptest::option::of(proptest::sample::select(&["default", "work", "missing"][..])),
    ) {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".runpod")).unwrap();
        std::fs::write(home.path().join(".runpod/config.toml"), &text).unwrap();
        let home_dir = home.path().display().to_string();
        let profile = profile.map(str::to_owned);
        let built = Config::builder()
            .with_env_source(move |k| match k {
                "HOME" => Some(home_dir.clone()),
                "RUNPOD_PROFILE" => profile.clone(),
                _ => None,
            })
            .build();
        match built {
            Ok(config) => {
                let debug = format!("{config:?}");
                prop_assert!(!debug.contains(SECRET));
                if let Some(key) = config.api_key() {
                    let shown = format!("{key:?} {key}");
                    prop_assert!(!shown.contains(SECRET));
                }
            }
            Err(err) => {
                prop_assert!(err.is_config(), "{:?}", err);
                for shown in [err.to_string(), format!("{err:?}"), Report(&err).to_string()] {
                    prop_assert!(!shown.contains(SECRET), "the key leaked: {}", shown);
                }
            }
        }
    }
}

#[test]
fn a_json_error_string_is_parsed_only_when_it_holds_json() {
    let err = Error::job_ended("j", "FAILED", Some(json!("{\"error_message\": \"x\"}")));
    assert_eq!(err.job_error().unwrap()["error_message"], "x");
    let err = Error::job_ended("j", "FAILED", Some(json!("{not json")));
    assert_eq!(err.job_error(), Some(&json!("{not json")));
}
