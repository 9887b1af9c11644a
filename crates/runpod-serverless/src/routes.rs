//! URLs of the queue API, relative to `{serverless base}/{endpoint_id}`.

use runpod_transport::{Method, Result, path};
use runpod_types::serverless::Route;

/// The method a route is called with: the first the route table lists.
pub(crate) fn method(route: Route) -> Method {
    match route.methods().first().copied() {
        Some("POST") => Method::POST,
        Some("PUT") => Method::PUT,
        Some("DELETE") => Method::DELETE,
        Some("PATCH") => Method::PATCH,
        _ => Method::GET,
    }
}

/// `base` (no trailing slash) joined with the escaped endpoint id; refuses an id that cannot
/// be one path segment (see [`path::segment`]).
pub(crate) fn endpoint_base(serverless_base: &str, endpoint_id: &str) -> Result<String> {
    let mut base = serverless_base.trim_end_matches('/').to_owned();
    base.push('/');
    path::push_segment(&mut base, endpoint_id)?;
    Ok(base)
}

/// `{route}/{job_id}` with the job id escaped (relative to the endpoint's base); refuses a job
/// id that cannot be one path segment.
pub(crate) fn job_path(route: &str, job_id: &str) -> Result<String> {
    let mut out = String::with_capacity(route.len() + 1 + job_id.len());
    out.push_str(route);
    out.push('/');
    path::push_segment(&mut out, job_id)?;
    Ok(out)
}

/// The host of an absolute URL, lowercased, without userinfo or port.
pub(crate) fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split_once(']').map_or(v6, |(h, _)| h)
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_without_double_slashes() {
        let base = endpoint_base("http://127.0.0.1:9/v2/", "ep 1").unwrap();
        assert_eq!(base, "http://127.0.0.1:9/v2/ep%201");
        assert_eq!(job_path("status", "j/1").unwrap(), "status/j%2F1");
        assert!(job_path("status", "..").unwrap_err().is_invalid_input());
        assert!(
            endpoint_base("http://h/v2", "")
                .unwrap_err()
                .is_invalid_input()
        );
    }

    #[test]
    fn every_client_route_has_its_method() {
        assert_eq!(method(Route::Run), Method::POST);
        assert_eq!(method(Route::Status), Method::GET);
        assert_eq!(method(Route::Cancel), Method::POST);
        assert_eq!(method(Route::Health), Method::GET);
        assert_eq!(method(Route::PurgeQueue), Method::POST);
    }

    #[test]
    fn host_is_found_in_every_url_shape() {
        assert_eq!(
            host_of("https://api.runpod.ai/v2").as_deref(),
            Some("api.runpod.ai")
        );
        assert_eq!(
            host_of("https://API.RunPod.ai:443/v2").as_deref(),
            Some("api.runpod.ai")
        );
        assert_eq!(
            host_of("http://user:pw@api.runpod.ai").as_deref(),
            Some("api.runpod.ai")
        );
        assert_eq!(host_of("http://[::1]:8080/v2").as_deref(), Some("::1"));
        assert_eq!(
            host_of("http://127.0.0.1:9/v2").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(host_of("not a url"), None);
    }
}
