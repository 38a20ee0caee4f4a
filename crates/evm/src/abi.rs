//! The little of the Solidity ABI that veil's calls need: selectors, static
//! arguments as 32-byte words, and strict decoding of a `bool` result.

use revm::primitives::keccak256;

/// One ABI word: a big-endian `uint256`.
pub type Word = [u8; 32];

/// A returned value that is not the ABI encoding of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    /// Not exactly one word.
    #[error("expected {expected} bytes of return data, got {actual}")]
    Length {
        /// Bytes expected.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// A `bool` word other than 0 or 1.
    #[error("not an ABI bool: 0x{0}")]
    NotBool(String),
}

/// The 4-byte selector of a function signature such as `f(uint256[2])`.
pub fn selector(signature: &str) -> [u8; 4] {
    let h = keccak256(signature.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// Calldata of a call whose arguments are all static: selector ‖ words.
pub fn encode_call(selector: [u8; 4], words: &[Word]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 32 * words.len());
    out.extend_from_slice(&selector);
    for w in words {
        out.extend_from_slice(w);
    }
    out
}

/// `n` as a word.
pub fn word_u64(n: u64) -> Word {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&n.to_be_bytes());
    w
}

/// Decodes return data that must be exactly one ABI `bool`.
pub fn decode_bool(data: &[u8]) -> Result<bool, AbiError> {
    let w: &Word = data.try_into().map_err(|_| AbiError::Length {
        expected: 32,
        actual: data.len(),
    })?;
    if w[..31].iter().any(|&b| b != 0) || w[31] > 1 {
        return Err(AbiError::NotBool(hex::encode(w)));
    }
    Ok(w[31] == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_selector() {
        // keccak256("transfer(address,uint256)")[..4], the ERC-20 selector.
        assert_eq!(
            selector("transfer(address,uint256)"),
            [0xa9, 0x05, 0x9c, 0xbb]
        );
    }

    #[test]
    fn bool_is_strict() {
        assert_eq!(decode_bool(&word_u64(1)), Ok(true));
        assert_eq!(decode_bool(&word_u64(0)), Ok(false));
        assert!(decode_bool(&word_u64(2)).is_err());
        let mut high = word_u64(1);
        high[0] = 1;
        assert!(decode_bool(&high).is_err());
        assert!(decode_bool(&[]).is_err());
        assert!(decode_bool(&[0u8; 64]).is_err());
    }

    #[test]
    fn calldata_layout() {
        let data = encode_call([1, 2, 3, 4], &[word_u64(5), word_u64(6)]);
        assert_eq!(data.len(), 4 + 64);
        assert_eq!(&data[..4], &[1, 2, 3, 4]);
        assert_eq!(data[35], 5);
        assert_eq!(data[67], 6);
    }
}
