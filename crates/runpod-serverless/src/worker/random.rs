//! A little randomness for ids and jitter, from the std hasher's random keys (no dependency).

use std::hash::{BuildHasher, Hasher};

/// A random-looking `u64`. Each `RandomState` gets fresh keys, so successive calls differ.
pub(crate) fn u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish()
}

/// A number in `[0, 1)`.
pub(crate) fn unit() -> f64 {
    // 53 random bits make every double in [0, 1) with that spacing equally likely.
    (u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn unit_is_in_range_and_varies() {
        let xs: Vec<f64> = (0..100).map(|_| super::unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(xs.windows(2).any(|w| w[0] != w[1]));
    }
}
