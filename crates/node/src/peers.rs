//! Egress to other registered nodes (docs/protocol.md §9.4): a two-hop
//! entry must reach the exit's listen port even where the operator's
//! egress policy allows only a few ports. The endpoints nodes publish in
//! their ledger profiles (§8.3.9) are allowed as exact `host:port` pairs
//! past the port list — never past the address ranges: a registered
//! endpoint in a loopback or private range stays denied unless the
//! operator allowed that range, so registering a node opens nothing inside
//! another operator's network.
use std::collections::HashSet;
use std::sync::RwLock;

use veil_ledger::types::{NodeId, NodeRecord};
use veil_ledger::{LedgerApi, LedgerError};

/// The endpoints of the other registered nodes, refreshed from the ledger.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    endpoints: RwLock<HashSet<(String, u16)>>,
}

impl Peers {
    /// Whether `host:port` (as a client's `Open` names it) is a registered
    /// node's published endpoint. Host names compare case-insensitively.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let key = (host.to_ascii_lowercase(), port);
        self.endpoints
            .read()
            .map(|e| e.contains(&key))
            .unwrap_or(false)
    }

    /// Reads every registered node's profile (every page of `ListNodes`,
    /// §8.3.10) and keeps the endpoints of all but `own`. On an error the
    /// previous set stays.
    pub async fn refresh<L: LedgerApi>(
        &self,
        ledger: &L,
        own: NodeId,
    ) -> Result<usize, LedgerError> {
        let records = ledger.all_nodes().await?;
        let set = endpoints(&records, own);
        let n = set.len();
        if let Ok(mut e) = self.endpoints.write() {
            *e = set;
        }
        Ok(n)
    }
}

/// The published endpoints of `records` other than `own`'s; a record
/// whose profile does not parse publishes none.
fn endpoints(records: &[NodeRecord], own: NodeId) -> HashSet<(String, u16)> {
    records
        .iter()
        .filter(|r| r.registration.node_id != own)
        .filter_map(|r| r.profile().ok().flatten()?.endpoint)
        .map(|e| (e.host().to_ascii_lowercase(), e.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_ledger::profile::{Endpoint, NodeProfile};
    use veil_ledger::types::{BlockHeight, NodeRegistration, NodeTerms, Value};
    use veil_primitives::eddsa::SigningKey;

    fn record(seed: u8, profile: Vec<u8>) -> NodeRecord {
        let key = SigningKey::from_seed([seed; 32]).expect("seed");
        let terms = NodeTerms {
            profile,
            ..NodeTerms::new(Value(1), vec![Value(64)], [0; 32])
        };
        let g = NodeRegistration::sign(&key, &key, 0, Value(0), terms);
        NodeRecord::registered(g, BlockHeight(1))
    }

    fn listed(endpoint: &str) -> Vec<u8> {
        NodeProfile {
            endpoint: Some(Endpoint::parse(endpoint).expect("endpoint")),
            ..NodeProfile::default()
        }
        .encode()
        .expect("encodes")
    }

    #[test]
    fn only_other_nodes_published_endpoints_are_peers() {
        let own = record(1, listed("self.example:7000"));
        let records = [
            own.clone(),
            record(2, listed("Exit.Example:7443")),
            record(3, Vec::new()),
            record(4, vec![0xff; 20]),
        ];
        let peers = Peers::default();
        *peers.endpoints.write().expect("lock") = endpoints(&records, own.registration.node_id);
        assert!(peers.allows("exit.example", 7443));
        assert!(peers.allows("EXIT.example", 7443));
        assert!(!peers.allows("exit.example", 7444), "exact port only");
        assert!(!peers.allows("self.example", 7000), "not itself");
        assert!(!peers.allows("other.example", 7443));
    }
}
