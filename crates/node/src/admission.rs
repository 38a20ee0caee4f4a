//! Who may hold a connection slot, and which addresses are refused
//! (`docs/protocol.md` §9.7; adversarial C4, C6). Sans-IO: the caller
//! passes every event with its time and carries out the decisions
//! (`crate::server` is the I/O shell).
//!
//! * [`Connections`]: a global cap, a per-address cap, eviction of the
//!   oldest unpaid connection of the largest holder when the node is full,
//!   and an idle limit for connections that carry no paid Relay.
//! * [`Bans`]: per-address failure counts that leak away, bans that expire,
//!   and a bounded table.
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The unit every per-address rule counts: an IPv4 address, or the /64
/// prefix of an IPv6 address (one IPv6 subscriber gets a whole /64, so
/// counting single IPv6 addresses would be no limit at all). IPv4-mapped
/// IPv6 addresses count as their IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    /// The key of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

/// Identifies one accepted connection; ids grow with acceptance order, so
/// a smaller id is an older connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

/// The connection rules (from [`crate::config::Limits`]).
#[derive(Clone, Copy, Debug)]
pub struct ConnPolicy {
    /// Connections held at once, all addresses together (≥ 1).
    pub max_connections: usize,
    /// Connections held at once by one [`AddressKey`] (≥ 1).
    pub max_per_address: usize,
    /// A connection with no paid Relay for this long is closed.
    pub unpaid_idle: Duration,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its address already holds `max_per_address` connections.
    AddressFull,
    /// The node is full and no connection may give way to it.
    NodeFull,
}

/// The decision on an accepted TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Serve it under this id.
    Admitted(ConnId),
    /// Serve it under `id` and close `evicted` (already forgotten here).
    AdmittedEvicting { id: ConnId, evicted: ConnId },
    /// Close it at once.
    Refused(Refusal),
}

#[derive(Clone, Debug)]
struct Conn {
    peer: SocketAddr,
    key: AddressKey,
    /// Relays on this connection that have opened a paid stream.
    paid_relays: u32,
    /// When `paid_relays` last became 0 (or the accept time).
    unpaid_since: Instant,
}

/// The connection table: every decision about connection slots.
#[derive(Debug)]
pub struct Connections {
    policy: ConnPolicy,
    next: u64,
    conns: BTreeMap<ConnId, Conn>,
    by_peer: HashMap<SocketAddr, ConnId>,
    per_key: HashMap<AddressKey, usize>,
}

impl Connections {
    /// An empty table.
    pub fn new(policy: ConnPolicy) -> Self {
        Self {
            policy: ConnPolicy {
                max_connections: policy.max_connections.max(1),
                max_per_address: policy.max_per_address.max(1),
                unpaid_idle: policy.unpaid_idle,
            },
            next: 0,
            conns: BTreeMap::new(),
            by_peer: HashMap::new(),
            per_key: HashMap::new(),
        }
    }

    /// Connections held.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Connections held by `key`.
    pub fn held_by(&self, key: AddressKey) -> usize {
        self.per_key.get(&key).copied().unwrap_or(0)
    }

    /// A TCP connection from `peer` was accepted at `now`.
    ///
    /// Refused if its address holds `max_per_address`. When the node is
    /// full it is admitted in place of the oldest unpaid connection of the
    /// address holding the most connections among its own address and
    /// those holding more than its address; refused if none has an unpaid
    /// connection. So a connection only gives way to an address that holds
    /// fewer connections (or to its own address), and paid ones never do.
    pub fn accept(&mut self, peer: SocketAddr, now: Instant) -> Admission {
        let key = AddressKey::of(peer.ip());
        let mine = self.held_by(key);
        if mine >= self.policy.max_per_address {
            return Admission::Refused(Refusal::AddressFull);
        }
        let evicted = if self.conns.len() >= self.policy.max_connections {
            match self.victim_for(key, mine) {
                Some(v) => {
                    self.remove(v);
                    Some(v)
                }
                None => return Admission::Refused(Refusal::NodeFull),
            }
        } else {
            None
        };
        let id = ConnId(self.next);
        self.next += 1;
        self.conns.insert(
            id,
            Conn {
                peer,
                key,
                paid_relays: 0,
                unpaid_since: now,
            },
        );
        self.by_peer.insert(peer, id);
        *self.per_key.entry(key).or_insert(0) += 1;
        match evicted {
            Some(evicted) => Admission::AdmittedEvicting { id, evicted },
            None => Admission::Admitted(id),
        }
    }

    /// The oldest unpaid connection of the largest holder that may give way
    /// to a newcomer from `key` (which holds `mine`).
    fn victim_for(&self, key: AddressKey, mine: usize) -> Option<ConnId> {
        let mut best: Option<(usize, ConnId)> = None;
        for (id, c) in &self.conns {
            if c.paid_relays > 0 {
                continue;
            }
            let held = self.held_by(c.key);
            if c.key != key && held <= mine {
                continue;
            }
            // Ascending ids: the first seen of a holder is its oldest.
            if best.is_none_or(|(h, _)| held > h) {
                best = Some((held, *id));
            }
        }
        best.map(|(_, id)| id)
    }

    fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let c = self.conns.remove(&id)?;
        if self.by_peer.get(&c.peer) == Some(&id) {
            self.by_peer.remove(&c.peer);
        }
        if let Some(n) = self.per_key.get_mut(&c.key) {
            *n -= 1;
            if *n == 0 {
                self.per_key.remove(&c.key);
            }
        }
        Some(c)
    }

    /// The connection closed (a no-op for one already evicted or expired).
    pub fn closed(&mut self, id: ConnId) {
        self.remove(id);
    }

    /// A Relay on the connection from `peer` opened a paid stream (§9.4:
    /// bound with a valid `RELAY_BIND`, or paid by a voucher). Returns the
    /// connection to pass to [`Self::paid_relay_ended`].
    pub fn relay_paid(&mut self, peer: SocketAddr) -> Option<ConnId> {
        let id = *self.by_peer.get(&peer)?;
        let c = self.conns.get_mut(&id)?;
        c.paid_relays = c.paid_relays.saturating_add(1);
        Some(id)
    }

    /// A Relay counted by [`Self::relay_paid`] ended at `now`.
    pub fn paid_relay_ended(&mut self, id: ConnId, now: Instant) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.paid_relays = c.paid_relays.saturating_sub(1);
            if c.paid_relays == 0 {
                c.unpaid_since = now;
            }
        }
    }

    /// Removes and returns every connection that has carried no paid Relay
    /// for `unpaid_idle` at `now`; the caller closes them.
    pub fn expire_idle(&mut self, now: Instant) -> Vec<ConnId> {
        let idle: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.paid_relays == 0
                    && now.saturating_duration_since(c.unpaid_since) >= self.policy.unpaid_idle
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &idle {
            self.remove(*id);
        }
        idle
    }
}

/// The ban rules (from [`crate::config::Limits`]).
#[derive(Clone, Copy, Debug)]
pub struct BanPolicy {
    /// Failures (counted with leak) that ban an address (≥ 1).
    pub after_failures: u32,
    /// How long a ban lasts; failures leak at `after_failures` per this
    /// duration, so an address failing more slowly is never banned.
    pub ban_for: Duration,
    /// Addresses remembered at once (≥ 1).
    pub max_entries: usize,
}

#[derive(Clone, Copy, Debug)]
struct BanEntry {
    /// Failures as of `last`.
    failures: u32,
    last: Instant,
    banned_until: Option<Instant>,
}

/// Per-address failure counts and bans (C4).
#[derive(Debug)]
pub struct Bans {
    policy: BanPolicy,
    entries: HashMap<AddressKey, BanEntry>,
}

impl Bans {
    /// An empty table.
    pub fn new(policy: BanPolicy) -> Self {
        Self {
            policy: BanPolicy {
                after_failures: policy.after_failures.max(1),
                ban_for: policy.ban_for,
                max_entries: policy.max_entries.max(1),
            },
            entries: HashMap::new(),
        }
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Time for one failure to leak away.
    fn leak(&self) -> Duration {
        (self.policy.ban_for / self.policy.after_failures).max(Duration::from_millis(1))
    }

    fn failures_at(&self, e: &BanEntry, now: Instant) -> u32 {
        let leaked = now.saturating_duration_since(e.last).as_nanos() / self.leak().as_nanos();
        e.failures
            .saturating_sub(u32::try_from(leaked).unwrap_or(u32::MAX))
    }

    fn is_banned_entry(e: &BanEntry, now: Instant) -> bool {
        e.banned_until.is_some_and(|t| now < t)
    }

    /// Whether `key` is banned at `now`.
    pub fn is_banned(&self, key: AddressKey, now: Instant) -> bool {
        self.entries
            .get(&key)
            .is_some_and(|e| Self::is_banned_entry(e, now))
    }

    /// Banned addresses at `now`.
    pub fn banned(&self, now: Instant) -> usize {
        self.entries
            .values()
            .filter(|e| Self::is_banned_entry(e, now))
            .count()
    }

    /// Records a failure of `key` at `now`; returns whether it is now banned.
    pub fn record_failure(&mut self, key: AddressKey, now: Instant) -> bool {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.policy.max_entries {
            self.make_room(now);
        }
        let current = self
            .entries
            .get(&key)
            .filter(|e| !e.banned_until.is_some_and(|t| t <= now))
            .map_or(0, |e| self.failures_at(e, now));
        let banned_until = self.entries.get(&key).and_then(|e| e.banned_until);
        let failures = current.saturating_add(1);
        let entry = if failures >= self.policy.after_failures {
            BanEntry {
                failures: 0,
                last: now,
                banned_until: Some(now + self.policy.ban_for),
            }
        } else {
            BanEntry {
                failures,
                last: now,
                banned_until: banned_until.filter(|t| now < *t),
            }
        };
        self.entries.insert(key, entry);
        Self::is_banned_entry(&entry, now)
    }

    /// Frees one entry: whatever has fully expired, else the unbanned entry
    /// failed longest ago, else the ban ending first.
    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, e| {
            e.banned_until.is_some_and(|t| now < t)
                || now.saturating_duration_since(e.last) < self.policy.ban_for
        });
        if self.entries.len() < self.policy.max_entries {
            return;
        }
        let victim = self
            .entries
            .iter()
            .min_by_key(|(_, e)| match e.banned_until.filter(|t| now < *t) {
                None => (0, e.last),
                Some(t) => (1, t),
            })
            .map(|(k, _)| *k);
        if let Some(k) = victim {
            self.entries.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peer(a: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, a], port))
    }

    fn conns(max: usize, per: usize) -> Connections {
        Connections::new(ConnPolicy {
            max_connections: max,
            max_per_address: per,
            unpaid_idle: Duration::from_secs(30),
        })
    }

    fn id(a: Admission) -> ConnId {
        match a {
            Admission::Admitted(id) | Admission::AdmittedEvicting { id, .. } => id,
            Admission::Refused(r) => panic!("refused: {r:?}"),
        }
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddressKey::of(a), AddressKey::of(b));
        assert_ne!(AddressKey::of(a), AddressKey::of(c));
        let m: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            AddressKey::of(m),
            AddressKey::of("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn per_address_cap_refuses_the_extra_connection_only() {
        let now = Instant::now();
        let mut t = conns(100, 2);
        id(t.accept(peer(2, 1), now));
        id(t.accept(peer(2, 2), now));
        assert_eq!(
            t.accept(peer(2, 3), now),
            Admission::Refused(Refusal::AddressFull)
        );
        assert_eq!(t.held_by(AddressKey::of(peer(2, 0).ip())), 2);
        // Another address is unaffected.
        id(t.accept(peer(3, 1), now));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn full_node_evicts_oldest_unpaid_of_largest_holder() {
        let now = Instant::now();
        let mut t = conns(4, 10);
        let a0 = id(t.accept(peer(2, 1), now));
        let a1 = id(t.accept(peer(2, 2), now));
        let a2 = id(t.accept(peer(2, 3), now));
        let b0 = id(t.accept(peer(3, 1), now));
        // The attacker's oldest connection is paid: the next oldest goes.
        assert_eq!(t.relay_paid(peer(2, 1)), Some(a0));
        let h = t.accept(peer(4, 1), now);
        assert_eq!(
            h,
            Admission::AdmittedEvicting {
                id: id(h),
                evicted: a1
            }
        );
        assert_eq!(t.len(), 4);
        // The attacker itself only displaces its own connections.
        let a3 = t.accept(peer(2, 4), now);
        assert_eq!(
            a3,
            Admission::AdmittedEvicting {
                id: id(a3),
                evicted: a2
            }
        );
        // Address 3 (1 connection) cannot push out address 4 (1 connection)
        // nor the larger paid holder; it evicts the attacker's unpaid one.
        let b1 = t.accept(peer(3, 2), now);
        assert_eq!(
            b1,
            Admission::AdmittedEvicting {
                id: id(b1),
                evicted: id(a3)
            }
        );
        let _ = b0;
    }

    #[test]
    fn full_node_of_paid_connections_refuses() {
        let now = Instant::now();
        let mut t = conns(2, 10);
        id(t.accept(peer(2, 1), now));
        id(t.accept(peer(2, 2), now));
        t.relay_paid(peer(2, 1));
        t.relay_paid(peer(2, 2));
        assert_eq!(
            t.accept(peer(3, 1), now),
            Admission::Refused(Refusal::NodeFull)
        );
    }

    #[test]
    fn smaller_holder_is_not_evicted_for_a_larger_one() {
        let now = Instant::now();
        let mut t = conns(3, 10);
        let h = id(t.accept(peer(9, 1), now));
        id(t.accept(peer(2, 1), now));
        t.relay_paid(peer(2, 1));
        id(t.accept(peer(2, 2), now));
        t.relay_paid(peer(2, 2));
        // Address 2 holds 2 (paid), address 9 holds 1 unpaid: a third from
        // address 2 may not take address 9's slot.
        assert_eq!(
            t.accept(peer(2, 3), now),
            Admission::Refused(Refusal::NodeFull)
        );
        assert!(t.conns.contains_key(&h));
    }

    #[test]
    fn unpaid_connections_expire_paid_ones_do_not() {
        let t0 = Instant::now();
        let mut t = conns(10, 10);
        let a = id(t.accept(peer(2, 1), t0));
        let b = id(t.accept(peer(2, 2), t0));
        t.relay_paid(peer(2, 2));
        assert!(t.expire_idle(t0 + Duration::from_secs(29)).is_empty());
        assert_eq!(t.expire_idle(t0 + Duration::from_secs(30)), vec![a]);
        assert!(t.expire_idle(t0 + Duration::from_secs(300)).is_empty());
        // Once its paid Relay ends, the idle clock starts again.
        let end = t0 + Duration::from_secs(300);
        t.paid_relay_ended(b, end);
        assert!(t.expire_idle(end + Duration::from_secs(29)).is_empty());
        assert_eq!(t.expire_idle(end + Duration::from_secs(30)), vec![b]);
        assert!(t.is_empty());
    }

    #[test]
    fn closing_an_evicted_connection_twice_changes_nothing() {
        let now = Instant::now();
        let mut t = conns(1, 10);
        let a = id(t.accept(peer(2, 1), now));
        let b = t.accept(peer(3, 1), now);
        assert_eq!(
            b,
            Admission::AdmittedEvicting {
                id: id(b),
                evicted: a
            }
        );
        t.closed(a);
        assert_eq!(t.len(), 1);
        assert_eq!(t.held_by(AddressKey::of(peer(3, 0).ip())), 1);
    }

    fn bans(after: u32, max: usize) -> Bans {
        Bans::new(BanPolicy {
            after_failures: after,
            ban_for: Duration::from_secs(600),
            max_entries: max,
        })
    }

    fn key(a: u8) -> AddressKey {
        AddressKey::of(peer(a, 0).ip())
    }

    #[test]
    fn ban_after_n_failures_then_expires() {
        let t0 = Instant::now();
        let mut b = bans(3, 10);
        assert!(!b.record_failure(key(2), t0));
        assert!(!b.record_failure(key(2), t0));
        assert!(b.record_failure(key(2), t0));
        assert!(b.is_banned(key(2), t0 + Duration::from_secs(599)));
        assert!(!b.is_banned(key(3), t0));
        let later = t0 + Duration::from_secs(600);
        assert!(!b.is_banned(key(2), later));
        assert_eq!(b.banned(later), 0);
        // After the ban the count starts from zero.
        assert!(!b.record_failure(key(2), later));
    }

    #[test]
    fn slow_failures_leak_away_and_never_ban() {
        let t0 = Instant::now();
        let mut b = bans(3, 10);
        // One failure per leak period (200 s) forever: never banned.
        for i in 0..100u64 {
            assert!(!b.record_failure(key(2), t0 + Duration::from_secs(200 * i)));
        }
        // Three in one leak period: banned.
        let t = t0 + Duration::from_secs(200 * 100);
        assert!(!b.record_failure(key(2), t));
        assert!(!b.record_failure(key(2), t));
        assert!(b.record_failure(key(2), t));
    }

    #[test]
    fn full_table_forgets_unbanned_before_banned() {
        let t0 = Instant::now();
        let mut b = bans(2, 2);
        b.record_failure(key(2), t0);
        assert!(b.record_failure(key(2), t0));
        b.record_failure(key(3), t0 + Duration::from_secs(1));
        b.record_failure(key(4), t0 + Duration::from_secs(2));
        assert_eq!(b.len(), 2);
        assert!(b.is_banned(key(2), t0 + Duration::from_secs(2)));
        // A table full of bans drops the one ending first.
        assert!(b.record_failure(key(4), t0 + Duration::from_secs(3)));
        assert!(!b.record_failure(key(5), t0 + Duration::from_secs(4)));
        assert_eq!(b.len(), 2);
        assert!(!b.is_banned(key(2), t0 + Duration::from_secs(4)));
        assert!(b.is_banned(key(4), t0 + Duration::from_secs(4)));
    }

    #[derive(Clone, Debug)]
    enum Ev {
        Accept(u8, u16),
        Close(usize),
        Paid(usize),
        Unpaid(usize),
        Tick(u16),
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            4 => (0u8..6, any::<u16>()).prop_map(|(a, p)| Ev::Accept(a, p)),
            1 => any::<usize>().prop_map(Ev::Close),
            1 => any::<usize>().prop_map(Ev::Paid),
            1 => any::<usize>().prop_map(Ev::Unpaid),
            1 => (0u16..5000).prop_map(Ev::Tick),
        ]
    }

    proptest! {
        /// Whatever happens: never more than the caps, counts agree with the
        /// table, and a paid connection is never evicted.
        #[test]
        fn caps_hold_under_any_events(events in proptest::collection::vec(ev(), 1..300)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut t = Connections::new(ConnPolicy {
                max_connections: 8,
                max_per_address: 3,
                unpaid_idle: Duration::from_secs(2),
            });
            let mut live: Vec<(ConnId, SocketAddr)> = Vec::new();
            let mut paid: Vec<ConnId> = Vec::new();
            for e in events {
                match e {
                    Ev::Accept(a, p) => match t.accept(peer(a + 2, p), now) {
                        Admission::Admitted(id) => live.push((id, peer(a + 2, p))),
                        Admission::AdmittedEvicting { id, evicted } => {
                            prop_assert!(!paid.contains(&evicted));
                            live.retain(|(l, _)| *l != evicted);
                            live.push((id, peer(a + 2, p)));
                        }
                        Admission::Refused(_) => {}
                    },
                    Ev::Close(i) if !live.is_empty() => {
                        let (id, _) = live.remove(i % live.len());
                        paid.retain(|p| *p != id);
                        t.closed(id);
                    }
                    Ev::Paid(i) if !live.is_empty() => {
                        let (id, p) = live[i % live.len()];
                        if t.by_peer.get(&p) == Some(&id) {
                            prop_assert_eq!(t.relay_paid(p), Some(id));
                            paid.push(id);
                        }
                    }
                    Ev::Unpaid(i) if !paid.is_empty() => {
                        let id = paid.remove(i % paid.len());
                        t.paid_relay_ended(id, now);
                    }
                    Ev::Tick(ms) => {
                        now += Duration::from_millis(u64::from(ms));
                        for id in t.expire_idle(now) {
                            prop_assert!(!paid.contains(&id));
                            live.retain(|(l, _)| *l != id);
                        }
                    }
                    _ => {}
                }
                prop_assert!(t.len() <= 8);
                prop_assert_eq!(t.len(), t.per_key.values().sum::<usize>());
                prop_assert!(t.per_key.values().all(|n| *n <= 3 && *n > 0));
                let mut ids: Vec<ConnId> = live.iter().map(|(i, _)| *i).collect();
                ids.sort();
                prop_assert_eq!(ids, t.conns.keys().copied().collect::<Vec<_>>());
            }
        }

        /// The ban table never exceeds its bound, and every ban ends.
        #[test]
        fn ban_table_bounded_and_bans_end(
            fails in proptest::collection::vec((0u8..40, 0u64..100_000), 1..400)
        ) {
            let t0 = Instant::now();
            let mut b = Bans::new(BanPolicy {
                after_failures: 3,
                ban_for: Duration::from_secs(60),
                max_entries: 8,
            });
            let mut now = t0;
            for (a, dt) in fails {
                now += Duration::from_millis(dt);
                b.record_failure(key(a), now);
                prop_assert!(b.len() <= 8);
            }
            prop_assert_eq!(b.banned(now + Duration::from_secs(60)), 0);
        }
    }
}
