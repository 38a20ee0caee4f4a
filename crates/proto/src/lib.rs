//! placeholder

/// Node service (`proto/veil/node/v1/node.proto`, docs/protocol.md §9).
pub mod node {
    pub mod v1 {
        tonic::include_proto!("veil.node.v1");
    }
}

/// Ledger service (`proto/veil/ledger/v1/ledger.proto`, docs/protocol.md §8).
pub mod ledger {
    pub mod v1 {
        tonic::include_proto!("veil.ledger.v1");
    }
}
