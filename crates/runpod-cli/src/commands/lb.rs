//! `runpod lb request`: one HTTP request to a load-balancing endpoint.

use std::io::Read as _;

use futures_util::StreamExt as _;
use runpod::lb::Affinity;
use runpod::transport::Method;
use serde_json::{Value, json};

use crate::cli::LbCommand;
use crate::commands::interrupted;
use crate::context::Context;
use crate::error::{CliError, CliResult, Doing, ExitClass};

/// The body to send: the bytes and whether they are JSON.
fn body(data: &str) -> CliResult<(Vec<u8>, bool)> {
    let bytes = match data {
        "-" => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
            bytes
        }
        _ => match data.strip_prefix('@') {
            Some(path) => std::fs::read(path)
                .map_err(|e| CliError::usage(format!("cannot read --data file {path}: {e}")))?,
            None => data.as_bytes().to_vec(),
        },
    };
    let json = serde_json::from_slice::<Value>(&bytes).is_ok();
    Ok((bytes, json))
}

pub(crate) async fn run(ctx: &Context, command: LbCommand) -> CliResult {
    let LbCommand::Request {
        endpoint,
        method,
        path,
        data,
        headers,
        worker,
        strict,
        strict_resume,
    } = command;
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| CliError::usage(format!("`{method}` is not an HTTP method")))?;
    let lb = ctx.serverless()?.load_balancer(&endpoint);
    let mut request = lb.request(method.clone(), &path);
    if let Some(data) = data.as_deref() {
        let (bytes, is_json) = body(data)?;
        let content_type = if is_json {
            "application/json"
        } else {
            "application/octet-stream"
        };
        request = request.body(bytes, content_type);
    }
    for header in &headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| CliError::usage(format!("--header `{header}`: expected NAME:VALUE")))?;
        request = request.header(name.trim(), value.trim());
    }
    request = request.affinity(match (worker, strict, strict_resume) {
        (None, ..) => Affinity::None,
        (Some(id), true, _) => Affinity::strict(id),
        (Some(id), _, true) => Affinity::strict_resume(id),
        (Some(id), false, false) => Affinity::prefer(id),
    });
    let doing = Doing::new(
        format!("{method} {path} on endpoint {endpoint}"),
        lb.base_url(),
    );
    let response = tokio::select! {
        response = request.send_streaming() => response.map_err(doing.err())?,
        () = interrupted() => {
            return Err(CliError::new(ExitClass::Interrupted, "interrupted"));
        }
    };
    let status = response.status().as_u16();
    let worker_id = response.worker_id().map(str::to_owned);
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !ctx.out.is_json() {
        ctx.out.line(&format!(
            "{status} from worker {}",
            worker_id.as_deref().unwrap_or("(unnamed)")
        ))?;
    }
    if is_sse {
        let mut events = Box::pin(response.into_events());
        while let Some(event) = events.next().await {
            let event = event.map_err(doing.err())?;
            if ctx.out.is_json() {
                let data = serde_json::from_str::<Value>(&event.data)
                    .unwrap_or_else(|_| Value::String(event.data.clone()));
                ctx.out
                    .json_line(&json!({"event": event.event, "id": event.id, "data": data}))?;
            } else {
                ctx.out.line(&event.data)?;
            }
        }
        return Ok(());
    }
    let mut body = Vec::new();
    let mut chunks = response.into_body();
    while let Some(chunk) = chunks.next().await {
        body.extend_from_slice(&chunk.map_err(doing.err())?);
    }
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    if ctx.out.is_json() {
        let body = parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(&body).into()));
        return ctx
            .out
            .json(&json!({"status": status, "worker_id": worker_id, "body": body}));
    }
    match parsed {
        Some(value) => ctx.out.json(&value),
        None if body.is_empty() => Ok(()),
        None => ctx.out.raw(&String::from_utf8_lossy(&body)),
    }
}
