//! The job-take loop: one long-poll at a time, asking for exactly the free slots.

use std::sync::Arc;
use std::time::Duration;

use runpod_transport::{HttpClient, Report};
use runpod_types::serverless::WorkerJob;
use serde_json::Value;
use tokio::time::Instant;

use super::backoff::{doubling, rate_limit_pause};
use super::report::Failure;
use super::sink::long_poll;
use super::supervise::Shared;
use super::urls::WorkerUrls;

/// The concurrency setting: fixed, or recomputed before each take from the current value
/// (the Python worker's `concurrency_modifier`).
#[derive(Clone)]
pub(crate) struct Concurrency {
    pub(crate) current: usize,
    pub(crate) modifier: Option<Arc<dyn Fn(usize) -> usize + Send + Sync>>,
}

impl Concurrency {
    fn next(&mut self) -> usize {
        if let Some(m) = &self.modifier {
            self.current = m(self.current);
        }
        self.current
    }
}

/// Settings of the take loop.
#[derive(Clone)]
pub(crate) struct TakeLoop {
    pub(crate) client: HttpClient,
    pub(crate) urls: WorkerUrls,
    pub(crate) concurrency: Concurrency,
    /// Per-attempt timeout; longer than the server's long-poll hold.
    pub(crate) attempt_timeout: Duration,
}

/// Minimum spacing of take requests that return no job, in case a server answers at once
/// instead of holding the long-poll.
const EMPTY_POLL_FLOOR: Duration = Duration::from_millis(200);
/// Pause after a 400 (the platform's "no job", e.g. with FlashBoot).
const NO_JOB_400_PAUSE: Duration = Duration::from_secs(1);
/// How often a concurrency modifier is consulted while all slots are busy.
const MODIFIER_RECHECK: Duration = Duration::from_secs(1);
/// The first delay of the error backoff (doubling to 30 s).
const FIRST_ERROR_DELAY: Duration = Duration::from_millis(500);

impl TakeLoop {
    pub(crate) async fn run(mut self, shared: Arc<Shared>) {
        let stop = shared.stop_taking.clone();
        let mut errors = 0u32;
        let mut error_delays = doubling(FIRST_ERROR_DELAY).delays();
        loop {
            if stop.is_cancelled() {
                break;
            }
            let target = self.concurrency.next();
            let held = shared.held();
            if held >= target {
                let mut held_rx = shared.held.subscribe();
                let recheck = self.concurrency.modifier.is_some() || target == 0;
                tokio::select! {
                    _ = held_rx.wait_for(|n| *n < target) => {}
                    () = tokio::time::sleep(MODIFIER_RECHECK), if recheck => {}
                    () = stop.cancelled() => break,
                }
                continue;
            }
            let want = target - held;
            let Some(url) = self.urls.take(want, held > 0) else {
                break;
            };
            let started = Instant::now();
            let request = long_poll(&self.client, &url, self.attempt_timeout);
            let sent = tokio::select! {
                r = request => r,
                // Shutdown aborts the open long-poll instead of waiting out the server's hold.
                () = stop.cancelled() => break,
            };
            let pause = match sent {
                Ok(resp) => {
                    errors = 0;
                    let taken = parse_take_body(resp.bytes());
                    if taken.is_empty() {
                        EMPTY_POLL_FLOOR.saturating_sub(started.elapsed())
                    } else {
                        if taken.len() > want {
                            tracing::warn!(
                                asked = want,
                                got = taken.len(),
                                "job-take returned more jobs than asked; running them all"
                            );
                        }
                        dispatch(&shared, taken);
                        Duration::ZERO
                    }
                }
                Err(e) if e.is_timeout() => {
                    tracing::debug!("job-take long-poll timed out without a job");
                    Duration::ZERO
                }
                Err(e) if e.status().is_some_and(|s| s.as_u16() == 400) => {
                    tracing::debug!("job-take answered 400 (no job)");
                    NO_JOB_400_PAUSE
                }
                Err(e) if let Some(d) = rate_limit_pause(&e) => {
                    tracing::warn!("job-take rate limited; waiting {d:?}");
                    d
                }
                Err(e) => {
                    let d = error_delays.delay(errors);
                    errors = errors.saturating_add(1);
                    tracing::warn!(error = %Report(&e), consecutive_errors = errors, "job-take failed; retrying in {d:?}");
                    d
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = stop.cancelled() => break,
                }
            }
        }
        tracing::debug!("job-take loop stopped");
    }
}

fn dispatch(shared: &Arc<Shared>, taken: Taken) {
    for job in taken.jobs {
        shared.spawn(job, None);
    }
    for bad in taken.broken {
        match bad.id {
            Some(id) => {
                tracing::error!(job.id = %id, reason = %bad.reason, "job-take returned a job that cannot run; reporting it as failed");
                let raw = WorkerJob {
                    id,
                    ..WorkerJob::default()
                };
                shared.spawn(
                    raw,
                    Some(Failure::new(
                        "InvalidJob",
                        bad.reason,
                        "job-take response checked by the worker",
                    )),
                );
            }
            None => tracing::error!(
                reason = %bad.reason,
                "job-take returned something that is not a job and has no id; it cannot be reported and is lost"
            ),
        }
    }
}

/// A job-take entry that could not be turned into a job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Broken {
    pub(crate) id: Option<String>,
    pub(crate) reason: String,
}

/// A decoded job-take response.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Taken {
    pub(crate) jobs: Vec<WorkerJob>,
    pub(crate) broken: Vec<Broken>,
}

impl Taken {
    fn is_empty(&self) -> bool {
        self.jobs.is_empty() && self.broken.is_empty()
    }

    fn len(&self) -> usize {
        self.jobs.len() + self.broken.len()
    }
}

/// Decodes a job-take body: empty (no job), one job object (legacy single take) or an array
/// of them (batch take). Whatever cannot run is kept in `broken`, with its id when it has one,
/// so the job can be failed visibly instead of vanishing.
pub(crate) fn parse_take_body(body: &[u8]) -> Taken {
    let mut out = Taken::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return out;
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            out.broken.push(Broken {
                id: None,
                reason: format!("the response is not JSON ({e}): {}", preview(body)),
            });
            return out;
        }
    };
    let items = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        other => {
            out.broken.push(Broken {
                id: None,
                reason: format!("expected a job object or a list of jobs, got {other}"),
            });
            return out;
        }
    };
    for item in items {
        let Value::Object(map) = &item else {
            out.broken.push(Broken {
                id: None,
                reason: format!("a list entry is not a job object: {item}"),
            });
            continue;
        };
        let id = match map.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                out.broken.push(Broken {
                    id: None,
                    reason: format!("a job has no id: {}", preview(item.to_string().as_bytes())),
                });
                continue;
            }
        };
        if let Err(e) = runpod_transport::path::segment(&id) {
            // Its result URL would address another route: it cannot be reported either.
            out.broken.push(Broken {
                id: None,
                reason: format!("the job's id cannot be used in a URL: {e}"),
            });
            continue;
        }
        if !map.contains_key("input") {
            out.broken.push(Broken {
                id: Some(id),
                reason: "the job has no `input` field".to_owned(),
            });
            continue;
        }
        let mut item = item;
        if let Value::Object(m) = &mut item {
            // Numeric ids were accepted above; the model wants a string.
            m.insert("id".to_owned(), Value::String(id.clone()));
        }
        match serde_path_to_error::deserialize::<_, WorkerJob>(item) {
            Ok(job) => out.jobs.push(job),
            Err(e) => out.broken.push(Broken {
                id: Some(id),
                reason: format!("the job is malformed at `{}`: {}", e.path(), e.inner()),
            }),
        }
    }
    out
}

fn preview(body: &[u8]) -> String {
    const MAX: usize = 200;
    let s = String::from_utf8_lossy(body);
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_bodies_are_no_job() {
        assert_eq!(parse_take_body(b""), Taken::default());
        assert_eq!(parse_take_body(b" \n"), Taken::default());
        assert_eq!(parse_take_body(b"null"), Taken::default());
        assert_eq!(parse_take_body(b"[]"), Taken::default());
    }

    #[test]
    fn single_object_and_batch_array() {
        let one = parse_take_body(br#"{"id": "a", "input": {"x": 1}, "extraField": "kept"}"#);
        assert_eq!(one.jobs.len(), 1);
        assert_eq!(one.jobs[0].id, "a");
        assert_eq!(one.jobs[0].input, json!({"x": 1}));
        assert_eq!(one.jobs[0].extra.get("extraField"), Some(&json!("kept")));
        let many = parse_take_body(
            br#"[{"id": "a", "input": 1}, {"id": "b", "input": null, "batchId": "B"}]"#,
        );
        assert_eq!(
            many.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(many.jobs[1].batch_id.as_deref(), Some("B"));
        assert!(many.broken.is_empty());
    }

    #[test]
    fn a_job_without_input_is_failed_by_id() {
        let t = parse_take_body(br#"[{"id": "a"}, {"id": "b", "input": 2}]"#);
        assert_eq!(t.jobs.len(), 1);
        assert_eq!(
            t.broken,
            [Broken {
                id: Some("a".into()),
                reason: "the job has no `input` field".into()
            }]
        );
    }

    #[test]
    fn malformed_known_fields_name_the_path() {
        let t =
            parse_take_body(br#"{"id": "a", "input": 1, "policy": {"executionTimeout": "soon"}}"#);
        assert!(t.jobs.is_empty());
        assert_eq!(t.broken[0].id.as_deref(), Some("a"));
        assert!(
            t.broken[0].reason.contains("policy.executionTimeout"),
            "{}",
            t.broken[0].reason
        );
    }

    #[test]
    fn garbage_without_id_is_reported_without_id() {
        let t = parse_take_body(b"<html>502</html>");
        assert_eq!(t.broken.len(), 1);
        assert_eq!(t.broken[0].id, None);
        assert!(t.broken[0].reason.contains("<html>502</html>"));
        let t = parse_take_body(br#"[{"input": 1}, 7]"#);
        assert_eq!(t.broken.len(), 2);
        assert!(t.broken.iter().all(|b| b.id.is_none()));
    }

    #[test]
    fn numeric_ids_become_strings() {
        let t = parse_take_body(br#"{"id": 42, "input": {}}"#);
        assert_eq!(t.jobs[0].id, "42");
    }
}
