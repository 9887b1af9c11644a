//! Request checks shared by the handlers: the body against the contract (`422`).

use axum::http::HeaderMap;
use axum::http::header::HOST;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::problem::Problem;
use super::state::RestV2State;

/// Parses a JSON object body into `T`. Malformed JSON, a wrong type, a missing required field
/// or a field the contract does not name (`unevaluatedProperties: false`) is a `422`.
pub(crate) fn parse_body<T: DeserializeOwned + Serialize>(body: &[u8]) -> Result<T, Problem> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Problem::invalid(vec![format!("body: not JSON ({e})")]))?;
    let Value::Object(given) = &value else {
        return Err(Problem::invalid(vec![
            "body: must be a JSON object".to_owned(),
        ]));
    };
    let parsed: T = serde_json::from_value(value.clone())
        .map_err(|e| Problem::invalid(vec![format!("body: {e}")]))?;
    // Whatever the model kept is known; a non-null key it dropped is not part of the contract.
    let kept = serde_json::to_value(&parsed).unwrap_or(Value::Null);
    let unknown: Vec<String> = given
        .iter()
        .filter(|(k, v)| !v.is_null() && kept.get(k.as_str()).is_none())
        .map(|(k, _)| format!("{k}: unknown field"))
        .collect();
    if unknown.is_empty() {
        Ok(parsed)
    } else {
        Err(Problem::invalid(unknown))
    }
}

/// Collects contract violations, then answers `422` with all of them.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<String>);

impl Violations {
    pub(crate) fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(message());
        }
    }

    pub(crate) fn non_empty(&mut self, field: &str, value: &str) {
        self.check(!value.trim().is_empty(), || {
            format!("{field}: must not be empty")
        });
    }

    /// `major.minor`, as every CUDA version field requires.
    pub(crate) fn cuda_versions<'a>(
        &mut self,
        field: &str,
        versions: impl IntoIterator<Item = &'a String>,
    ) {
        for v in versions {
            self.check(is_major_minor(v), || {
                format!("{field}: {v:?} is not major.minor")
            });
        }
    }

    pub(crate) fn into_result(self) -> Result<(), Problem> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Problem::invalid(self.0))
        }
    }
}

fn is_major_minor(v: &str) -> bool {
    v.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// The queue API base an endpoint's `requestUrls` use: the configured one, else this server.
pub(crate) fn queue_base(state: &RestV2State, headers: &HeaderMap) -> String {
    if let Some(base) = state.base_url() {
        return base.to_owned();
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}/v2")
}

#[cfg(test)]
mod tests {
    use super::*;
    use runpod_types::rest::CreateTemplateRequest;

    #[test]
    fn unknown_fields_are_violations() {
        let err =
            parse_body::<CreateTemplateRequest>(br#"{"name":"n","image":"i","imageName":"x"}"#)
                .unwrap_err();
        assert_eq!(err.status().as_u16(), 422);
        assert!(
            parse_body::<CreateTemplateRequest>(br#"{"name":"n","image":"i","env":null}"#).is_ok()
        );
    }

    #[test]
    fn cuda_versions_are_major_minor() {
        assert!(is_major_minor("12.8") && is_major_minor("12.11"));
        assert!(!is_major_minor("12") && !is_major_minor("12.x") && !is_major_minor(".1"));
    }
}
