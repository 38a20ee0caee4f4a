//! Typed calls of `VeilLedger`'s escrows, reclaim and withdrawal
//! (`docs/evm.md` §5; `docs/protocol.md` §8.3.2, §8.3.4, §8.3.5): the
//! access token as the contract takes it, the escrow terms and their hash,
//! the nullifier's spend word, and the calldata of `openEscrow`,
//! `openEscrows`, `reclaim` and `withdraw`.

use ark_ff::PrimeField;
use revm::primitives::keccak256;
use veil_circuits::access::{self, AccessPublic};
use veil_circuits::withdraw::WithdrawPublic;
use veil_primitives::Fr;
use veil_primitives::ids::AccountId;
use veil_proofs::Proof;

use crate::abi::{AbiError, Arg, Reader, Word, encode_call_args, selector, word_to_u64, word_u64};
use crate::sandbox::EvmAddress;
use crate::solidity::{ProofWords, fr_word};

/// The Solidity type of `VeilLedger.AccessToken`.
const ACCESS_TOKEN: &str =
    "(uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256[8])";
/// The Solidity type of `VeilLedger.EscrowTerms`.
pub(crate) const ESCROW_TERMS: &str = "(uint256,uint256,uint256,uint256,uint256,uint256)";

/// Most tokens `openEscrows` takes (`MAX_OPEN_BATCH`).
pub const MAX_OPEN_BATCH: usize = 64;

/// An access token as words: the nine public inputs in the circuit's
/// order (§3.1, `esc` last) and the proof. Raw words, so that tests can send what a
/// typed statement cannot (`E ≥ 2^64`, an input `≥ r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessWords {
    pub inputs: [Word; access::NUM_PUBLIC_INPUTS],
    pub proof: ProofWords,
}

impl AccessWords {
    /// The words of a statement and its proof.
    pub fn new(st: &AccessPublic, proof: &Proof) -> Self {
        AccessWords {
            inputs: st.to_array().map(|x| fr_word(&x)),
            proof: ProofWords::from_proof(proof),
        }
    }

    /// The node the token pays (`openEscrow`'s first argument).
    pub fn node_id(&self) -> Word {
        self.inputs[access::NODE_ID]
    }

    /// The nullifier: the session id of the escrow it opens.
    pub fn nullifier(&self) -> Word {
        self.inputs[access::NULLIFIER]
    }

    /// The escrow commitment `esc` (input #8).
    pub fn escrow_commitment(&self) -> Word {
        self.inputs[access::ESCROW_COMMITMENT]
    }

    /// `AccessToken` in the contract's field order: the inputs but the
    /// node id, then the proof.
    fn struct_words(&self) -> impl Iterator<Item = Word> + '_ {
        self.inputs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != access::NODE_ID)
            .map(|(_, w)| *w)
            .chain(self.proof.words())
    }
}

/// `openEscrow(nodeId, token)`.
pub fn open_escrow(node_id: Word, t: &AccessWords) -> Vec<u8> {
    let args: Vec<Arg> = std::iter::once(node_id)
        .chain(t.struct_words())
        .map(Arg::Word)
        .collect();
    encode_call_args(
        selector(&format!("openEscrow(uint256,{ACCESS_TOKEN})")),
        &args,
    )
}

/// `openEscrows(nodeId, tokens)`: any number of tokens (the contract
/// refuses none and more than [`MAX_OPEN_BATCH`]).
pub fn open_escrows(node_id: Word, tokens: &[AccessWords]) -> Vec<u8> {
    let rows = tokens.iter().map(|t| t.struct_words().collect()).collect();
    encode_call_args(
        selector(&format!("openEscrows(uint256,{ACCESS_TOKEN}[])")),
        &[Arg::Word(node_id), Arg::Rows(rows)],
    )
}

/// What the contract keeps of an escrow (`VeilLedger.EscrowTerms`,
/// §8.3.2): what `settle` and `reclaim` need. `EscrowOpened` publishes
/// them, `settle` and `reclaim` take them back. `h_S` is inside `esc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscrowTerms {
    pub node_id: Word,
    pub escrow: u64,
    /// `rk`, the owner key of the refund and reclaim notes.
    pub refund_owner: Word,
    pub expiry: u64,
    /// `esc = H(ESCROW, nf, node_id, E, h_S, rk, expiry)` (access input #8).
    pub esc: Word,
    /// The node's price when the escrow was opened: the escrow settles at
    /// it whatever the node's later updates (§8.3.8).
    pub price_per_kib: u64,
}

/// Words in [`EscrowTerms::words`].
pub const ESCROW_TERMS_WORDS: usize = 6;

impl EscrowTerms {
    /// The signature of the event that publishes them.
    pub const OPENED_EVENT: &'static str = "EscrowOpened(uint256,uint256,(uint256,uint256,uint256,uint256,uint256,uint256),uint256,uint256,uint64)";

    /// The terms an access token opens at a node whose price in force is
    /// `price_per_kib`.
    pub fn of_token(st: &AccessPublic, price_per_kib: u64) -> Self {
        EscrowTerms {
            node_id: fr_word(&st.node_id.inner()),
            escrow: st.escrow.0,
            refund_owner: fr_word(&st.refund_owner.inner()),
            expiry: st.expiry.0,
            esc: fr_word(&st.escrow_commitment().inner()),
            price_per_kib,
        }
    }

    /// The words, in the struct's order.
    pub fn words(&self) -> [Word; ESCROW_TERMS_WORDS] {
        [
            self.node_id,
            word_u64(self.escrow),
            self.refund_owner,
            word_u64(self.expiry),
            self.esc,
            word_u64(self.price_per_kib),
        ]
    }

    /// Decodes the head words of `r` from word `at` (an event's data, a
    /// struct in calldata).
    pub fn decode_at(r: &Reader, at: usize) -> Result<Self, AbiError> {
        Ok(EscrowTerms {
            node_id: r.word(at)?,
            escrow: r.u64(at + 1)?,
            refund_owner: r.word(at + 2)?,
            expiry: r.u64(at + 3)?,
            esc: r.word(at + 4)?,
            price_per_kib: r.u64(at + 5)?,
        })
    }

    /// The contract's `_termsHash`: keccak256 of the ABI encoding with the
    /// two status bits cleared.
    pub fn hash(&self) -> Word {
        let mut h = keccak256(self.words().concat()).0;
        h[31] &= !STATUS_MASK;
        h
    }
}

/// The low bits of a spend word that hold an escrow's status.
const STATUS_MASK: u8 = 3;

/// An escrow's status in its spend word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscrowStatus {
    Open,
    Settled,
    Reclaimed,
}

/// What the contract records for a nullifier (`nullifiers(nf)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendWord {
    Unspent,
    /// Spent by a withdrawal.
    Withdrawn,
    /// Spent by an access token: the escrow's terms hash and status.
    Escrow {
        terms_hash: Word,
        status: EscrowStatus,
    },
}

impl SpendWord {
    /// Decodes a word of `nullifiers`; a word the contract never writes is
    /// an error.
    pub fn decode(w: &Word) -> Result<Self, AbiError> {
        let mut hash = *w;
        hash[31] &= !STATUS_MASK;
        let status = match w[31] & STATUS_MASK {
            1 => EscrowStatus::Open,
            2 => EscrowStatus::Settled,
            3 => EscrowStatus::Reclaimed,
            _ => {
                return match word_to_u64(w) {
                    Some(0) => Ok(SpendWord::Unspent),
                    Some(4) => Ok(SpendWord::Withdrawn),
                    _ => Err(AbiError::Malformed("spend word")),
                };
            }
        };
        Ok(SpendWord::Escrow {
            terms_hash: hash,
            status,
        })
    }

    /// The word of an escrow with these terms and status.
    pub fn escrow(terms: &EscrowTerms, status: EscrowStatus) -> Self {
        SpendWord::Escrow {
            terms_hash: terms.hash(),
            status,
        }
    }
}

/// `reclaim(sessionId, terms)` with raw words.
pub fn reclaim(session_id: Word, terms: &[Word; ESCROW_TERMS_WORDS]) -> Vec<u8> {
    let args: Vec<Arg> = std::iter::once(session_id)
        .chain(terms.iter().copied())
        .map(Arg::Word)
        .collect();
    encode_call_args(selector(&format!("reclaim(uint256,{ESCROW_TERMS})")), &args)
}

/// A withdrawal as words: `root, nf, cm_change, amount, recipient` (§4;
/// the recipient an address, as a field element [`recipient_account`])
/// and the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithdrawWords {
    pub inputs: [Word; 5],
    pub proof: ProofWords,
}

impl WithdrawWords {
    /// The words of a statement and its proof.
    pub fn new(st: &WithdrawPublic, proof: &Proof) -> Self {
        WithdrawWords {
            inputs: st.to_array().map(|x| fr_word(&x)),
            proof: ProofWords::from_proof(proof),
        }
    }
}

/// `withdraw(root, nullifier, cmChange, amount, recipient, proof)`.
pub fn withdraw(w: &WithdrawWords) -> Vec<u8> {
    let args: Vec<Arg> = w
        .inputs
        .iter()
        .copied()
        .chain(w.proof.words())
        .map(Arg::Word)
        .collect();
    encode_call_args(
        selector("withdraw(uint256,uint256,uint256,uint256,address,uint256[8])"),
        &args,
    )
}

/// The withdraw statement's recipient for an EVM address: the address as
/// an integer (below 2^160, so a canonical field element).
pub fn recipient_account(address: EvmAddress) -> AccountId {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(address.as_slice());
    AccountId::from_fr(Fr::from_be_bytes_mod_order(&w))
}

/// Calldata of the getters of this stage.
pub mod view {
    use super::*;

    /// The spend word of `nf` ([`SpendWord::decode`]).
    pub fn nullifier(nf: Word) -> Vec<u8> {
        encode_call_args(selector("nullifiers(uint256)"), &[Arg::Word(nf)])
    }
    /// Σ E of open escrows.
    pub fn escrowed() -> Vec<u8> {
        selector("escrowed()").to_vec()
    }
}
