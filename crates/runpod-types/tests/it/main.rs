//! runpod-types integration tests: wire shapes of the generated models.

mod graphql;
mod proptests;
mod rest;
mod serverless;
