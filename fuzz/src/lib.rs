//! Shared checks of the fuzz targets.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decoding `data` must not panic; a decoded value must serialise and decode back to itself.
pub fn round_trip<T>(data: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let Ok(first) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let text = serde_json::to_vec(&first).expect("a decoded value serialises");
    let second: T = serde_json::from_slice(&text).expect("our own output decodes");
    assert_eq!(first, second, "round trip changed the value");
}
