//! Audits and slashing, the pure core ([`docs/market.md` §6](../../../docs/market.md)):
//! which monitors audit which node in an epoch, what a quorum of their
//! reports concludes, and how a slash is split. No I/O, no clock, no
//! signatures: a ledger checks signatures and evidence, then calls this.
//!
//! - **Assignment** is rendezvous hashing of the epoch's public randomness:
//!   each node gets the `per_node` monitors with the lowest
//!   `H(ASSIGN, randomness, epoch, node, monitor)`. Nobody can steer it
//!   without controlling the randomness, and a node cannot tell which
//!   clients are its monitors before the randomness is out.
//! - **Verdicts** count one report per assigned monitor (others and repeats
//!   are ignored) and need a quorum. The (upper) median throughput decides
//!   under-delivery, so only a strict majority of the reports can slash.
//! - **Slashes** never exceed the stake; a share rewards the monitors of
//!   the quorum, the rest is burnt.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::units::Amount;

/// A node or monitor, by its 32-byte ledger identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Party(pub [u8; 32]);

/// Domain tag of the assignment hash.
const ASSIGN: &[u8] = b"veil/market/assign/v1";

/// The monitors assigned to each node in `epoch`: `per_node` distinct
/// monitors each (fewer if there are fewer monitors), a node never auditing
/// itself.
pub fn assign(
    randomness: &[u8; 32],
    epoch: u64,
    nodes: &[Party],
    monitors: &[Party],
    per_node: usize,
) -> BTreeMap<Party, Vec<Party>> {
    let monitors: BTreeSet<Party> = monitors.iter().copied().collect();
    nodes
        .iter()
        .map(|node| {
            let mut ranked: Vec<([u8; 32], Party)> = monitors
                .iter()
                .filter(|m| *m != node)
                .map(|m| (score(randomness, epoch, node, m), *m))
                .collect();
            ranked.sort_unstable();
            (
                *node,
                ranked.into_iter().take(per_node).map(|(_, m)| m).collect(),
            )
        })
        .collect()
}

fn score(randomness: &[u8; 32], epoch: u64, node: &Party, monitor: &Party) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((ASSIGN.len() as u64).to_be_bytes());
    h.update(ASSIGN);
    h.update(randomness);
    h.update(epoch.to_be_bytes());
    h.update(node.0);
    h.update(monitor.0);
    h.finalize().into()
}

/// What one monitor measured of one node in one epoch (signature checked
/// by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub epoch: u64,
    pub node: Party,
    pub monitor: Party,
    /// Throughput through the node, kbit/s.
    pub throughput_kbps: u64,
    /// Round-trip time through the node, ms.
    pub rtt_ms: u32,
    /// Challenges the node answered correctly in time, and not.
    pub challenges_ok: u32,
    pub challenges_failed: u32,
}

/// The audit rule's parameters (`docs/market.md` §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRule {
    /// Monitors assigned per node per epoch.
    pub per_node: usize,
    /// Reports needed for a verdict.
    pub quorum: usize,
    /// Below this share of the claimed capacity (ppm), the median throughput
    /// is under-delivery.
    pub delivery_ppm: u32,
    /// The largest share of the stake one epoch's under-delivery slashes (ppm).
    pub max_underdelivery_slash_ppm: u32,
    /// The share of the stake objective evidence slashes (ppm).
    pub evidence_slash_ppm: u32,
    /// The share of a slash that rewards the reporting monitors (ppm).
    pub reward_ppm: u32,
    /// A report further than this from the median (ppm of the median) is an
    /// outlier.
    pub outlier_ppm: u32,
}

impl Default for AuditRule {
    fn default() -> Self {
        Self {
            per_node: 5,
            quorum: 3,
            delivery_ppm: 800_000,
            max_underdelivery_slash_ppm: 200_000,
            evidence_slash_ppm: 1_000_000,
            reward_ppm: 250_000,
            outlier_ppm: 500_000,
        }
    }
}

/// What a quorum measured: the medians, and throughput as a share of the
/// claimed capacity (what clients rank nodes by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Score {
    pub throughput_kbps: u64,
    pub rtt_ms: u64,
    pub delivered_ppm: u32,
}

/// A quorum's conclusion about one node in one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Fewer than `quorum` assigned monitors reported: nothing follows.
    NoQuorum { reports: usize },
    /// The median is at or above the delivery threshold.
    Delivered { score: Score, outliers: Vec<Party> },
    /// Under-delivery: `slash` of the stake, split as [`Slash`] says.
    UnderDelivered {
        score: Score,
        outliers: Vec<Party>,
        slash: Slash,
    },
}

/// A slash and its split: `reward` shared by `rewarded`, `burnt` destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slash {
    pub amount: Amount,
    pub reward_each: Amount,
    pub rewarded: Vec<Party>,
    pub burnt: Amount,
}

/// The verdict on `node` for `epoch` from `reports`, given whom `assign`
/// chose, the node's claimed capacity and its stake.
pub fn judge(
    rule: &AuditRule,
    epoch: u64,
    node: Party,
    assigned: &[Party],
    reports: &[Report],
    claimed_kbps: u64,
    stake: Amount,
) -> Verdict {
    let counted = counted(epoch, node, assigned, reports);
    if counted.len() < rule.quorum.max(1) {
        return Verdict::NoQuorum {
            reports: counted.len(),
        };
    }
    let throughput_kbps = median(counted.values().map(|r| r.throughput_kbps));
    let rtt_ms = median(counted.values().map(|r| u64::from(r.rtt_ms)));
    let delivered_ppm = ratio_ppm(throughput_kbps, claimed_kbps);
    let score = Score {
        throughput_kbps,
        rtt_ms,
        delivered_ppm,
    };
    let outliers = outliers(rule, &counted, throughput_kbps);
    if delivered_ppm >= rule.delivery_ppm {
        return Verdict::Delivered { score, outliers };
    }
    // Proportional: the shortfall below the threshold, scaled to the cap.
    let shortfall = u128::from(rule.delivery_ppm - delivered_ppm);
    let share = shortfall * u128::from(rule.max_underdelivery_slash_ppm)
        / u128::from(rule.delivery_ppm.max(1));
    let agreeing: Vec<Party> = counted
        .keys()
        .filter(|m| !outliers.contains(m))
        .copied()
        .collect();
    let slash = split(rule, stake, share, agreeing);
    Verdict::UnderDelivered {
        score,
        outliers,
        slash,
    }
}

/// Objective evidence (a wrong or missing challenge answer, two conflicting
/// signed statements), already verified by the caller, slashes at once.
pub fn slash_for_evidence(rule: &AuditRule, stake: Amount, reporters: Vec<Party>) -> Slash {
    split(rule, stake, u128::from(rule.evidence_slash_ppm), reporters)
}

/// A monitor's record of outlier reports: one bit per epoch it reported in,
/// newest last, over the rule's window. Sans-IO: the ledger stores it per
/// monitor and feeds it every verdict the monitor took part in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutlierRecord {
    recent: Vec<bool>,
}

/// How many outliers in how many of a monitor's latest reports slash it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorRule {
    pub window: usize,
    pub outliers: usize,
    /// The share of the monitor's stake slashed (ppm), all of it burnt.
    pub slash_ppm: u32,
}

impl Default for MonitorRule {
    fn default() -> Self {
        Self {
            window: 10,
            outliers: 4,
            slash_ppm: 100_000,
        }
    }
}

impl OutlierRecord {
    /// A record of these reports (`true`: an outlier), oldest first, as a
    /// ledger stored them.
    pub fn from_recent(recent: Vec<bool>) -> Self {
        Self { recent }
    }

    /// The reports kept, oldest first.
    pub fn recent(&self) -> &[bool] {
        &self.recent
    }

    /// Records one counted report (`outlier` or not) and returns the slash
    /// of `stake` it triggers: once `outliers` of the last `window` reports
    /// were outliers, after which the record starts afresh (one slash per
    /// offence, not one per later report).
    pub fn record(&mut self, rule: &MonitorRule, outlier: bool, stake: Amount) -> Amount {
        self.recent.push(outlier);
        // Drain, not remove one: a stored record may be longer than the window.
        let excess = self.recent.len().saturating_sub(rule.window.max(1));
        self.recent.drain(..excess);
        if self.recent.iter().filter(|o| **o).count() < rule.outliers.max(1) {
            return 0;
        }
        self.recent.clear();
        mul_ppm(stake, u128::from(rule.slash_ppm))
    }
}

/// One report per assigned monitor, for this epoch and node: the first one
/// each monitor sent (a replay or a second opinion counts nothing).
fn counted(
    epoch: u64,
    node: Party,
    assigned: &[Party],
    reports: &[Report],
) -> BTreeMap<Party, Report> {
    let assigned: BTreeSet<&Party> = assigned.iter().collect();
    let mut counted = BTreeMap::new();
    for r in reports
        .iter()
        .filter(|r| r.epoch == epoch && r.node == node && assigned.contains(&r.monitor))
    {
        counted.entry(r.monitor).or_insert(*r);
    }
    counted
}

/// The upper median: with an even count, the higher middle value, so
/// under-delivery needs a strict majority of the counted reports (half the
/// monitors cannot slash a node the other half saw deliver).
fn median(values: impl Iterator<Item = u64>) -> u64 {
    let mut v: Vec<u64> = values.collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// `⌊value·ppm/10^6⌋` for `ppm ≤ 10^6`, without overflow for any `value`.
fn mul_ppm(value: Amount, ppm: u128) -> Amount {
    let ppm = ppm.min(1_000_000);
    value / 1_000_000 * ppm + value % 1_000_000 * ppm / 1_000_000
}

fn ratio_ppm(part: u64, whole: u64) -> u32 {
    if whole == 0 {
        return 1_000_000;
    }
    (u128::from(part) * 1_000_000 / u128::from(whole)).min(1_000_000) as u32
}

fn outliers(rule: &AuditRule, counted: &BTreeMap<Party, Report>, median: u64) -> Vec<Party> {
    let band = u128::from(median) * u128::from(rule.outlier_ppm) / 1_000_000;
    counted
        .values()
        .filter(|r| u128::from(r.throughput_kbps.abs_diff(median)) > band)
        .map(|r| r.monitor)
        .collect()
}

/// `share_ppm` of `stake`, capped at the stake; the reward part split evenly
/// over `rewarded`, the remainder (and any rounding) burnt.
fn split(rule: &AuditRule, stake: Amount, share_ppm: u128, rewarded: Vec<Party>) -> Slash {
    let amount = mul_ppm(stake, share_ppm);
    let reward = mul_ppm(amount, u128::from(rule.reward_ppm));
    let reward_each = if rewarded.is_empty() {
        0
    } else {
        reward / rewarded.len() as u128
    };
    let burnt = amount - reward_each * rewarded.len() as u128;
    Slash {
        amount,
        reward_each,
        rewarded,
        burnt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn party(i: u32) -> Party {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_be_bytes());
        Party(b)
    }

    fn report(node: Party, monitor: Party, kbps: u64) -> Report {
        Report {
            epoch: 7,
            node,
            monitor,
            throughput_kbps: kbps,
            rtt_ms: 30,
            challenges_ok: 4,
            challenges_failed: 0,
        }
    }

    const CLAIMED: u64 = 100_000;
    const STAKE: Amount = 1_000_000_000;

    /// The node and its five assigned monitors for epoch 7.
    fn setup() -> (AuditRule, Party, Vec<Party>) {
        let rule = AuditRule::default();
        let nodes = [party(0)];
        let monitors: Vec<Party> = (1..=20).map(party).collect();
        let assigned = assign(&[9; 32], 7, &nodes, &monitors, rule.per_node)
            .remove(&nodes[0])
            .unwrap();
        (rule, nodes[0], assigned)
    }

    #[test]
    fn assignment_is_deterministic_distinct_and_never_self() {
        let parties: Vec<Party> = (0..30).map(party).collect();
        let a = assign(&[1; 32], 3, &parties[..10], &parties, 5);
        assert_eq!(a, assign(&[1; 32], 3, &parties[..10], &parties, 5));
        for (node, monitors) in &a {
            let distinct: BTreeSet<&Party> = monitors.iter().collect();
            assert_eq!((monitors.len(), distinct.len()), (5, 5));
            assert!(!monitors.contains(node));
        }
        assert_ne!(
            a,
            assign(&[2; 32], 3, &parties[..10], &parties, 5),
            "other randomness, other monitors"
        );
        assert_ne!(
            a,
            assign(&[1; 32], 4, &parties[..10], &parties, 5),
            "another epoch, other monitors"
        );
    }

    #[test]
    fn an_honest_quorum_clears_the_node_and_rewards_nobody() {
        let (rule, node, assigned) = setup();
        let reports: Vec<Report> = assigned.iter().map(|m| report(node, *m, 95_000)).collect();
        let v = judge(&rule, 7, node, &assigned, &reports, CLAIMED, STAKE);
        assert!(
            matches!(
                v,
                Verdict::Delivered {
                    score: Score {
                        throughput_kbps: 95_000,
                        delivered_ppm: 950_000,
                        ..
                    },
                    ..
                }
            ),
            "{v:?}"
        );
    }

    #[test]
    fn a_throttling_node_is_slashed_in_proportion_and_the_quorum_rewarded() {
        let (rule, node, assigned) = setup();
        let reports: Vec<Report> = assigned.iter().map(|m| report(node, *m, 40_000)).collect();
        let Verdict::UnderDelivered {
            score,
            slash,
            outliers,
        } = judge(&rule, 7, node, &assigned, &reports, CLAIMED, STAKE)
        else {
            panic!("under-delivery")
        };
        assert_eq!(score.delivered_ppm, 400_000);
        // (0.8 − 0.4)/0.8 of the 20% cap: 10% of the stake.
        assert_eq!(slash.amount, STAKE / 10);
        assert!(outliers.is_empty());
        assert_eq!(slash.rewarded.len(), 5);
        assert_eq!(slash.reward_each * 5 + slash.burnt, slash.amount);
        assert_eq!(slash.reward_each * 5, slash.amount / 4);
    }

    #[test]
    fn reports_from_unassigned_monitors_and_replays_count_nothing() {
        let (rule, node, assigned) = setup();
        let outsider = (1..=20).map(party).find(|p| !assigned.contains(p)).unwrap();
        // Two assigned liars, each replaying, and an outsider: no quorum.
        let mut reports = vec![report(node, outsider, 0); 3];
        for m in &assigned[..2] {
            reports.extend([report(node, *m, 0); 4]);
        }
        assert_eq!(
            judge(&rule, 7, node, &assigned, &reports, CLAIMED, STAKE),
            Verdict::NoQuorum { reports: 2 }
        );
        // A report of another epoch or node counts nothing either.
        let mut stale = report(node, assigned[2], 0);
        stale.epoch = 6;
        let mut elsewhere = report(party(99), assigned[3], 0);
        elsewhere.node = party(99);
        reports.extend([stale, elsewhere]);
        assert_eq!(
            judge(&rule, 7, node, &assigned, &reports, CLAIMED, STAKE),
            Verdict::NoQuorum { reports: 2 }
        );
    }

    #[test]
    fn half_of_an_even_quorum_cannot_slash() {
        let (rule, node, assigned) = setup();
        let reports = [
            report(node, assigned[0], 0),
            report(node, assigned[1], 0),
            report(node, assigned[2], 100_000),
            report(node, assigned[3], 100_000),
        ];
        let v = judge(&rule, 7, node, &assigned, &reports, CLAIMED, STAKE);
        assert!(matches!(v, Verdict::Delivered { .. }), "{v:?}");
        // A third report of under-delivery is a strict majority.
        let mut more = reports.to_vec();
        more.push(report(node, assigned[4], 0));
        assert!(matches!(
            judge(&rule, 7, node, &assigned, &more, CLAIMED, STAKE),
            Verdict::UnderDelivered { .. }
        ));
    }

    #[test]
    fn evidence_slashes_the_whole_stake_at_the_default_and_splits_it() {
        let rule = AuditRule::default();
        let s = slash_for_evidence(&rule, STAKE, vec![party(1)]);
        assert_eq!(
            (s.amount, s.reward_each, s.burnt),
            (STAKE, STAKE / 4, STAKE - STAKE / 4)
        );
        let nobody = slash_for_evidence(&rule, STAKE, vec![]);
        assert_eq!((nobody.reward_each, nobody.burnt), (0, STAKE));
    }

    #[test]
    fn a_monitor_is_slashed_for_repeated_outliers_once_per_offence() {
        let rule = MonitorRule::default();
        let mut record = OutlierRecord::default();
        // Three outliers among agreeing reports: nothing.
        for outlier in [true, false, true, false, false, true] {
            assert_eq!(record.record(&rule, outlier, STAKE), 0);
        }
        // The fourth within ten reports: 10% of the stake, then afresh.
        assert_eq!(record.record(&rule, true, STAKE), STAKE / 10);
        assert_eq!(record.record(&rule, true, STAKE), 0);
        // A stored record longer than the window counts only the window.
        let mut long = OutlierRecord {
            recent: vec![true; 50],
        };
        assert_eq!(
            long.record(&rule, false, STAKE),
            STAKE / 10,
            "9 of the last 10 are outliers"
        );
        let mut old = OutlierRecord {
            recent: [vec![true; 40], vec![false; 9]].concat(),
        };
        assert_eq!(
            old.record(&rule, false, STAKE),
            0,
            "the 40 outliers are out of the window"
        );
        // Outliers that fall out of the window are forgiven.
        let mut spaced = OutlierRecord::default();
        for i in 0..40 {
            assert_eq!(spaced.record(&rule, i % 4 == 0, STAKE), 0, "report {i}");
        }
    }

    proptest! {
        /// A coalition of fewer monitors than half the quorum's reports
        /// cannot slash a node the others see deliver, and is flagged.
        #[test]
        fn a_minority_of_liars_cannot_slash_an_honest_node(liars in 0usize..=2, lie in 0u64..=40_000, honest_kbps in 85_000u64..=200_000) {
            let (rule, node, assigned) = setup();
            let reports: Vec<Report> = assigned
                .iter()
                .enumerate()
                .map(|(i, m)| report(node, *m, if i < liars { lie } else { honest_kbps }))
                .collect();
            let v = judge(&rule, 7, node, &assigned, &reports, CLAIMED, STAKE);
            let Verdict::Delivered { outliers, .. } = v else { panic!("{v:?}") };
            let mut liars_seen = assigned[..liars].to_vec();
            liars_seen.sort();
            prop_assert_eq!(outliers, liars_seen);
        }

        /// A slash never exceeds the stake, its parts add up, and less
        /// delivery never slashes less.
        #[test]
        fn slashes_are_bounded_split_exactly_and_monotone(stake in any::<u128>(), a in 0u64..=100_000, b in 0u64..=100_000) {
            let (rule, node, assigned) = setup();
            let slash_at = |kbps: u64| {
                let reports: Vec<Report> = assigned.iter().map(|m| report(node, *m, kbps)).collect();
                match judge(&rule, 7, node, &assigned, &reports, CLAIMED, stake) {
                    Verdict::UnderDelivered { slash, .. } => slash,
                    _ => Slash { amount: 0, reward_each: 0, rewarded: vec![], burnt: 0 },
                }
            };
            let (low, high) = (slash_at(a.min(b)), slash_at(a.max(b)));
            for s in [&low, &high] {
                prop_assert!(s.amount <= stake);
                prop_assert_eq!(s.reward_each * s.rewarded.len() as u128 + s.burnt, s.amount);
            }
            prop_assert!(low.amount >= high.amount);
        }

        /// Every node gets its share of monitors, none more than the pool.
        #[test]
        fn assignment_covers_every_node(seed in any::<[u8; 32]>(), n in 1u32..20, m in 0u32..30, per in 0usize..8) {
            let nodes: Vec<Party> = (0..n).map(party).collect();
            let monitors: Vec<Party> = (100..100 + m).map(party).collect();
            let a = assign(&seed, 1, &nodes, &monitors, per);
            prop_assert_eq!(a.len(), nodes.len());
            prop_assert!(a.values().all(|v| v.len() == per.min(monitors.len())));
        }
    }
}
