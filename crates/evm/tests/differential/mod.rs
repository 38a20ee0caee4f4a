//! What the differential tests compare: one operation's outcome on the
//! embedded ledger and on the contract, in one comparable form.

#![allow(dead_code)]

use veil_evm::abi::Word;
use veil_evm::ledger::LedgerRevert;
use veil_evm::sandbox::Outcome;
use veil_ledger::LedgerError;

use crate::chain::refusal;

/// The outcome of one operation on one side, comparable across both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Res {
    /// Accepted: a leaf index and a commitment (or, for a registration,
    /// the node id; for a clock move, the height).
    Ok(u64, Word),
    /// The error's name, and its text where both sides define the same
    /// text (`InvalidArgument`, `Encoding`'s field).
    Err(String, Option<String>),
}

/// The name of a `LedgerError` variant (its `Debug` up to the payload).
pub fn variant(e: &LedgerError) -> String {
    let d = format!("{e:?}");
    d.split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

pub fn embedded_err(e: &LedgerError) -> Res {
    let text = match e {
        LedgerError::InvalidArgument(s) => Some(s.to_string()),
        LedgerError::Encoding { field, .. } => Some(field.to_string()),
        _ => None,
    };
    Res::Err(variant(e), text)
}

/// The contract's refusal (which must have emitted nothing).
pub fn chain_err(out: &Outcome) -> Res {
    let e = refusal(out);
    let text = match &e {
        LedgerRevert::InvalidArgument(s) | LedgerRevert::Encoding(s) => Some(s.clone()),
        _ => None,
    };
    Res::Err(e.name().to_owned(), text)
}
