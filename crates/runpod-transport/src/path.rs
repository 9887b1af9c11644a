//! The one encoder of caller-given URL path segments (ids of jobs, endpoints, pods, …).
//!
//! An id is placed in a URL as one path segment, so that a `/`, `?` or `#` in it cannot turn the
//! request into another route: every byte but the RFC 3986 unreserved characters
//! (`A-Z a-z 0-9 - . _ ~`) is percent-encoded. Three values cannot be made safe that way and
//! are refused with [`Error::is_invalid_input`]: the empty segment, and the dot segments `.`
//! and `..`, which URL parsers resolve (so `job("..")` would address the endpoint, not a job) —
//! also when written percent-encoded (`%2E`, `%2e%2E`, `.%2e`), since a server or proxy that
//! decodes the path before routing resolves those too.
//!
//! ```
//! # use runpod_transport::__runpod as runpod;
//! use runpod::transport::path;
//!
//! assert_eq!(path::segment("job-1").unwrap(), "job-1");
//! assert_eq!(path::segment("a/b c").unwrap(), "a%2Fb%20c");
//! for bad in ["", ".", "..", "%2E", "%2e%2E", ".%2e"] {
//!     assert!(path::segment(bad).unwrap_err().is_invalid_input(), "{bad:?}");
//! }
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::Error;

/// `raw` as one percent-encoded path segment, or why it cannot be one (`is_invalid_input()`:
/// empty, `.`, `..`, or a percent-encoded dot segment).
///
/// Borrows `raw` when nothing needs encoding (the common case: ids are plain ASCII).
pub fn segment(raw: &str) -> Result<Cow<'_, str>, Error> {
    check(raw)?;
    Ok(encode(raw))
}

/// Appends `raw` to `out` as one percent-encoded path segment; refuses what
/// [`segment`] refuses, leaving `out` as it was.
pub fn push_segment(out: &mut String, raw: &str) -> Result<(), Error> {
    check(raw)?;
    push_encoded(out, raw);
    Ok(())
}

/// Percent-encodes every byte of `raw` but the unreserved characters, with no checks: for
/// query values, where dot segments mean nothing. Use [`segment`] for path segments.
pub fn encode(raw: &str) -> Cow<'_, str> {
    if raw.bytes().all(is_unreserved) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + 8);
    push_encoded(&mut out, raw);
    Cow::Owned(out)
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn push_encoded(out: &mut String, raw: &str) {
    for byte in raw.bytes() {
        if is_unreserved(byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// Refuses the segments that no encoding makes safe.
fn check(raw: &str) -> Result<(), Error> {
    if raw.is_empty() {
        return Err(Error::invalid_input("an id in a URL path cannot be empty"));
    }
    if is_dot_segment(raw) {
        return Err(Error::invalid_input(format!(
            "`{raw}` cannot be an id in a URL path: URL parsers resolve it as a dot segment"
        )));
    }
    Ok(())
}

/// `.` or `..`, with any dot possibly written `%2E`/`%2e` (as the URL standard's path parser
/// reads them).
fn is_dot_segment(raw: &str) -> bool {
    if raw.len() > 6 {
        return false; // `%2E%2E` is the longest
    }
    let mut rest = raw.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return false,
        };
        dots += 1;
    }
    matches!(dots, 1 | 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_stay_and_everything_else_is_escaped() {
        assert!(matches!(
            segment("abc-123_x.y~z").unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(segment("a/b?c d#é%").unwrap(), "a%2Fb%3Fc%20d%23%C3%A9%25");
        assert_eq!(segment("..a").unwrap(), "..a");
        assert_eq!(segment("...").unwrap(), "...");
        assert_eq!(segment("%2E%2E%2E").unwrap(), "%252E%252E%252E");
        assert_eq!(encode("a b"), "a%20b");
        assert_eq!(encode(".."), "..");
    }

    #[test]
    fn empty_and_dot_segments_are_refused_in_every_spelling() {
        for bad in [
            "", ".", "..", "%2E", "%2e", "%2E%2E", "%2e%2E", "%2E%2e", ".%2e", "%2E.", ".%2E",
        ] {
            let err = segment(bad).unwrap_err();
            assert!(err.is_invalid_input(), "{bad:?}: {err}");
            let mut out = String::from("x/");
            assert!(push_segment(&mut out, bad).is_err());
            assert_eq!(out, "x/", "nothing appended for {bad:?}");
        }
        for fine in ["%2", "%2F", ".a", "a.", "%2E%2", "%3E", "%2E%2E%2E"] {
            assert!(segment(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn accepted_segments_stay_one_segment_after_url_parsing() {
        // What the request path ends up as, after the `url` crate's own normalisation.
        for raw in [
            "j1",
            "a/b",
            "..a",
            "%2E%2E%2E",
            "?x",
            "#f",
            "é",
            " ",
            "...",
            "a%2E%2E",
        ] {
            let mut s = String::from("http://h/v2/ep/status/");
            push_segment(&mut s, raw).unwrap();
            let url = url::Url::parse(&s).unwrap();
            let segments: Vec<_> = url.path_segments().unwrap().collect();
            assert_eq!(segments.len(), 4, "{raw:?} -> {url}");
            assert_eq!(&segments[..3], ["v2", "ep", "status"], "{raw:?} -> {url}");
            assert_eq!(url.query(), None);
            assert_eq!(url.fragment(), None);
        }
    }
}
