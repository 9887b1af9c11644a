//! The error bodies Runpod's APIs send, parsed into one [`ApiError`].

use std::fmt;

use serde_json::Value;

/// A structured error body from the server.
///
/// One type for every shape Runpod uses:
/// - REST v2 `application/problem+json`: `{type, title, status, detail, errors: [string]}`;
/// - REST v1 `{"message": "…"}`;
/// - the serverless queue API `{"error": "…"}`;
/// - GraphQL `{"errors": [{message, path, locations, extensions}]}`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ApiError {
    /// Problem type URI (`type`).
    pub type_: Option<String>,
    /// Short summary (`title`).
    pub title: Option<String>,
    /// HTTP status the body states (`status`).
    pub status: Option<u16>,
    /// Explanation (`detail`).
    pub detail: Option<String>,
    /// `message` (REST v1) or `error` (queue API).
    pub message: Option<String>,
    /// Individual failures: REST v2 validation messages or GraphQL errors.
    pub errors: Vec<ApiErrorItem>,
}

/// One entry of an error body's `errors` list.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ApiErrorItem {
    /// What went wrong.
    pub message: String,
    /// GraphQL: where in the response data the error belongs (empty when not given).
    pub path: Vec<PathSegment>,
    /// GraphQL: `extensions` (error codes and the like).
    pub extensions: Option<Value>,
}

/// A step in a GraphQL error path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathSegment {
    /// An object field.
    Key(String),
    /// A list index.
    Index(u64),
}

impl fmt::Display for PathSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSegment::Key(k) => f.write_str(k),
            PathSegment::Index(i) => write!(f, "{i}"),
        }
    }
}

impl ApiError {
    /// Parses a response body; `None` when it is not JSON or has none of the known fields.
    pub fn from_body(body: &[u8]) -> Option<ApiError> {
        let value: Value = serde_json::from_slice(body).ok()?;
        Self::from_value(&value)
    }

    /// Parses an already decoded body; `None` when it has none of the known fields.
    pub fn from_value(value: &Value) -> Option<ApiError> {
        let obj = value.as_object()?;
        let string = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
        let status = obj.get("status").and_then(|s| match s {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        let message = string("message").or_else(|| match obj.get("error") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(e)) => e.get("message").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        });
        let errors = obj
            .get("errors")
            .and_then(Value::as_array)
            .map(|items| items.iter().map(parse_item).collect())
            .unwrap_or_default();
        let err = ApiError {
            type_: string("type"),
            title: string("title"),
            status,
            detail: string("detail"),
            message,
            errors,
        };
        (err != ApiError::default()).then_some(err)
    }

    /// The most telling one-line description: `title: detail`, the message, or the first item.
    pub fn summary(&self) -> Option<String> {
        match (&self.title, &self.detail, &self.message) {
            (Some(t), Some(d), _) if t != d => Some(format!("{t}: {d}")),
            (_, Some(d), _) => Some(d.clone()),
            (_, None, Some(m)) => Some(m.clone()),
            (Some(t), None, None) => Some(t.clone()),
            (None, None, None) => self.errors.first().map(|e| e.message.clone()),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.summary().as_deref().unwrap_or("unspecified api error"))?;
        let more = if self.title.is_some() || self.detail.is_some() || self.message.is_some() {
            self.errors.len()
        } else {
            self.errors.len().saturating_sub(1)
        };
        if more > 0 {
            write!(f, " (+{more} more)")?;
        }
        Ok(())
    }
}

impl fmt::Display for ApiErrorItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.path.is_empty() {
            let path: Vec<String> = self.path.iter().map(ToString::to_string).collect();
            write!(f, " (at {})", path.join("."))?;
        }
        if let Some(ext) = &self.extensions {
            write!(f, " {ext}")?;
        }
        Ok(())
    }
}

fn parse_item(item: &Value) -> ApiErrorItem {
    match item {
        Value::String(s) => ApiErrorItem {
            message: s.clone(),
            ..ApiErrorItem::default()
        },
        Value::Object(obj) => ApiErrorItem {
            message: obj
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| item.to_string()),
            path: obj
                .get("path")
                .and_then(Value::as_array)
                .map(|p| {
                    p.iter()
                        .filter_map(|seg| match seg {
                            Value::String(s) => Some(PathSegment::Key(s.clone())),
                            Value::Number(n) => n.as_u64().map(PathSegment::Index),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            extensions: obj.get("extensions").filter(|e| !e.is_null()).cloned(),
        },
        other => ApiErrorItem {
            message: other.to_string(),
            ..ApiErrorItem::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problem_json() {
        let e = ApiError::from_body(
            br#"{"type":"about:blank","title":"Unprocessable Entity","status":422,
                "detail":"Request validation failed.","errors":["$: additional properties 'bogus' not allowed"]}"#,
        )
        .unwrap();
        assert_eq!(e.type_.as_deref(), Some("about:blank"));
        assert_eq!(e.status, Some(422));
        assert_eq!(
            e.errors[0].message,
            "$: additional properties 'bogus' not allowed"
        );
        assert_eq!(
            e.to_string(),
            "Unprocessable Entity: Request validation failed. (+1 more)"
        );
    }

    #[test]
    fn v1_message_and_queue_error() {
        let v1 = ApiError::from_body(br#"{"message":"pod not found"}"#).unwrap();
        assert_eq!(v1.message.as_deref(), Some("pod not found"));
        let q = ApiError::from_body(br#"{"error":"not allowed for QB API"}"#).unwrap();
        assert_eq!(q.message.as_deref(), Some("not allowed for QB API"));
        assert_eq!(q.to_string(), "not allowed for QB API");
        let nested = ApiError::from_body(br#"{"error":{"message":"bad key"}}"#).unwrap();
        assert_eq!(nested.message.as_deref(), Some("bad key"));
    }

    #[test]
    fn graphql_errors() {
        let e = ApiError::from_value(&json!({
            "data": null,
            "errors": [
                {"message": "Something went wrong", "path": ["pod", 0, "id"],
                 "locations": [{"line": 1, "column": 2}], "extensions": {"code": "INTERNAL"}},
                {"message": "second"}
            ]
        }))
        .unwrap();
        assert_eq!(e.errors.len(), 2);
        assert_eq!(
            e.errors[0].path,
            [
                PathSegment::Key("pod".into()),
                PathSegment::Index(0),
                PathSegment::Key("id".into())
            ]
        );
        assert_eq!(
            e.errors[0].to_string(),
            r#"Something went wrong (at pod.0.id) {"code":"INTERNAL"}"#
        );
        assert_eq!(e.to_string(), "Something went wrong (+1 more)");
    }

    #[test]
    fn not_an_error_body() {
        assert_eq!(ApiError::from_body(b"<html>502</html>"), None);
        assert_eq!(ApiError::from_body(br#"{"id":"x"}"#), None);
        assert_eq!(ApiError::from_body(b"[1,2]"), None);
        assert_eq!(ApiError::from_body(b""), None);
    }
}
