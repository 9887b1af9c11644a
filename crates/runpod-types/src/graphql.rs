//! GraphQL operations for what REST v2 lacks (account balance and spend, GPU prices), generated
//! from `schema/graphql/operations/*.graphql` against the subset SDL `schema/graphql/schema.graphql`.
//!
//! Each operation is a marker type implementing `graphql_client::GraphQLQuery` (for example
//! [`user::Myself`]) with a module of the same name, in snake case, holding its `Variables` and
//! `ResponseData`. Values always travel as variables, never spliced into the query text.

pub use crate::generated::graphql::*;
