//! Examples live in `examples/*.rs` of this package.
