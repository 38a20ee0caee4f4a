//! Generated gRPC types of veil's two services, one module per versioned
//! package of `proto/`. Only the edges (node and ledger services, their
//! clients) use these types; everything inside works on domain types.

/// Node service (`proto/veil/node/v1/node.proto`, docs/protocol.md §9).
pub mod node {
    pub mod v1 {
        tonic::include_proto!("veil.node.v1");

        /// The `version` every `veil.node.v1` request and response carries
        /// (§9); a peer refuses any other.
        pub const WIRE_VERSION: u32 = 1;
    }
}

/// Ledger service (`proto/veil/ledger/v1/ledger.proto`, docs/protocol.md §8).
pub mod ledger {
    pub mod v1 {
        tonic::include_proto!("veil.ledger.v1");
    }
}
