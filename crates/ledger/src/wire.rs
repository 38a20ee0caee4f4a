//! `veil.ledger.v1` constants shared by the server (`service`) and the
//! client (`remote`): message size limits and the error-kind metadata key.

/// Largest request the service decodes (a settle_64 request is ~5 KiB).
pub const MAX_DECODING_MESSAGE_SIZE: usize = 64 * 1024;
/// Largest response it encodes (a commitment batch is ~35 KiB).
pub const MAX_ENCODING_MESSAGE_SIZE: usize = 1024 * 1024;
/// Metadata key carrying the stable name of the error variant.
pub const ERROR_KIND_KEY: &str = "veil-ledger-error";
