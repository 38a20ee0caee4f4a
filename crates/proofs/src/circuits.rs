//! The map from [`CircuitId`] to the blank circuit its keys are made from
//! (public so exporters, e.g. `veil-interop`, see exactly the circuit veil
//! proves).

use ark_relations::gr1cs::ConstraintSynthesizer;
use veil_circuits::access::AccessCircuit;
use veil_circuits::answer::AnswerCircuit;
use veil_circuits::settle::SettleCircuit;
use veil_circuits::tree_insert::TreeInsertCircuit;
use veil_circuits::withdraw::WithdrawCircuit;
use veil_primitives::Fr;

use crate::circuit::{CircuitId, SettleSize};

/// Receives the blank circuit of one [`CircuitId`] (a visitor, because the
/// settlement circuits are distinct types per batch size).
pub trait BlankVisitor {
    /// What the visit returns.
    type Output;
    /// Receives the blank circuit of `id`.
    fn visit<C: ConstraintSynthesizer<Fr> + Clone>(self, id: CircuitId, blank: C) -> Self::Output;
    /// The circuit is not available in this build.
    fn unavailable(self, id: CircuitId) -> Self::Output;
}

/// Calls `v` with the shape-correct, satisfiable dummy circuit of `id`.
pub fn with_blank<V: BlankVisitor>(id: CircuitId, v: V) -> V::Output {
    match id {
        CircuitId::Access => v.visit(id, AccessCircuit::dummy()),
        CircuitId::Withdraw => v.visit(id, WithdrawCircuit::dummy()),
        CircuitId::Settle(k) if k == SettleSize::K1 => v.visit(id, SettleCircuit::<1>::dummy()),
        CircuitId::Settle(k) if k == SettleSize::K8 => v.visit(id, SettleCircuit::<8>::dummy()),
        CircuitId::Settle(k) if k == SettleSize::K64 => v.visit(id, SettleCircuit::<64>::dummy()),
        CircuitId::Settle(_) => v.unavailable(id),
        CircuitId::TreeInsert64 => match TreeInsertCircuit::<64>::blank() {
            Ok(blank) => v.visit(id, blank),
            Err(_) => v.unavailable(id),
        },
        CircuitId::Answer => v.visit(id, AnswerCircuit::dummy()),
    }
}
