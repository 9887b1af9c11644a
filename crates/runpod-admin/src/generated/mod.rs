//! Code written by `cargo xtask codegen` from `schema/rest/openapi.json` (the generator is
//! `xtask/src/admin_codegen.rs`). This file is the only hand-written one here: edit the spec or
//! the generator, never the generated files.

// Descriptions are the spec's Markdown, copied as written; enums come from the same emitter as
// runpod-types' models.
#![allow(clippy::doc_lazy_continuation, clippy::derivable_impls)]

#[rustfmt::skip]
pub(crate) mod groups;
#[rustfmt::skip]
pub(crate) mod operations;
#[rustfmt::skip]
pub(crate) mod table;
