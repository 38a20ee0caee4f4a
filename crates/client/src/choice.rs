//! Choosing nodes from the ledger's registry when the user names none
//! (`docs/protocol.md` §9.10, `docs/client.md` "Choosing nodes"). Sans-IO:
//! the caller reads the registry ([`veil_ledger::LedgerApi::all_nodes`])
//! and connects to what [`choose`] returns, pinned to the key each chosen
//! record holds.
//!
//! The rules: a node is a candidate if it is not retired (§8.3.12), its
//! profile parses and publishes an endpoint and the escrow size is one of
//! its sizes in force; the nodes of
//! one route belong to pairwise distinct operator accounts, none of them an
//! operator the caller excludes (the entry's, when the user named the entry
//! only); each hop is drawn with probability proportional to the stake its
//! node still has locked (at least 1, after slashes) times the share of its
//! claimed capacity its latest audit verdict found delivered (docs/market.md
//! §7.1; a node never judged counts in full), so an operator's share of the
//! routes is its share of the stake, whatever number of nodes it registers,
//! and a node measured at a tenth of its claim gets a tenth of its draws.

use rand::Rng;
use veil_ledger::types::{AccountId, NodeId, NodeRecord, Value};

use crate::pin::TlsKeyHash;

/// A registered node a client can reach: its published endpoint and the
/// TLS pin its record holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub node_id: NodeId,
    /// The operator account (stake and payouts): hops of one route never
    /// share one.
    pub account: AccountId,
    /// `https://HOST:PORT` from the published endpoint.
    pub url: String,
    pub pin: TlsKeyHash,
    /// The stake the node still has locked (after slashes).
    pub stake: Value,
    /// The share of its claimed capacity its latest audit verdict found
    /// delivered, ppm (1,000,000 if never judged).
    pub delivered_ppm: u32,
}

impl Candidate {
    /// `record` as a candidate for sessions of `escrow`, or `None` if it is
    /// retired, its profile does not parse, publishes no endpoint, or its
    /// sizes in force do not include `escrow`.
    pub fn from_record(record: &NodeRecord, escrow: Value) -> Option<Self> {
        if record.is_retired() {
            return None;
        }
        let endpoint = record.profile().ok().flatten()?.endpoint?;
        if !record.escrow_sizes().contains(&escrow) {
            return None;
        }
        Some(Self {
            node_id: record.registration.node_id,
            account: record.registration.account,
            url: format!("https://{}", endpoint.as_str()),
            pin: TlsKeyHash::in_force(record),
            stake: record.locked_stake(),
            delivered_ppm: record
                .audit
                .last
                .map_or(1_000_000, |v| v.delivered_ppm.min(1_000_000)),
        })
    }

    /// Its weight in the draw: stake × delivered share (each at least 1,
    /// so every candidate can be drawn).
    fn weight(&self) -> u128 {
        u128::from(self.stake.0.max(1)) * u128::from(self.delivered_ppm.max(1))
    }
}

/// Why no route could be chosen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChoiceError {
    #[error(
        "a route of {wanted} hop(s) needs {wanted} registered node(s) of distinct operators that \
         publish an endpoint and accept an escrow of {escrow}; the ledger lists {listed} node(s), \
         {eligible} of them such, from {operators} operator(s) not excluded"
    )]
    TooFew {
        wanted: usize,
        listed: usize,
        eligible: usize,
        operators: usize,
        escrow: u64,
    },
}

/// `hops` nodes for a route in route order (entry first), drawn from
/// `records` by the rules of the module doc, none operated by an account
/// in `exclude`.
pub fn choose<R: Rng + ?Sized>(
    records: &[NodeRecord],
    escrow: Value,
    exclude: &[AccountId],
    hops: usize,
    rng: &mut R,
) -> Result<Vec<Candidate>, ChoiceError> {
    let mut pool: Vec<Candidate> = records
        .iter()
        .filter_map(|r| Candidate::from_record(r, escrow))
        .filter(|c| !exclude.contains(&c.account))
        .collect();
    let eligible = pool.len();
    let mut operators: Vec<AccountId> = pool.iter().map(|c| c.account).collect();
    operators.sort_by_key(|a| a.to_bytes());
    operators.dedup();
    if operators.len() < hops {
        return Err(ChoiceError::TooFew {
            wanted: hops,
            listed: records.len(),
            eligible,
            operators: operators.len(),
            escrow: escrow.0,
        });
    }
    let mut route = Vec::with_capacity(hops);
    while route.len() < hops {
        let picked = draw(&pool, rng);
        let hop = pool.swap_remove(picked);
        pool.retain(|c| c.account != hop.account);
        route.push(hop);
    }
    Ok(route)
}

/// The index of one of `pool` (non-empty), drawn with probability
/// proportional to its weight.
fn draw<R: Rng + ?Sized>(pool: &[Candidate], rng: &mut R) -> usize {
    let total: u128 = pool.iter().map(Candidate::weight).sum();
    let mut ticket = rng.gen_range(0..total);
    for (i, c) in pool.iter().enumerate() {
        if ticket < c.weight() {
            return i;
        }
        ticket -= c.weight();
    }
    pool.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use veil_ledger::profile::{Endpoint, NodeProfile};
    use veil_ledger::types::{BlockHeight, NodeRegistration, NodeTerms};
    use veil_primitives::eddsa::SigningKey;

    const ESCROW: Value = Value(4096);

    /// Node `seed` of the operator `operator`, staking `stake`, publishing
    /// `endpoint` (if any) and accepting `sizes`.
    fn record(
        seed: u8,
        operator: u8,
        stake: u64,
        endpoint: Option<&str>,
        sizes: &[u64],
    ) -> NodeRecord {
        let key = SigningKey::from_seed([seed; 32]).expect("seed");
        let account = SigningKey::from_seed([operator ^ 0x80; 32]).expect("seed");
        let profile = NodeProfile {
            endpoint: endpoint.map(|e| Endpoint::parse(e).expect("endpoint")),
            ..NodeProfile::default()
        };
        let terms = NodeTerms {
            profile: profile.encode().expect("encodes"),
            ..NodeTerms::new(
                Value(1),
                sizes.iter().copied().map(Value).collect(),
                [seed; 32],
            )
        };
        let g = NodeRegistration::sign(&key, &account, 0, Value(stake), terms);
        NodeRecord::registered(g, BlockHeight(1))
    }

    fn listed(seed: u8, operator: u8, stake: u64) -> NodeRecord {
        let endpoint = format!("node{seed}.example:7{seed:03}");
        record(seed, operator, stake, Some(&endpoint), &[ESCROW.0])
    }

    #[test]
    fn only_reachable_nodes_of_the_size_are_candidates() {
        let ok = listed(1, 1, 10);
        let c = Candidate::from_record(&ok, ESCROW).expect("candidate");
        assert_eq!(c.url, "https://node1.example:7001");
        assert_eq!(c.pin, TlsKeyHash::from_bytes([1; 32]));
        assert_eq!(c.node_id, ok.registration.node_id);
        assert!(
            Candidate::from_record(&ok, Value(64)).is_none(),
            "size not offered"
        );
        let unlisted = record(2, 2, 10, None, &[ESCROW.0]);
        assert!(
            Candidate::from_record(&unlisted, ESCROW).is_none(),
            "no endpoint"
        );
        let mut garbled = listed(3, 3, 10);
        garbled.registration.profile = vec![0xff; 8];
        assert!(
            Candidate::from_record(&garbled, ESCROW).is_none(),
            "profile does not parse"
        );
        let mut retired = listed(4, 4, 10);
        retired.exit = Some(veil_ledger::exit::NodeExit {
            retired: veil_ledger::exit::AppliedStep {
                at: BlockHeight(2),
                nonce: 1,
            },
            released: None,
        });
        assert!(
            Candidate::from_record(&retired, ESCROW).is_none(),
            "retired: no new session opens with it"
        );
    }

    #[test]
    fn too_few_operators_is_an_error_naming_the_counts() {
        let records = [
            listed(1, 1, 5),
            listed(2, 1, 5),
            record(3, 2, 5, None, &[ESCROW.0]),
        ];
        let mut rng = StdRng::seed_from_u64(1);
        let err = choose(&records, ESCROW, &[], 2, &mut rng).expect_err("one operator");
        assert_eq!(
            err,
            ChoiceError::TooFew {
                wanted: 2,
                listed: 3,
                eligible: 2,
                operators: 1,
                escrow: ESCROW.0
            }
        );
        assert_eq!(
            choose(&records, ESCROW, &[], 1, &mut rng)
                .expect("one hop")
                .len(),
            1
        );
        let op1 = records[0].registration.account;
        assert!(
            choose(&records, ESCROW, &[op1], 1, &mut rng).is_err(),
            "operator excluded"
        );
        assert!(
            choose(&[], ESCROW, &[], 1, &mut rng).is_err(),
            "empty registry"
        );
    }

    #[test]
    fn draws_follow_the_audited_share_delivered() {
        // Equal stakes; node 2's latest verdict found 10% of its claim:
        // it is drawn about one time in eleven.
        let mut records = vec![listed(1, 1, 100), listed(2, 2, 100)];
        records[1].audit = veil_ledger::types::NodeAudit {
            slashed: Value(0),
            last: Some(veil_ledger::types::AuditOutcome {
                epoch: 1,
                reports: 3,
                throughput_kbps: 10_000,
                rtt_ms: 2,
                delivered_ppm: 100_000,
                slashed: Value(0),
            }),
            ..Default::default()
        };
        let slow = records[1].registration.node_id;
        let mut rng = StdRng::seed_from_u64(11);
        let n = 4000;
        let hits = (0..n)
            .filter(|_| {
                choose(&records, ESCROW, &[], 1, &mut rng).expect("route")[0].node_id == slow
            })
            .count();
        let share = hits as f64 / n as f64;
        assert!((0.06..0.12).contains(&share), "share {share}");
        // Slashes reduce the stake that weighs.
        records[1].audit.last = None;
        records[1].audit.slashed = Value(90);
        let c = Candidate::from_record(&records[1], ESCROW).expect("candidate");
        assert_eq!((c.stake, c.delivered_ppm), (Value(10), 1_000_000));
    }

    #[test]
    fn draws_follow_stake_not_node_count() {
        // Operator 1 runs nine nodes of stake 1, operator 2 one of stake 27:
        // operator 2 is the single hop about three times in four.
        let mut records: Vec<NodeRecord> = (1..=9).map(|s| listed(s, 1, 1)).collect();
        records.push(listed(10, 2, 27));
        let op2 = records[9].registration.account;
        let mut rng = StdRng::seed_from_u64(7);
        let n = 4000;
        let hits = (0..n)
            .filter(|_| {
                choose(&records, ESCROW, &[], 1, &mut rng).expect("route")[0].account == op2
            })
            .count();
        assert!(
            (2800..3200).contains(&hits),
            "operator 2 chosen {hits} of {n} times"
        );
    }

    proptest! {
        #[test]
        fn routes_have_distinct_eligible_operators(
            nodes in prop::collection::vec((0u8..6, 0u64..50, any::<bool>(), any::<bool>()), 0..24),
            excluded in prop::collection::vec(0u8..6, 0..3),
            hops in 1usize..4,
            seed in any::<u64>(),
        ) {
            let records: Vec<NodeRecord> = nodes
                .iter()
                .enumerate()
                .map(|(i, &(op, stake, endpoint, size))| {
                    let seed = u8::try_from(i + 1).expect("small");
                    let e = format!("n{seed}.example:{}", 1000 + u16::from(seed));
                    let sizes = if size { vec![ESCROW.0] } else { vec![64] };
                    record(seed, op, stake, endpoint.then_some(e.as_str()), &sizes)
                })
                .collect();
            let exclude: Vec<AccountId> = excluded
                .iter()
                .map(|&op| SigningKey::from_seed([op ^ 0x80; 32]).expect("seed").verifying_key().account_id())
                .collect();
            let mut rng = StdRng::seed_from_u64(seed);
            let eligible: Vec<Candidate> = records
                .iter()
                .filter_map(|r| Candidate::from_record(r, ESCROW))
                .filter(|c| !exclude.contains(&c.account))
                .collect();
            let mut ops: Vec<[u8; 32]> = eligible.iter().map(|c| c.account.to_bytes()).collect();
            ops.sort_unstable();
            ops.dedup();
            match choose(&records, ESCROW, &exclude, hops, &mut rng) {
                Ok(route) => {
                    prop_assert_eq!(route.len(), hops);
                    for (i, hop) in route.iter().enumerate() {
                        prop_assert!(eligible.contains(hop));
                        prop_assert!(route[..i].iter().all(|h| h.account != hop.account));
                    }
                }
                Err(ChoiceError::TooFew { operators, .. }) => {
                    prop_assert!(ops.len() < hops);
                    prop_assert_eq!(operators, ops.len());
                }
            }
        }
    }
}
