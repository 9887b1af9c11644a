//! How the generated models keep an explicit `null`.
//!
//! An optional property that holds any JSON value (a job's `output`, a chunk's `output`) has
//! `null` among its values: a handler that returns nothing reports `"output": null`, and the
//! Python client indexes that key. Plain `Option<Value>` would read that `null` as a missing
//! key and drop it on the way out, so these fields decode a present key, `null` included, as
//! `Some`; only a missing key is `None`.

use serde::{Deserialize, Deserializer};

/// `#[serde(default, deserialize_with = "crate::nulls::present")]`: a present key is `Some`.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}
