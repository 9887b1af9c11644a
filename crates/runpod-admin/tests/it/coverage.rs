//! The client covers every operation of the spec, and every operation has a wire test.

use std::collections::BTreeSet;

use runpod_admin::OPERATION_BUILDERS;
use runpod_admin::rest::OPERATIONS;

use crate::operations::{exchange, path_matches};

#[test]
fn builder_table_matches_the_spec_operation_list() {
    let spec: BTreeSet<(&str, &str, &str)> = OPERATIONS
        .iter()
        .map(|op| (op.operation_id, op.method, op.path))
        .collect();
    let ours: BTreeSet<(&str, &str, &str)> = OPERATION_BUILDERS
        .iter()
        .map(|b| (b.operation_id, b.method, b.path))
        .collect();
    assert_eq!(
        spec.difference(&ours).collect::<Vec<_>>(),
        Vec::<&(&str, &str, &str)>::new(),
        "operations without a builder"
    );
    assert_eq!(
        ours.difference(&spec).collect::<Vec<_>>(),
        Vec::<&(&str, &str, &str)>::new(),
        "builders for no operation"
    );
    assert_eq!(
        OPERATION_BUILDERS.len(),
        OPERATIONS.len(),
        "an operation has two builders"
    );
    assert_eq!(OPERATIONS.len(), 53);
}

#[tokio::test]
async fn every_operation_is_sent_where_the_spec_says() {
    for op in OPERATIONS {
        let (request, _) = exchange(op.operation_id).await;
        assert_eq!(request.method, op.method, "{}", op.operation_id);
        assert!(
            path_matches(op.path, &request.path),
            "{}: sent {} for {}",
            op.operation_id,
            request.path,
            op.path
        );
    }
}

#[test]
fn every_operation_has_a_reviewed_wire_snapshot() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/snapshots");
    let missing: Vec<&str> = OPERATIONS
        .iter()
        .map(|op| op.operation_id)
        .filter(|id| {
            !std::path::Path::new(&format!("{dir}/it__operations__request_{id}.snap")).exists()
        })
        .collect();
    assert!(missing.is_empty(), "no wire snapshot for {missing:?}");
}
