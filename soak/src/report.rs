//! The summary: settings, what was injected, what the client saw, and the invariants.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use runpod_serverless::HealthResponse;

use crate::jobs::{End, Outcome, Tally};
use crate::proxy::Ledger;
use crate::workers;

/// Writes one line to stdout (the soak's output is its report).
pub(crate) fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) jobs: usize,
    pub(crate) concurrency: usize,
    pub(crate) workers: usize,
    pub(crate) worker_concurrency: usize,
    pub(crate) seed: u64,
    pub(crate) binary: PathBuf,
    pub(crate) server_faults: String,
    pub(crate) lost_responses: String,
    pub(crate) log_dir: PathBuf,
}

/// The SIGKILL of a worker.
#[derive(Debug)]
pub(crate) struct KillRecord {
    pub(crate) worker: String,
    pub(crate) at_jobs: usize,
    /// Jobs the worker had taken and not reported when it was killed.
    pub(crate) held: HashSet<String>,
    pub(crate) status: String,
    pub(crate) log: PathBuf,
    pub(crate) replacement: String,
}

pub(crate) struct Inputs<'a> {
    pub(crate) settings: &'a Settings,
    pub(crate) outcomes: &'a [Outcome],
    pub(crate) ledger: &'a Ledger,
    pub(crate) tally: &'a Tally,
    pub(crate) health: Option<&'a HealthResponse>,
    pub(crate) kill: Option<&'a KillRecord>,
    /// (worker id, exit, had to be SIGKILLed after SIGTERM, log).
    pub(crate) stopped: &'a [(String, String, bool, PathBuf)],
    pub(crate) elapsed: Duration,
}

pub(crate) fn header(s: &Settings) {
    say(format!(
        "runpod-soak: {} jobs, {} in flight, {} worker processes × {} slots ({}), seed {}",
        s.jobs,
        s.concurrency,
        s.workers,
        s.worker_concurrency,
        s.binary.display(),
        s.seed
    ));
    say(format!(
        "  faults (runpod-local, every route, before the handler): {}",
        s.server_faults
    ));
    say(format!(
        "  lost responses (proxy, after the server acted): {}",
        s.lost_responses
    ));
    say(format!("  worker logs: {}", s.log_dir.display()));
}

/// A text table with a header row; columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(width.len()) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = width[i]))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let mut out = vec![
        line(header.to_vec()),
        format!(
            "|{}|",
            width
                .iter()
                .map(|w| "-".repeat(w + 2))
                .collect::<Vec<_>>()
                .join("|")
        ),
    ];
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

struct Check {
    name: String,
    ok: bool,
    detail: String,
}

fn check(name: &str, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        name: name.to_owned(),
        ok,
        detail: detail.into(),
    }
}

/// Prints the summary; true when every invariant holds.
pub(crate) fn summary(i: &Inputs<'_>) -> bool {
    let s = i.settings;
    let n = s.jobs;
    let routes = i.ledger.routes();
    let runs = i.ledger.runs();

    say("");
    say(format!(
        "finished in {:.1} s ({:.0} jobs/s)",
        i.elapsed.as_secs_f64(),
        n as f64 / i.elapsed.as_secs_f64().max(0.001)
    ));
    say("");
    say("requests by route (as the proxy saw them):");
    let mut rows = Vec::new();
    let mut total = RouteTotals::default();
    for (route, r) in &routes {
        total.add(r);
        rows.push(vec![
            route.clone(),
            r.requests.to_string(),
            r.ok.to_string(),
            r.too_many_requests.to_string(),
            r.server_errors.to_string(),
            r.dropped_by_server.to_string(),
            r.lost_responses.to_string(),
            r.other_status.to_string(),
        ]);
    }
    rows.push(vec![
        "total".to_owned(),
        total.requests.to_string(),
        total.ok.to_string(),
        total.too_many.to_string(),
        total.server_errors.to_string(),
        total.dropped.to_string(),
        total.lost.to_string(),
        total.other.to_string(),
    ]);
    say(table(
        &[
            "route",
            "requests",
            "2xx",
            "429",
            "503",
            "dropped (server)",
            "answer lost (proxy)",
            "other",
        ],
        &rows,
    ));

    // Client side.
    let count = |f: &dyn Fn(&Outcome) -> bool| i.outcomes.iter().filter(|o| f(o)).count();
    let completed = count(&|o| matches!(o.end, End::Completed { .. }));
    let matching = count(&|o| o.end == End::Completed { matches: true });
    let requeued = count(&|o| matches!(o.end, End::Completed { .. }) && o.retries > 0);
    let unknown_jobs = count(&|o| o.unknown > 0);
    let unknown_calls: u32 = i.outcomes.iter().map(|o| o.unknown).sum();
    let found: u32 = i.outcomes.iter().map(|o| o.found_after_unknown).sum();
    let resubmits: u32 = i.outcomes.iter().map(|o| o.resubmits).sum();
    let reattaches: u32 = i.outcomes.iter().map(|o| o.reattaches).sum();
    let mut ends: BTreeMap<String, usize> = BTreeMap::new();
    for o in i.outcomes {
        let key = match &o.end {
            End::Completed { matches: true } => "COMPLETED, output = input".to_owned(),
            End::Completed { matches: false } => "COMPLETED, output ≠ input".to_owned(),
            End::Ended(label) => format!("ended: {label}"),
            End::Lost(label) => format!("lost: {label}"),
            End::Stuck => "not terminal within the job timeout".to_owned(),
            End::NotSubmitted => "never submitted".to_owned(),
        };
        *ends.entry(key).or_default() += 1;
    }
    say("");
    say("jobs (client side):");
    let mut rows: Vec<Vec<String>> = ends
        .iter()
        .map(|(k, v)| vec![k.clone(), v.to_string()])
        .collect();
    rows.push(vec![
        "completed after a requeue (retries ≥ 1)".to_owned(),
        requeued.to_string(),
    ]);
    rows.push(vec![
        "submission outcome unknown (jobs / calls)".to_owned(),
        format!("{unknown_jobs} / {unknown_calls}"),
    ]);
    rows.push(vec![
        "  … found on the server, waited for by id".to_owned(),
        found.to_string(),
    ]);
    rows.push(vec![
        "resubmissions (after a provable rejection or \"not on the server\")".to_owned(),
        resubmits.to_string(),
    ]);
    rows.push(vec![
        "waits re-attached by id after a transient error".to_owned(),
        reattaches.to_string(),
    ]);
    say(table(&["outcome", "jobs"], &rows));

    say("");
    say("errors the client returned (after its own retries), by predicate:");
    let rows: Vec<Vec<String>> = i
        .tally
        .counts()
        .into_iter()
        .map(|((op, label), n)| vec![op, label, n.to_string()])
        .collect();
    if rows.is_empty() {
        say("  none");
    } else {
        say(table(&["call", "error", "count"], &rows));
    }

    // Invariants.
    let mut checks = Vec::new();
    checks.push(check(
        "every job reached a terminal state",
        i.outcomes.len() == n
            && i.outcomes
                .iter()
                .all(|o| matches!(o.end, End::Completed { .. } | End::Ended(_))),
        format!(
            "{} of {n} jobs terminal",
            count(&|o| matches!(o.end, End::Completed { .. } | End::Ended(_)))
        ),
    ));
    checks.push(check(
        "every job COMPLETED (the echo worker never fails)",
        completed == n,
        format!("{completed} of {n}"),
    ));
    let first_mismatch = i.outcomes.iter().find_map(|o| o.mismatch.as_deref());
    checks.push(check(
        "every COMPLETED output equals its input",
        matching == completed,
        match first_mismatch {
            Some(m) => format!("{matching} of {completed}; first difference: {m}"),
            None => format!("{matching} of {completed}"),
        },
    ));
    let nonces: HashSet<&str> = i.outcomes.iter().map(|o| o.nonce.as_str()).collect();
    let accepted_total: usize = runs.values().map(|r| r.accepted.len()).sum();
    let duplicates: Vec<&String> = runs
        .iter()
        .filter(|(_, r)| r.accepted.len() > 1)
        .map(|(k, _)| k)
        .collect();
    let missing = nonces
        .iter()
        .filter(|nonce| runs.get(**nonce).is_none_or(|r| r.accepted.is_empty()))
        .count();
    checks.push(check(
        "the server accepted exactly one /run per job (accepted == N)",
        accepted_total == n && duplicates.is_empty() && missing == 0,
        format!(
            "accepted {accepted_total}, N = {n}, nonces accepted twice: {}, never accepted: {missing}",
            duplicates.len()
        ),
    ));
    let resent: u32 = runs.values().map(|r| r.received_after_accept).sum();
    checks.push(check(
        "no /run was sent again after the server had accepted it",
        resent == 0,
        format!("{resent} late resends"),
    ));
    let id_mismatch = i
        .outcomes
        .iter()
        .filter(|o| {
            o.job_id.as_ref().is_some_and(|id| {
                runs.get(&o.nonce)
                    .is_none_or(|r| r.accepted.first() != Some(id))
            })
        })
        .count();
    checks.push(check(
        "the client waited on the job id the server created for its nonce",
        id_mismatch == 0,
        format!("{id_mismatch} mismatches"),
    ));
    let untyped = i.tally.untyped();
    checks.push(check(
        "every client error answers to a predicate that matches its kind",
        untyped.is_empty(),
        match untyped.first() {
            Some(first) => format!("{} untyped, first: {first}", untyped.len()),
            None => "0 untyped".to_owned(),
        },
    ));
    match i.kill {
        Some(k) => {
            let by_id: HashMap<&str, &Outcome> = i
                .outcomes
                .iter()
                .filter_map(|o| o.job_id.as_deref().map(|id| (id, o)))
                .collect();
            let held: Vec<&Outcome> = k
                .held
                .iter()
                .filter_map(|id| by_id.get(id.as_str()).copied())
                .collect();
            let completed_ok = held
                .iter()
                .filter(|o| o.end == End::Completed { matches: true })
                .count();
            // A result the worker posted just before it died may have reached the server; every
            // other held job must have been requeued and finished by another worker.
            let requeued_elsewhere = held
                .iter()
                .filter(|o| o.retries > 0 && o.worker.as_deref() != Some(k.worker.as_str()))
                .count();
            checks.push(check(
                "the killed worker's jobs were requeued and completed by another worker",
                completed_ok == k.held.len() && requeued_elsewhere > 0,
                format!(
                    "{} SIGKILLed ({}) at {} jobs holding {}, replaced by {}; {requeued_elsewhere} requeued \
                     and completed elsewhere, {} finished by it before it died",
                    k.worker,
                    k.status,
                    k.at_jobs,
                    k.held.len(),
                    k.replacement,
                    held.iter()
                        .filter(|o| o.retries == 0 && o.worker.as_deref() == Some(k.worker.as_str()))
                        .count()
                ),
            ));
            checks.push(check(
                "the killed worker died by SIGKILL",
                k.status == "signal 9",
                k.status.clone(),
            ));
        }
        None => checks.push(check(
            "a worker was killed mid-run",
            false,
            "the run ended before the kill point",
        )),
    }
    checks.push(check(
        "retries > 0 seen (requeued jobs completed)",
        requeued > 0,
        format!("{requeued} jobs completed with retries ≥ 1"),
    ));
    match i.health.and_then(|h| h.jobs.as_ref()) {
        Some(h) => {
            let get = |v: Option<i64>| v.unwrap_or(-1);
            let ok = get(h.completed) == n as i64
                && get(h.failed) == 0
                && get(h.in_queue) == 0
                && get(h.in_progress) == 0
                && get(h.retried) > 0;
            checks.push(check(
                "the server's /health agrees: N completed, none queued, running or failed",
                ok,
                format!(
                    "completed {}, failed {}, inQueue {}, inProgress {}, retried {}",
                    get(h.completed),
                    get(h.failed),
                    get(h.in_queue),
                    get(h.in_progress),
                    get(h.retried)
                ),
            ));
        }
        None => checks.push(check("the server's /health answered", false, "no answer")),
    }
    let unfaulted: Vec<&str> = routes
        .iter()
        .filter(|(_, r)| {
            r.requests >= 300
                && r.too_many_requests + r.server_errors + r.dropped_by_server + r.lost_responses
                    == 0
        })
        .map(|(k, _)| k.as_str())
        .collect();
    checks.push(check(
        "faults were injected on every route with traffic (≥ 300 requests)",
        unfaulted.is_empty(),
        if unfaulted.is_empty() {
            format!("{} routes", routes.len())
        } else {
            format!("no fault on {}", unfaulted.join(", "))
        },
    ));
    let forced: Vec<&str> = i
        .stopped
        .iter()
        .filter(|(_, status, forced, _)| *forced || status != "exit 0")
        .map(|(id, ..)| id.as_str())
        .collect();
    checks.push(check(
        "the other workers stopped cleanly on SIGTERM",
        forced.is_empty(),
        if forced.is_empty() {
            format!("{} workers, exit 0", i.stopped.len())
        } else {
            format!("not clean: {}", forced.join(", "))
        },
    ));

    // A result whose job-done answer was lost is sent again, and the server answers 409 because
    // it already has it: the worker logs that as an error. Any other error line is unexpected.
    let error_lines: Vec<String> = i
        .stopped
        .iter()
        .map(|(.., log)| log.as_path())
        .chain(i.kill.map(|k| k.log.as_path()))
        .flat_map(workers::error_lines)
        .collect();
    let (expected, unexpected): (Vec<&String>, Vec<&String>) = error_lines
        .iter()
        .partition(|l| l.contains("409") && l.contains("already COMPLETED"));
    checks.push(check(
        "worker ERROR lines are only 409s for results the server already had",
        unexpected.is_empty(),
        match unexpected.first() {
            Some(first) => format!("{} unexpected, first: {first}", unexpected.len()),
            None => format!(
                "{} such 409s (their job-done answer was lost)",
                expected.len()
            ),
        },
    ));
    say("");
    say(format!(
        "invariants (worker logs in {}):",
        s.log_dir.display()
    ));
    let all_ok = checks.iter().all(|c| c.ok);
    for c in &checks {
        say(format!(
            "  [{}] {} — {}",
            if c.ok { "PASS" } else { "FAIL" },
            c.name,
            c.detail
        ));
    }

    say("");
    say(
        "submission outcome unknown: /run is not idempotent, so after a 5xx or a connection that \
         broke once the request was out, the SDK returns the error and never re-sends. The soak \
         reconciled each such job by its input nonce against what the server accepted: found → \
         waited for it by id; absent → submitted again (safe, nothing was queued). Runpod has no \
         idempotency key or job listing, so applications need their own nonce and records.",
    );
    say(if all_ok {
        "result: PASS"
    } else {
        "result: FAIL"
    });
    all_ok
}

#[derive(Default)]
struct RouteTotals {
    requests: u64,
    ok: u64,
    too_many: u64,
    server_errors: u64,
    dropped: u64,
    lost: u64,
    other: u64,
}

impl RouteTotals {
    fn add(&mut self, r: &crate::proxy::RouteStats) {
        self.requests += r.requests;
        self.ok += r.ok;
        self.too_many += r.too_many_requests;
        self.server_errors += r.server_errors;
        self.dropped += r.dropped_by_server;
        self.lost += r.lost_responses;
        self.other += r.other_status;
    }
}
