//! URLs of the queue API, relative to `{serverless base}/{endpoint_id}`.

use std::fmt::Write as _;

use runpod_transport::Method;
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

/// `base` (no trailing slash) joined with the escaped endpoint id.
pub(crate) fn endpoint_base(serverless_base: &str, endpoint_id: &str) -> String {
    format!(
        "{}/{}",
        serverless_base.trim_end_matches('/'),
        segment(endpoint_id)
    )
}

/// `{route}/{job_id}` with the job id escaped (relative to the endpoint's base).
pub(crate) fn job_path(route: &str, job_id: &str) -> String {
    format!("{route}/{}", segment(job_id))
}

/// Percent-encodes one path segment: ids come from callers and servers, and a `/` or `?` in
/// one must not turn into another route.
pub(crate) fn segment(raw: &str) -> String {
    // URL parsers resolve `.` and `..` segments, which would climb out of the route.
    if raw == "." || raw == ".." {
        return raw.replace('.', "%2E");
    }
    let unreserved =
        |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
    if raw.bytes().all(unreserved) {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if unreserved(byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
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
    fn ids_are_escaped_as_one_segment() {
        assert_eq!(segment("abc-123_x.y~z"), "abc-123_x.y~z");
        assert_eq!(segment("a/b?c d#é"), "a%2Fb%3Fc%20d%23%C3%A9");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("."), "%2E");
        assert_eq!(segment("..a"), "..a");
    }

    #[test]
    fn urls_join_without_double_slashes() {
        let base = endpoint_base("http://127.0.0.1:9/v2/", "ep 1");
        assert_eq!(base, "http://127.0.0.1:9/v2/ep%201");
        assert_eq!(job_path("status", "j/1"), "status/j%2F1");
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
