//! The little of the Solidity ABI that veil's calls need: selectors, static
//! arguments as 32-byte words, one-level dynamic arguments (`uint256[]`),
//! and strict decoding of results, custom errors and events.

use revm::primitives::{Address, keccak256};

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
    /// A word that is not the ABI encoding of its type (an address or
    /// `uint64` with high bits set, an offset or length out of range, a
    /// string that is not UTF-8).
    #[error("malformed ABI {0}")]
    Malformed(&'static str),
}

/// One argument of a call: a static word or a dynamic `uint256[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A static value (`uint256`, `address`, `bytes32`, or one element of
    /// a fixed array, flattened).
    Word(Word),
    /// A dynamic array of words (`uint256[]`, `uint64[]`).
    Words(Vec<Word>),
    /// A dynamic array of static rows (`T[]` of a static struct or fixed
    /// array `T`): its length is the number of rows, each row in place.
    Rows(Vec<Vec<Word>>),
    /// A `bytes` value: its length, then the bytes zero-padded to a whole
    /// number of words.
    Bytes(Vec<u8>),
}

/// Calldata selector ‖ head ‖ tail: static arguments in place, each
/// dynamic one as an offset into the tail (ABI "head/tail" encoding).
pub fn encode_call_args(selector: [u8; 4], args: &[Arg]) -> Vec<u8> {
    let mut out = selector.to_vec();
    out.extend_from_slice(&encode_args(args));
    out
}

/// The ABI encoding of `args` as a tuple (constructor arguments, calls).
pub fn encode_args(args: &[Arg]) -> Vec<u8> {
    let mut head = Vec::with_capacity(32 * args.len());
    let mut tail = Vec::new();
    for a in args {
        match a {
            Arg::Word(w) => head.extend_from_slice(w),
            Arg::Words(ws) => {
                head.extend_from_slice(&word_u64((32 * args.len() + tail.len()) as u64));
                tail.extend_from_slice(&word_u64(ws.len() as u64));
                ws.iter().for_each(|w| tail.extend_from_slice(w));
            }
            Arg::Rows(rows) => {
                head.extend_from_slice(&word_u64((32 * args.len() + tail.len()) as u64));
                tail.extend_from_slice(&word_u64(rows.len() as u64));
                rows.iter()
                    .flatten()
                    .for_each(|w| tail.extend_from_slice(w));
            }
            Arg::Bytes(b) => {
                head.extend_from_slice(&word_u64((32 * args.len() + tail.len()) as u64));
                tail.extend_from_slice(&word_u64(b.len() as u64));
                tail.extend_from_slice(b);
                tail.resize(tail.len().next_multiple_of(32), 0);
            }
        }
    }
    head.extend_from_slice(&tail);
    head
}

/// `a` as a word (left-padded).
pub fn word_address(a: Address) -> Word {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a.as_slice());
    w
}

/// The 32-byte topic of an event signature such as `Transfer(address,address,uint256)`.
pub fn event_topic(signature: &str) -> Word {
    keccak256(signature.as_bytes()).0
}

/// Strict reader of ABI-encoded data (return values, revert arguments,
/// event data): every access is bounds-checked.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `data`, the encoding of a tuple.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// Requires exactly `n` head words and nothing else (static tuples).
    pub fn expect_words(&self, n: usize) -> Result<(), AbiError> {
        if self.data.len() != 32 * n {
            return Err(AbiError::Length {
                expected: 32 * n,
                actual: self.data.len(),
            });
        }
        Ok(())
    }

    /// Head word `i`.
    pub fn word(&self, i: usize) -> Result<Word, AbiError> {
        let start = i.checked_mul(32).ok_or(AbiError::Malformed("offset"))?;
        self.data
            .get(start..start + 32)
            .and_then(|s| s.try_into().ok())
            .ok_or(AbiError::Length {
                expected: start + 32,
                actual: self.data.len(),
            })
    }

    /// Head word `i` as a `uint64` (refused if it has higher bits).
    pub fn u64(&self, i: usize) -> Result<u64, AbiError> {
        word_to_u64(&self.word(i)?).ok_or(AbiError::Malformed("uint64"))
    }

    /// Head word `i` as an `address`.
    pub fn address(&self, i: usize) -> Result<Address, AbiError> {
        let w = self.word(i)?;
        if w[..12].iter().any(|&b| b != 0) {
            return Err(AbiError::Malformed("address"));
        }
        Ok(Address::from_slice(&w[12..]))
    }

    /// The dynamic value whose offset is head word `i`: its length word and
    /// the bytes after it (bounds-checked).
    fn dynamic(&self, i: usize, unit: usize) -> Result<(usize, &'a [u8]), AbiError> {
        let at = self.offset(self.u64(i)?)?;
        let len_word = Reader::new(&self.data[at..]).u64(0)?;
        let len = usize::try_from(len_word).map_err(|_| AbiError::Malformed("length"))?;
        let bytes = len.checked_mul(unit).ok_or(AbiError::Malformed("length"))?;
        let body = self.data[at + 32..]
            .get(..bytes)
            .ok_or(AbiError::Malformed("length"))?;
        Ok((len, body))
    }

    fn offset(&self, o: u64) -> Result<usize, AbiError> {
        usize::try_from(o)
            .ok()
            .filter(|&o| o % 32 == 0 && o + 32 <= self.data.len())
            .ok_or(AbiError::Malformed("offset"))
    }

    /// The `uint64[]` whose offset is head word `i`.
    pub fn u64_array(&self, i: usize) -> Result<Vec<u64>, AbiError> {
        let (_, body) = self.dynamic(i, 32)?;
        let r = Reader::new(body);
        (0..body.len() / 32).map(|k| r.u64(k)).collect()
    }

    /// The `uint256[]` whose offset is head word `i`.
    pub fn word_array(&self, i: usize) -> Result<Vec<Word>, AbiError> {
        let (_, body) = self.dynamic(i, 32)?;
        let r = Reader::new(body);
        (0..body.len() / 32).map(|k| r.word(k)).collect()
    }

    /// The `bytes` whose offset is head word `i`.
    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, AbiError> {
        Ok(self.dynamic(i, 1)?.1.to_vec())
    }

    /// The `string` whose offset is head word `i`.
    pub fn string(&self, i: usize) -> Result<String, AbiError> {
        let (_, body) = self.dynamic(i, 1)?;
        String::from_utf8(body.to_vec()).map_err(|_| AbiError::Malformed("string"))
    }
}

/// A word as a `u64` if it fits.
pub fn word_to_u64(w: &Word) -> Option<u64> {
    if w[..24].iter().any(|&b| b != 0) {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[24..]);
    Some(u64::from_be_bytes(b))
}

/// Revert data split into the custom error's selector and its arguments.
pub fn split_revert(data: &[u8]) -> Result<([u8; 4], Reader<'_>), AbiError> {
    if data.len() < 4 {
        return Err(AbiError::Length {
            expected: 4,
            actual: data.len(),
        });
    }
    let sel = [data[0], data[1], data[2], data[3]];
    Ok((sel, Reader::new(&data[4..])))
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
    fn dynamic_arguments_go_to_the_tail() {
        // f(uint256, uint256[], uint256) with [7, 8]: head 3 words, the
        // array's offset 0x60, then its length and elements.
        let data = encode_call_args(
            [0; 4],
            &[
                Arg::Word(word_u64(1)),
                Arg::Words(vec![word_u64(7), word_u64(8)]),
                Arg::Word(word_u64(2)),
            ],
        );
        let r = Reader::new(&data[4..]);
        assert_eq!(r.u64(0), Ok(1));
        assert_eq!(r.u64(1), Ok(0x60));
        assert_eq!(r.u64(2), Ok(2));
        assert_eq!(r.u64_array(1), Ok(vec![7, 8]));
        assert_eq!(data.len(), 4 + 32 * 6);
    }

    #[test]
    fn bytes_are_padded_to_whole_words() {
        let data = encode_args(&[
            Arg::Bytes(vec![1, 2, 3]),
            Arg::Word(word_u64(9)),
            Arg::Bytes(vec![]),
        ]);
        let r = Reader::new(&data);
        assert_eq!(r.u64(0), Ok(0x60));
        assert_eq!(r.u64(2), Ok(0xa0));
        assert_eq!(r.bytes(0), Ok(vec![1, 2, 3]));
        assert_eq!(r.bytes(2), Ok(vec![]));
        assert_eq!(data.len(), 32 * 6);
    }

    #[test]
    fn reader_is_strict() {
        let mut w = word_u64(5);
        w[0] = 1;
        let data = [w, word_u64(0x20), word_u64(u64::MAX)].concat();
        let r = Reader::new(&data);
        assert!(r.u64(0).is_err(), "high bits of a uint64");
        assert!(r.address(0).is_err(), "high bits of an address");
        assert!(r.word(3).is_err(), "past the end");
        assert!(r.u64_array(1).is_err(), "length past the end");
        assert!(r.string(0).is_err(), "offset out of range");
        assert!(split_revert(&[1, 2, 3]).is_err());
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
