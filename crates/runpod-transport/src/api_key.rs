//! The API key newtype.

use std::fmt;

/// A Runpod API key.
///
/// `Debug` and `Display` print `[redacted]`, so the key cannot leak through a log line, a
/// `{:?}` of a config or client, or an error message. Read it with [`ApiKey::expose`] only
/// where it must go on the wire.
///
/// ```
/// # use runpod_transport::__runpod as runpod;
/// let key = runpod::ApiKey::new("rpa_secret");
/// assert_eq!(format!("{key:?} {key}"), "[redacted] [redacted]");
/// assert_eq!(key.expose(), "rpa_secret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key. Surrounding whitespace (a trailing newline from a file or `echo`) is removed.
    pub fn new(key: impl Into<String>) -> Self {
        let key = key.into();
        let trimmed = key.trim();
        if trimmed.len() == key.len() {
            Self(key)
        } else {
            Self(trimmed.to_owned())
        }
    }

    /// The key itself. Only for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

#[cfg(test)]
mod tests {
    use super::ApiKey;

    #[test]
    fn debug_and_display_redact() {
        let key = ApiKey::new("rpa_TOPSECRET");
        assert!(!format!("{key:?}").contains("TOPSECRET"));
        assert!(!format!("{key}").contains("TOPSECRET"));
        assert!(!format!("{:?}", Some(&key)).contains("TOPSECRET"));
        assert_eq!(key.expose(), "rpa_TOPSECRET");
    }

    #[test]
    fn trims_whitespace() {
        assert_eq!(ApiKey::new("  k\n").expose(), "k");
    }
}
