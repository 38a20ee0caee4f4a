//! Circuit identifiers: the stable names under which keys are stored.
//!
//! Spec: `docs/protocol.md` §7.1.

use std::fmt;
use std::str::FromStr;

/// The settlement batch sizes for which a circuit (and keys) exist.
pub const SETTLE_SIZES: [usize; 3] = [1, 8, 64];

/// One Groth16 circuit of veil. Each has its own circuit-specific setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CircuitId {
    /// Session open: spend a note into an escrow (`docs/protocol.md` §3).
    Access,
    /// Spend a note to a public account.
    Withdraw,
    /// Settlement of a batch of `K` sessions, `K` ∈ [`SETTLE_SIZES`].
    Settle(SettleSize),
    /// Appending 64 leaves to the note tree as one aligned subtree: the
    /// chain's batched append (`docs/evm.md` §3.2 item 1).
    TreeInsert64,
    /// A node key's answer to a ledger challenge, for a chain that verifies
    /// Groth16 instead of BabyJubJub (`docs/protocol.md` §8.3.14).
    Answer,
}

/// A settlement batch size that has a circuit: 1, 8 or 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SettleSize(u8);

impl SettleSize {
    /// One session per batch.
    pub const K1: SettleSize = SettleSize(1);
    /// Eight sessions per batch.
    pub const K8: SettleSize = SettleSize(8);
    /// Sixty-four sessions per batch.
    pub const K64: SettleSize = SettleSize(64);

    /// The batch size `K`, if it has a circuit.
    pub fn new(k: u64) -> Result<Self, UnknownBatchSize> {
        match k {
            1 => Ok(Self::K1),
            8 => Ok(Self::K8),
            64 => Ok(Self::K64),
            other => Err(UnknownBatchSize(other)),
        }
    }

    /// `K` as a number.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl CircuitId {
    /// Every circuit, in a fixed order.
    pub const ALL: [CircuitId; 7] = [
        CircuitId::Access,
        CircuitId::Withdraw,
        CircuitId::Settle(SettleSize::K1),
        CircuitId::Settle(SettleSize::K8),
        CircuitId::Settle(SettleSize::K64),
        CircuitId::TreeInsert64,
        CircuitId::Answer,
    ];

    /// The stable name: `access`, `withdraw`, `settle_1`, `settle_8`,
    /// `settle_64`, `tree_insert_64`, `answer`.
    pub fn name(self) -> &'static str {
        match self {
            CircuitId::Access => "access",
            CircuitId::Withdraw => "withdraw",
            CircuitId::Settle(SettleSize::K1) => "settle_1",
            CircuitId::Settle(SettleSize::K8) => "settle_8",
            CircuitId::Settle(_) => "settle_64",
            CircuitId::TreeInsert64 => "tree_insert_64",
            CircuitId::Answer => "answer",
        }
    }
}

impl fmt::Display for CircuitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A settlement batch size for which no circuit exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no settlement circuit for batch size {0} (expected 1, 8 or 64)")]
pub struct UnknownBatchSize(pub u64);

/// The name is not one of the seven circuit names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown circuit `{0}` (expected access, withdraw, settle_1, settle_8, settle_64, tree_insert_64 or answer)"
)]
pub struct UnknownCircuit(pub String);

impl FromStr for CircuitId {
    type Err = UnknownCircuit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CircuitId::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCircuit(s.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_roundtrip() {
        let names: Vec<_> = CircuitId::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "access",
                "withdraw",
                "settle_1",
                "settle_8",
                "settle_64",
                "tree_insert_64",
                "answer"
            ]
        );
        for c in CircuitId::ALL {
            assert_eq!(c.name().parse::<CircuitId>(), Ok(c));
        }
        for bad in [
            "",
            "Access",
            "settle_2",
            "settle_64 ",
            "settle",
            "tree_insert_4",
            "tree_insert",
            "answers",
        ] {
            assert!(bad.parse::<CircuitId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_three_batch_sizes() {
        for k in [0u64, 2, 7, 9, 63, 65, 128, u64::MAX] {
            assert_eq!(SettleSize::new(k), Err(UnknownBatchSize(k)));
        }
        for k in SETTLE_SIZES {
            assert_eq!(SettleSize::new(k as u64).map(SettleSize::get), Ok(k));
        }
    }
}
