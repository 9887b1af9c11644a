//! Code written by `cargo xtask codegen` from `schema/`. This file is the only hand-written one
//! here: it holds the allowances generated code needs. Edit the schema or the generator instead.
#![allow(
    missing_docs,
    missing_debug_implementations,
    non_camel_case_types,
    unused_imports,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags
)]

#[rustfmt::skip]
pub(crate) mod graphql;
#[rustfmt::skip]
pub(crate) mod rest;
#[rustfmt::skip]
pub(crate) mod serverless;
