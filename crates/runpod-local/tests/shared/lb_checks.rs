//! Checks on runpod-local's load-balancing workers shared by two test crates: runpod-local's own
//! (`tests/it`) and the end-to-end one (`tests/e2e`), which includes this file by path.

use std::time::Duration;

use runpod_local::RunningServer;
use tokio::time::Instant;

/// Waits (up to 30 s) until `endpoint` has exactly `healthy`, `initializing` and `unhealthy`
/// workers.
pub(crate) async fn counts_reach(
    server: &RunningServer,
    endpoint: &str,
    want: (usize, usize, usize),
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts = server
            .lb_counts()
            .into_iter()
            .find(|(id, _)| id == endpoint)
            .map(|(_, c)| (c.healthy, c.initializing, c.unhealthy));
        if counts == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{endpoint}: {counts:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs no more).
#[cfg(target_os = "linux")]
pub(crate) fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}
