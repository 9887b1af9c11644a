//! A little randomness for ids, from the std hasher's random keys (no dependency).

use std::hash::{BuildHasher, Hasher};

/// A random-looking `u64`. Each `RandomState` gets fresh keys, so successive calls differ.
pub(crate) fn u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn successive_values_vary() {
        let xs: Vec<u64> = (0..100).map(|_| super::u64()).collect();
        assert!(xs.windows(2).any(|w| w[0] != w[1]));
    }
}
