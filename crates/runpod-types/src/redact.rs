//! Debug output that shows which environment variables are set but never their values, and
//! hides credentials (passwords, secret keys) whole.

use std::collections::BTreeMap;
use std::fmt;

/// Wraps an `env` field for `Debug`: keys are shown, every value prints as `"[redacted]"`.
pub(crate) struct RedactedValues<'a, T: ?Sized>(pub(crate) &'a T);

/// Something that holds named values (an environment).
pub(crate) trait KeyedValues {
    /// Writes the keys with redacted values.
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

fn redacted_map<'k>(
    f: &mut fmt::Formatter<'_>,
    keys: impl Iterator<Item = &'k String>,
) -> fmt::Result {
    f.debug_map()
        .entries(keys.map(|k| (k, "[redacted]")))
        .finish()
}

impl<V> KeyedValues for BTreeMap<String, V> {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted_map(f, self.keys())
    }
}

impl KeyedValues for serde_json::Map<String, serde_json::Value> {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted_map(f, self.keys())
    }
}

impl KeyedValues for serde_json::Value {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Object(map) => map.fmt_redacted(f),
            Self::Null => f.write_str("Null"),
            // Any other shape could hold a secret just as well.
            _ => f.write_str("\"[redacted]\""),
        }
    }
}

impl<T: KeyedValues> KeyedValues for Option<T> {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Some(inner) => {
                f.write_str("Some(")?;
                inner.fmt_redacted(f)?;
                f.write_str(")")
            }
            None => f.write_str("None"),
        }
    }
}

impl<T: KeyedValues + ?Sized> fmt::Debug for RedactedValues<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_redacted(f)
    }
}

/// Wraps a credential for `Debug`: prints whether it is set, never the value.
pub(crate) struct Hidden<'a, T: ?Sized>(pub(crate) &'a T);

impl fmt::Debug for Hidden<'_, String> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

impl fmt::Debug for Hidden<'_, Option<String>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(\"[redacted]\")"),
            None => f.write_str("None"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_print() {
        let env: BTreeMap<String, String> = [("HF_TOKEN".to_owned(), "hf_secret".to_owned())]
            .into_iter()
            .collect();
        let shown = format!("{:?}", RedactedValues(&Some(env)));
        assert_eq!(shown, r#"Some({"HF_TOKEN": "[redacted]"})"#);
        assert!(!shown.contains("hf_secret"));
    }

    #[test]
    fn credentials_never_print() {
        let set = Some("s3-secret".to_owned());
        assert_eq!(format!("{:?}", Hidden(&set)), r#"Some("[redacted]")"#);
        assert_eq!(format!("{:?}", Hidden(&None::<String>)), "None");
        assert_eq!(format!("{:?}", Hidden(&"pw".to_owned())), r#""[redacted]""#);
    }

    #[test]
    fn json_env_shapes() {
        let obj = serde_json::json!({"A": "secret"});
        assert_eq!(
            format!("{:?}", RedactedValues(&obj)),
            r#"{"A": "[redacted]"}"#
        );
        let list = serde_json::json!(["A=secret"]);
        assert!(!format!("{:?}", RedactedValues(&list)).contains("secret"));
    }
}
