//! Base URLs parsed once, below which request URLs are made cheaply.

use std::fmt;

use url::Url;

use crate::Error;

/// An absolute `http`/`https` URL parsed once, below which request URLs are made without
/// parsing a whole URL again: parsing the host (IDNA mapping included) is most of the cost of a
/// parse, and a client polling thousands of jobs makes the same host into a URL thousands of
/// times.
///
/// ```
/// # use runpod_transport::__runpod as runpod;
/// use runpod::transport::UrlBase;
///
/// let base = UrlBase::parse("http://127.0.0.1:8000/v2/my-endpoint/").unwrap();
/// assert_eq!(base.as_str(), "http://127.0.0.1:8000/v2/my-endpoint");
/// assert!(UrlBase::parse("ftp://example.com").unwrap_err().is_invalid_input());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct UrlBase {
    url: Url,
}

impl UrlBase {
    /// Parses `url` (a trailing `/` is dropped; query and fragment are not allowed).
    ///
    /// # Errors
    /// `is_invalid_input()` for a URL that does not parse, is not `http`/`https`, or has a
    /// query or fragment.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let mut url = parse_http_url(url)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::invalid_input(
                "a base URL cannot have a query or fragment",
            ));
        }
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Ok(Self { url })
    }

    /// The URL as text, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// `{self}/{path}`. `path` is taken as written (escape untrusted segments first); only the
    /// path is parsed.
    pub(crate) fn below(&self, path: &str) -> Url {
        let mut url = self.url.clone();
        let base_path = url.path().trim_end_matches('/');
        let mut full = String::with_capacity(base_path.len() + 1 + path.len());
        full.push_str(base_path);
        full.push('/');
        full.push_str(path.trim_start_matches('/'));
        url.set_path(&full);
        url
    }
}

/// An absolute `http`/`https` URL, or why it is not one (`is_invalid_input()`).
pub(crate) fn parse_http_url(url: &str) -> Result<Url, Error> {
    match Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
        Ok(_) => Err(Error::invalid_input("the URL must use http or https")),
        Err(e) => Err(Error::invalid_input_with_source("the URL is not valid", e)),
    }
}

impl fmt::Debug for UrlBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UrlBase").field(&self.as_str()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_below_a_base_equal_parsing_the_whole_url() {
        for (base, path) in [
            ("http://127.0.0.1:8000/v2/ep", "status/abc-1"),
            ("http://127.0.0.1:8000/v2/ep/", "status/a%2Fb%3Fc"),
            ("https://api.runpod.ai/v2/x", "run"),
            ("https://BÜCHER.example/v2/e", "health"),
            ("http://[::1]:9/v2/e%20f", "cancel/%2E%2E"),
        ] {
            let below = UrlBase::parse(base).unwrap().below(path);
            let whole = Url::parse(&format!("{}/{path}", base.trim_end_matches('/'))).unwrap();
            assert_eq!(below, whole, "{base} + {path}");
        }
    }

    #[test]
    fn bad_bases_are_invalid_input() {
        for bad in ["not a url", "ftp://h/x", "http://h/v2?x=1", "http://h/v2#f"] {
            assert!(UrlBase::parse(bad).unwrap_err().is_invalid_input(), "{bad}");
        }
    }
}
