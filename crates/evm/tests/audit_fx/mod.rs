//! The audits' test fixture: `VeilLedger` with `VeilAudits` in revm, a
//! staked node and registered monitors, with views of everything a
//! refused call could change (`audits.rs`, `challenges.rs`).

#![allow(dead_code)]

use revm::primitives::U256;
use veil_evm::abi::{Word, word_u64};
use veil_evm::audits::{self, AuditRevert, MonitorView, VerdictView};
use veil_evm::ledger::{self, Registration};
use veil_evm::sandbox::{EvmAddress, Outcome, Status};
use veil_ledger::profile::NodeProfile;
use veil_market::audit::{self as core, AuditRule, Party, Report};
use veil_primitives::eddsa::SigningKey;

use crate::chain::LedgerChain;

pub const EPOCH: u64 = 100;
pub const REVEAL: u64 = 10;
pub const MONITOR_STAKE: u64 = 500;
/// Issue 14's ceiling for a report, all in (receipt `gasUsed`).
pub const REPORT_GAS_CEILING: u64 = 100_000;

pub struct Fx {
    pub l: LedgerChain,
    pub audits: EvmAddress,
    pub monitors: Vec<EvmAddress>,
    pub operator: EvmAddress,
    pub node: Word,
}

pub fn profile(capacity_mbit_s: u32) -> Vec<u8> {
    NodeProfile {
        capacity_mbit_s,
        ..Default::default()
    }
    .encode()
    .expect("profile")
}

pub fn registration(seed: u8, stake: u64, capacity: u32) -> Registration {
    let k = SigningKey::from_seed([seed; 32])
        .expect("seed")
        .verifying_key()
        .to_bytes();
    Registration {
        node_key: [
            k[..32].try_into().expect("x"),
            k[32..].try_into().expect("y"),
        ],
        node_signature: [[0; 32]; 3],
        price_per_kib: word_u64(3),
        escrow_sizes: vec![word_u64(1_000)],
        stake: word_u64(stake),
        tls_key_hash: [0x5a; 32],
        profile: profile(capacity),
    }
}

pub fn node_id_of(r: &Registration) -> Word {
    let k = [r.node_key[0], r.node_key[1]].concat();
    veil_primitives::eddsa::VerifyingKey::from_bytes(&k.try_into().expect("64 bytes"))
        .expect("key")
        .node_id()
        .to_bytes()
}

/// A ledger with audits, a node claiming 100 Mbit/s on a stake of
/// 10,000, and `m` monitors registered at block 1 (eligible from epoch 1).
pub fn fixture(m: usize) -> Fx {
    let (mut l, audits) = LedgerChain::audited(EPOCH, REVEAL);
    let operator = l.c.account();
    l.c.mint(operator, 1_000_000);
    l.approve(operator, U256::from(1_000_000u64));
    let reg = registration(7, 10_000, 100);
    let out = l.register(operator, &reg);
    assert_eq!(
        out.status,
        Status::Success,
        "0x{}",
        hex::encode(&out.output)
    );
    let mut monitors = Vec::new();
    for _ in 0..m {
        let a = l.c.account();
        l.c.mint(a, 10_000);
        l.c.approve(a, audits, U256::from(10_000u64));
        l.c.ok(a, audits, &audits::register_monitor(MONITOR_STAKE));
        monitors.push(a);
    }
    Fx {
        l,
        audits,
        monitors,
        operator,
        node: node_id_of(&reg),
    }
}

impl Fx {
    pub fn tx(&mut self, from: EvmAddress, data: &[u8]) -> Outcome {
        let a = self.audits;
        self.l.c.tx(from, a, data)
    }

    pub fn ok(&mut self, from: EvmAddress, data: &[u8]) -> Outcome {
        let a = self.audits;
        self.l.c.ok(from, a, data)
    }

    pub fn view(&mut self, data: &[u8]) -> Vec<u8> {
        let a = self.audits;
        self.l.c.view(a, data)
    }

    pub fn at(&mut self, height: u64) {
        self.l.c.sandbox.set_block_number(height);
    }

    pub fn word(&mut self, data: &[u8]) -> Word {
        ledger::decode_word(&self.view(data)).expect("word")
    }

    pub fn seed(&mut self, epoch: u64) -> Word {
        self.word(&audits::seed_of(epoch))
    }

    /// Moves into `epoch` past its reveal window and draws its seed.
    pub fn draw(&mut self, epoch: u64, prevrandao: [u8; 32]) -> Word {
        self.at(epoch * EPOCH + REVEAL);
        self.l.c.sandbox.set_prevrandao(prevrandao);
        let anyone = self.l.c.account();
        self.ok(anyone, &audits::draw_seed(epoch));
        self.seed(epoch)
    }

    pub fn parties(&self) -> Vec<Party> {
        self.monitors
            .iter()
            .map(|m| audits::monitor_party(*m))
            .collect()
    }

    /// The monitors the Rust core assigns to the node in `epoch`.
    pub fn core_assigned(&mut self, epoch: u64, monitors: &[Party]) -> Vec<EvmAddress> {
        let seed = self.seed(epoch);
        let node = audits::node_party(self.node);
        let chosen = core::assign(
            &seed,
            epoch,
            &[node],
            monitors,
            AuditRule::default().per_node,
        )
        .remove(&node)
        .expect("the node");
        self.monitors
            .iter()
            .copied()
            .filter(|m| chosen.contains(&audits::monitor_party(*m)))
            .collect()
    }

    pub fn chain_assigned(&mut self, epoch: u64) -> Vec<EvmAddress> {
        let (node, list) = (self.node, self.monitors.clone());
        list.into_iter()
            .filter(|m| {
                let out = self.view(&audits::is_assigned(epoch, node, *m));
                veil_evm::abi::decode_bool(&out).expect("bool")
            })
            .collect()
    }

    pub fn monitor(&mut self, m: EvmAddress) -> MonitorView {
        MonitorView::decode(&self.view(&audits::monitor(m))).expect("monitor")
    }

    pub fn verdict(&mut self) -> VerdictView {
        let n = self.node;
        VerdictView::decode(&self.view(&audits::verdict(n))).expect("verdict")
    }

    pub fn node_stake(&mut self) -> u64 {
        let n = self.node;
        let out = self.l.view(&ledger::view::audited_node(n));
        let r = veil_evm::abi::Reader::new(&out);
        r.u64(1).expect("stake")
    }

    /// Everything a refused call could have changed.
    pub fn state(&mut self) -> (Vec<MonitorView>, Vec<U256>, u64, u64, u64, VerdictView) {
        let ms: Vec<EvmAddress> = self.monitors.clone();
        let views = ms.iter().map(|m| self.monitor(*m)).collect();
        let balances = ms.iter().map(|m| self.l.c.balance(*m)).collect();
        let burnt = self.l.u64_view(&ledger::view::burnt());
        let staked = self.l.u64_view(&ledger::view::staked());
        (
            views,
            balances,
            self.node_stake(),
            burnt,
            staked,
            self.verdict(),
        )
    }

    /// `data` from `from` is refused with `expected` and changes nothing.
    pub fn refused(&mut self, from: EvmAddress, data: &[u8], expected: AuditRevert) {
        let before = self.state();
        let out = self.tx(from, data);
        assert_eq!(out.status, Status::Revert, "accepted: {expected:?}");
        assert_eq!(
            AuditRevert::decode(&out.output).expect("audit error"),
            expected
        );
        assert_eq!(self.state(), before, "a refused call changed state");
    }
}

pub fn report(epoch: u64, node: Word, m: EvmAddress, kbps: u64, rtt: u32) -> Report {
    Report {
        epoch,
        node: audits::node_party(node),
        monitor: audits::monitor_party(m),
        throughput_kbps: kbps,
        rtt_ms: rtt,
        challenges_ok: 0,
        challenges_failed: 0,
    }
}
