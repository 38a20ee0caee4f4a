//! A node's voucher terms (§9.1, `docs/vouchers.md`).

use veil_primitives::field::fr_to_bytes;
use veil_vouchers::{IssuerPublicKey, NodeId};

use super::error::VoucherError;
use crate::session::{NodeConnection, NodeTerms};

/// A node's voucher terms, as published by `GetTerms` and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherTerms {
    pub node_id: NodeId,
    pub key: IssuerPublicKey,
    pub price_per_kib: u64,
}

impl VoucherTerms {
    /// The voucher view of a node's checked terms (§9.1); refused if the
    /// node does not sell vouchers.
    pub fn from_node_terms(t: &NodeTerms) -> Result<Self, VoucherError> {
        let key = t
            .voucher_key
            .ok_or_else(|| VoucherError::Terms("this node does not sell vouchers".into()))?;
        Ok(Self {
            node_id: NodeId::new(fr_to_bytes(&t.node_id.inner())),
            key,
            price_per_kib: t.price_per_kib,
        })
    }

    /// Fetches and checks the node's voucher terms.
    pub async fn fetch(node: &mut NodeConnection) -> Result<Self, VoucherError> {
        Self::from_node_terms(&node.terms().await?)
    }
}
