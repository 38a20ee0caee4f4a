//! Size limits of the ledger's operations and records (docs/protocol.md §8),
//! shared by the state machine, the wire conversions and the schema.

/// Largest settlement batch the ledger accepts.
pub const MAX_BATCH: usize = 64;

/// Largest number of escrow sizes a node may declare.
pub const MAX_ESCROW_SIZES: usize = 16;

/// Largest node profile the ledger stores (§8.3.9), in bytes.
pub const MAX_PROFILE_BYTES: usize = 1024;
