//! The worker's URLs, built from the platform's `RUNPOD_WEBHOOK_*` templates.
//!
//! Pure string work, so every rule is unit-tested here. The rules follow the Python worker
//! (`rp_job`, `rp_http`, `rp_ping`) except where it produces broken URLs: query parameters are
//! appended with `?` or `&` as the template needs, and substituted ids are percent-encoded.

use runpod_types::serverless::Route;

/// `/{segment}/` of a route, as it appears inside a URL.
fn segment(route: Route) -> String {
    format!("/{}/", route.segment())
}

/// Placeholder for the worker id in every template.
const POD_ID: &str = "$RUNPOD_POD_ID";
/// Placeholder for the job id (job-done, job-stream) or, in the job-take template, the worker id.
const ID: &str = "$ID";

use runpod_transport::path;

/// Appends `key=value` (value percent-encoded) to `url`, adding `?` or `&` as needed.
pub(crate) fn append_query(url: &mut String, key: &str, value: &str) {
    match url.rfind('?') {
        None => url.push('?'),
        Some(i) if i + 1 == url.len() || url.ends_with('&') => {}
        Some(_) => url.push('&'),
    }
    url.push_str(key);
    url.push('=');
    url.push_str(&path::encode(value));
}

/// Substitutes the worker id into a template (`$RUNPOD_POD_ID`, and also `$ID` when
/// `id_is_worker` — the job-take template uses `$ID` for the worker).
fn with_worker_id(template: &str, worker_id: &str, id_is_worker: bool) -> String {
    let encoded = path::encode(worker_id);
    let s = template.replace(POD_ID, &encoded);
    if id_is_worker {
        s.replace(ID, &encoded)
    } else {
        s
    }
}

/// The worker's URL set, with the worker id already substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerUrls {
    /// job-take URL without `job_in_progress` (that is added per request).
    take: Option<String>,
    /// job-done template, worker id substituted, `$ID` still there.
    done: Option<String>,
    /// job-stream template, worker id substituted, `$ID` still there.
    stream: Option<String>,
    /// ping URL, worker id substituted.
    ping: Option<String>,
}

impl WorkerUrls {
    pub(crate) fn new(
        take: Option<&str>,
        done: Option<&str>,
        stream: Option<&str>,
        ping: Option<&str>,
        worker_id: &str,
    ) -> Self {
        Self {
            // The Python worker substitutes only `$ID` here; the upstream test fixture writes
            // `$RUNPOD_POD_ID`, which Python then leaves literal. Both mean the worker id.
            take: take.map(|t| with_worker_id(t, worker_id, true)),
            done: done.map(|t| with_worker_id(t, worker_id, false)),
            stream: stream.map(|t| with_worker_id(t, worker_id, false)),
            ping: ping.map(|t| with_worker_id(t, worker_id, false)),
        }
    }

    /// `job-take` for one job, or `job-take-batch` with `batch_size` for more, then
    /// `job_in_progress` — the Python worker's parameter order.
    pub(crate) fn take(&self, batch_size: usize, job_in_progress: bool) -> Option<String> {
        let mut url = self.take.clone()?;
        if batch_size > 1 {
            url = url.replacen(&segment(Route::JobTake), &segment(Route::JobTakeBatch), 1);
            append_query(&mut url, "batch_size", &batch_size.to_string());
        }
        append_query(
            &mut url,
            "job_in_progress",
            if job_in_progress { "1" } else { "0" },
        );
        Some(url)
    }

    /// `job-stop`: the job-take URL with `/job-take/` → `/job-stop/`, no extra parameters.
    /// `None` (per-job stop disabled) when the template has no `/job-take/` segment.
    pub(crate) fn stop(&self) -> Option<String> {
        let take = self.take.as_deref()?;
        let take_segment = segment(Route::JobTake);
        take.contains(&take_segment)
            .then(|| take.replacen(&take_segment, &segment(Route::JobStop), 1))
    }

    /// `job-done` for a job (final result and progress updates).
    pub(crate) fn done(&self, job_id: &str, is_stream: bool) -> Option<String> {
        Some(job_url(self.done.as_deref()?, job_id, is_stream))
    }

    /// `job-stream` for a job; the Python worker always sends `isStream=false` here.
    pub(crate) fn stream(&self, job_id: &str) -> Option<String> {
        Some(job_url(self.stream.as_deref()?, job_id, false))
    }

    /// The heartbeat: `job_id` (comma-separated, omitted when empty) then `runpod_version`.
    pub(crate) fn ping(&self, job_ids: &[String], version: &str) -> Option<String> {
        let mut url = self.ping.clone()?;
        if !job_ids.is_empty() {
            append_query(&mut url, "job_id", &job_ids.join(","));
        }
        append_query(&mut url, "runpod_version", version);
        Some(url)
    }
}

fn job_url(template: &str, job_id: &str, is_stream: bool) -> String {
    let mut url = template.replace(ID, &path::encode(job_id));
    append_query(
        &mut url,
        "isStream",
        if is_stream { "true" } else { "false" },
    );
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:8000/v2/ep";

    fn urls() -> WorkerUrls {
        WorkerUrls::new(
            Some(&format!("{BASE}/job-take/$ID?gpu=NVIDIA+H200")),
            Some(&format!(
                "{BASE}/job-done/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+H200"
            )),
            Some(&format!(
                "{BASE}/job-stream/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+H200"
            )),
            Some(&format!("{BASE}/ping/$RUNPOD_POD_ID?gpu=NVIDIA+H200")),
            "w1",
        )
    }

    #[test]
    fn take_single_and_batch_follow_python_parameter_order() {
        let u = urls();
        assert_eq!(
            u.take(1, false).unwrap(),
            format!("{BASE}/job-take/w1?gpu=NVIDIA+H200&job_in_progress=0")
        );
        assert_eq!(
            u.take(3, true).unwrap(),
            format!("{BASE}/job-take-batch/w1?gpu=NVIDIA+H200&batch_size=3&job_in_progress=1")
        );
    }

    #[test]
    fn template_without_query_gets_a_question_mark() {
        let u = WorkerUrls::new(
            Some("http://h/v2/ep/job-take/$ID"),
            Some("http://h/v2/ep/job-done/$RUNPOD_POD_ID/$ID"),
            Some("http://h/v2/ep/job-stream/$RUNPOD_POD_ID/$ID"),
            Some("http://h/v2/ep/ping/$RUNPOD_POD_ID"),
            "w1",
        );
        assert_eq!(
            u.take(1, true).unwrap(),
            "http://h/v2/ep/job-take/w1?job_in_progress=1"
        );
        assert_eq!(
            u.take(2, false).unwrap(),
            "http://h/v2/ep/job-take-batch/w1?batch_size=2&job_in_progress=0"
        );
        assert_eq!(
            u.done("j1", false).unwrap(),
            "http://h/v2/ep/job-done/w1/j1?isStream=false"
        );
        assert_eq!(
            u.stream("j1").unwrap(),
            "http://h/v2/ep/job-stream/w1/j1?isStream=false"
        );
        assert_eq!(
            u.ping(&[], "0.1.0").unwrap(),
            "http://h/v2/ep/ping/w1?runpod_version=0.1.0"
        );
    }

    #[test]
    fn template_ending_in_question_mark_or_ampersand_adds_no_separator() {
        let mut a = "http://h/x?".to_owned();
        append_query(&mut a, "k", "v");
        assert_eq!(a, "http://h/x?k=v");
        let mut b = "http://h/x?a=1&".to_owned();
        append_query(&mut b, "k", "v");
        assert_eq!(b, "http://h/x?a=1&k=v");
    }

    #[test]
    fn take_template_may_use_runpod_pod_id_too() {
        let u = WorkerUrls::new(
            Some("http://h/v2/ep/job-take/$RUNPOD_POD_ID?gpu=x"),
            None,
            None,
            None,
            "w9",
        );
        assert_eq!(
            u.take(1, false).unwrap(),
            "http://h/v2/ep/job-take/w9?gpu=x&job_in_progress=0"
        );
    }

    #[test]
    fn stop_url_replaces_job_take_and_keeps_the_query() {
        assert_eq!(
            urls().stop().unwrap(),
            format!("{BASE}/job-stop/w1?gpu=NVIDIA+H200")
        );
        let no_segment = WorkerUrls::new(Some("http://h/take/$ID"), None, None, None, "w1");
        assert_eq!(no_segment.stop(), None);
    }

    #[test]
    fn done_and_stream_substitute_worker_then_job() {
        let u = urls();
        assert_eq!(
            u.done("job-1", true).unwrap(),
            format!("{BASE}/job-done/w1/job-1?gpu=NVIDIA+H200&isStream=true")
        );
        assert_eq!(
            u.stream("job-1").unwrap(),
            format!("{BASE}/job-stream/w1/job-1?gpu=NVIDIA+H200&isStream=false")
        );
    }

    #[test]
    fn ping_lists_job_ids_comma_separated_and_encoded() {
        let u = urls();
        assert_eq!(
            u.ping(&["p2".into(), "p1".into()], "0.1.0").unwrap(),
            format!("{BASE}/ping/w1?gpu=NVIDIA+H200&job_id=p2%2Cp1&runpod_version=0.1.0")
        );
        assert_eq!(
            u.ping(&[], "0.1.0").unwrap(),
            format!("{BASE}/ping/w1?gpu=NVIDIA+H200&runpod_version=0.1.0")
        );
    }

    #[test]
    fn ids_are_percent_encoded() {
        let u = urls();
        assert_eq!(
            u.done("a b/c", false).unwrap(),
            format!("{BASE}/job-done/w1/a%20b%2Fc?gpu=NVIDIA+H200&isStream=false")
        );
    }

    #[test]
    fn missing_templates_give_none() {
        let u = WorkerUrls::new(None, None, None, None, "w");
        assert_eq!(u.take(1, false), None);
        assert_eq!(u.stop(), None);
        assert_eq!(u.done("j", false), None);
        assert_eq!(u.stream("j"), None);
        assert_eq!(u.ping(&[], "v"), None);
    }
}
