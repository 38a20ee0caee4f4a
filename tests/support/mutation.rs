//! Mutations of valid encodings, shared by the `decoders_*` property tests
//! (adversarial G5): each decoder must reject a mutated input or accept it
//! only when it re-encodes to exactly the same bytes.

use proptest::prelude::*;

/// One mutation of a valid encoding.
#[derive(Clone, Debug)]
pub enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        value: u8,
    },
    Truncate {
        keep: usize,
    },
    Extend {
        tail: Vec<u8>,
    },
    /// Overwrites a 32-byte word at `at` with `0xff…` (a value `>= r`).
    OnesWord {
        at: usize,
    },
}

impl Mutation {
    /// Whether the mutated input has another length than the valid one.
    pub fn changes_length(&self) -> bool {
        matches!(self, Mutation::Truncate { .. } | Mutation::Extend { .. })
    }

    /// The mutated copy of `valid` (which must not be empty).
    pub fn apply(&self, valid: &[u8]) -> Vec<u8> {
        let mut m = valid.to_vec();
        let n = m.len();
        match self {
            Mutation::FlipBit { at, bit } => m[at % n] ^= 1 << (bit % 8),
            Mutation::SetByte { at, value } => m[at % n] = *value,
            Mutation::Truncate { keep } => m.truncate(keep % n),
            Mutation::Extend { tail } => m.extend_from_slice(tail),
            Mutation::OnesWord { at } => {
                let start = at % n.saturating_sub(31).max(1);
                for b in m.iter_mut().skip(start).take(32) {
                    *b = 0xff;
                }
            }
        }
        m
    }
}

/// Any [`Mutation`].
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        prop::collection::vec(any::<u8>(), 1..40).prop_map(|tail| Mutation::Extend { tail }),
        any::<usize>().prop_map(|at| Mutation::OnesWord { at }),
    ]
}

/// Never panics; rejects or round-trips to the identical bytes. Returns
/// whether the input was accepted.
pub fn rejects_or_round_trips<T, E, B: AsRef<[u8]>>(
    input: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T) -> B,
) -> Result<bool, TestCaseError> {
    match decode(input) {
        Ok(v) => {
            prop_assert_eq!(
                encode(&v).as_ref().to_vec(),
                input.to_vec(),
                "accepted a non-canonical encoding"
            );
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}
