//! The ledger's storage schema: every redb table, every key constructor and
//! every record encoding, in one place (docs/ledger.md "Storage schema").
//!
//! Keys of field-valued tables are [`FieldKey`]s, which can only be built
//! from a typed, canonical domain value: a non-canonical 32-byte string
//! (`n + r`, the other endianness) cannot reach the database (adversarial D9).
//! Records start with a version byte; an unknown version or a record of the
//! wrong length is [`LedgerError::Corrupted`], never a default.

use redb::TableDefinition;

use veil_primitives::babyjubjub::POINT_BYTES;
use veil_primitives::eddsa::{SIGNATURE_BYTES, Signature, VerifyingKey};

use crate::error::LedgerError;
use crate::exit::{AppliedStep, NodeExit};
use crate::limits::{MAX_BATCH, MAX_ESCROW_SIZES, MAX_PROFILE_BYTES};
use crate::records::{DepositRecord, NullifierUse, SettlementRecord, Totals};
use crate::types::{
    AccountAuth, AccountId, AppliedUpdate, BlockHeight, Escrow, EscrowState, NodeId, NodeRecord,
    NodeRegistration, NodeUpdate, NoteCommitment, Nullifier, OwnerKey, SessionId, SessionKeyHash,
    Value,
};

mod audit;
mod market;
pub use audit::{
    CHALLENGES, CHALLENGES_DUE, META_AUDIT_SEEDS, MONITORS, REPORTS, challenge_key,
    challenge_key_from, decode_challenge, decode_monitor, decode_report, decode_seeds,
    encode_challenge, encode_monitor, encode_report, encode_seeds,
};
pub use market::{TOKENS, TRADES, decode_curve, decode_trade, encode_curve, encode_trade};

/// Bumped on any incompatible change of a table or record below.
/// 7: ledger challenges (§8.3.14): the `challenges` and `challenges_due`
/// tables, and a node record's audit section carries its open and missed
/// challenges (and is present without a verdict); a monitor record may end
/// with its exit (§8.3.13). A version-6 node record with a verdict would
/// not parse.
/// 6: audits (§8.3.13): the turnstile counts monitors' stakes and burnt
/// value (two more `totals` fields), the `monitors` and `reports` tables and
/// the `audit_seeds` singleton. A version-5 ledger has neither.
/// 5: the market (§8.3.11): the `curve` and `epoch_escrowed` singletons
/// (the curve's genesis reserve
/// counted beside `minted`), and the `tokens` and `trades` tables. A
/// version-4 ledger has no curve, and its turnstile would not count one.
/// 4: an escrow's 32-byte refund field is the refund owner key `rk` (was
/// the refund address `addr_r`), and reclaim appends `(E, rk, H(RECLAIM,
/// sid))`: a version-3 ledger read by this build would reclaim its open
/// escrows into notes nobody can spend, so it is refused.
pub const SCHEMA_VERSION: u32 = 7;
/// Version byte of every record encoding.
const RECORD_V1: u8 = 1;

/// Singletons: schema version, height, totals, frontier, root history.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Spent nullifiers → what spent them.
pub const NULLIFIERS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("nullifiers");
/// Leaf index → commitment, append-only (duplicates are distinct leaves, D11).
pub const COMMITMENTS: TableDefinition<u64, [u8; 32]> = TableDefinition::new("commitments");
/// Deposited commitment → (account, value, leaf): makes a deposit retry idempotent.
pub const DEPOSITS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("deposits");
/// Session id → escrow record.
pub const ESCROWS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("escrows");
/// Account → balance.
pub const ACCOUNTS: TableDefinition<[u8; 32], u64> = TableDefinition::new("accounts");
/// Account → the nonce its next signed operation must carry (§8.3); absent = 0.
pub const NONCES: TableDefinition<[u8; 32], u64> = TableDefinition::new("account_nonces");
/// Node id → node record.
pub const NODES: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("nodes");
/// Batch id (first session id) → settlement record.
pub const SETTLEMENTS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("settlements");

pub const META_SCHEMA_VERSION: &str = "schema_version";
pub const META_HEIGHT: &str = "height";
pub const META_TOTALS: &str = "totals";
pub const META_FRONTIER: &str = "frontier";
pub const META_ROOTS: &str = "roots";
pub const META_CURVE: &str = "curve";
/// Value escrowed in the current market epoch (§8.3.11: the hand's demand).
pub const META_EPOCH_ESCROWED: &str = "epoch_escrowed";

/// A table key made only from a canonical, typed field value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldKey([u8; 32]);

impl FieldKey {
    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }
}

macro_rules! field_key_from {
    ($($t:ty),*) => {$(
        impl From<&$t> for FieldKey {
            fn from(v: &$t) -> Self {
                FieldKey(v.to_bytes())
            }
        }
    )*};
}
field_key_from!(Nullifier, NoteCommitment, SessionId, NodeId, AccountId);

fn corrupted(what: &'static str) -> LedgerError {
    LedgerError::Corrupted(format!("malformed {what} record"))
}

/// A cursor over a record that fails with `Corrupted` instead of panicking.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Result<Self, LedgerError> {
        match buf.split_first() {
            Some((&RECORD_V1, rest)) => Ok(Self { buf: rest, what }),
            _ => Err(corrupted(what)),
        }
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], LedgerError> {
        if self.buf.len() < N {
            return Err(corrupted(self.what));
        }
        let (head, rest) = self.buf.split_at(N);
        self.buf = rest;
        head.try_into().map_err(|_| corrupted(self.what))
    }
    fn u8(&mut self) -> Result<u8, LedgerError> {
        Ok(self.take::<1>()?[0])
    }
    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, LedgerError> {
        if self.buf.len() < n {
            return Err(corrupted(self.what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head.to_vec())
    }
    fn u32(&mut self) -> Result<u32, LedgerError> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, LedgerError> {
        Ok(u64::from_be_bytes(self.take()?))
    }
    fn u128(&mut self) -> Result<u128, LedgerError> {
        Ok(u128::from_be_bytes(self.take()?))
    }
    fn field<T>(
        &mut self,
        f: impl FnOnce(&[u8; 32]) -> Result<T, veil_primitives::EncodingError>,
    ) -> Result<T, LedgerError> {
        let b = self.take::<32>()?;
        f(&b).map_err(|_| corrupted(self.what))
    }
    fn finish(self) -> Result<(), LedgerError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(corrupted(self.what))
        }
    }
}

impl NullifierUse {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_V1];
        match self {
            NullifierUse::Escrow => out.push(1),
            NullifierUse::Withdrawal {
                recipient,
                amount,
                cm_change,
                leaf_index,
            } => {
                out.push(2);
                out.extend_from_slice(&recipient.to_bytes());
                out.extend_from_slice(&amount.0.to_be_bytes());
                out.extend_from_slice(&cm_change.to_bytes());
                out.extend_from_slice(&leaf_index.to_be_bytes());
            }
        }
        out
    }
    pub fn decode(buf: &[u8]) -> Result<Self, LedgerError> {
        let mut r = Reader::new(buf, "nullifier")?;
        let v = match r.u8()? {
            1 => NullifierUse::Escrow,
            2 => NullifierUse::Withdrawal {
                recipient: r.field(AccountId::from_bytes)?,
                amount: Value(r.u64()?),
                cm_change: r.field(NoteCommitment::from_bytes)?,
                leaf_index: r.u64()?,
            },
            _ => return Err(corrupted("nullifier")),
        };
        r.finish()?;
        Ok(v)
    }
}

impl DepositRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_V1];
        out.extend_from_slice(&self.account.to_bytes());
        out.extend_from_slice(&self.value.0.to_be_bytes());
        out.extend_from_slice(&self.leaf_index.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out
    }
    pub fn decode(buf: &[u8]) -> Result<Self, LedgerError> {
        let mut r = Reader::new(buf, "deposit")?;
        let v = DepositRecord {
            account: r.field(AccountId::from_bytes)?,
            value: Value(r.u64()?),
            leaf_index: r.u64()?,
            nonce: r.u64()?,
        };
        r.finish()?;
        Ok(v)
    }
}

/// Escrow record layout (after the version byte): session id, node id,
/// E, price, h_S, addr_r, expiry, cm_change, opened_at, state tag
/// (1 open, 2 settled + batch id + cm_refund, 3 reclaimed + leaf index).
pub fn encode_escrow(e: &Escrow) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    out.extend_from_slice(&e.session_id.to_bytes());
    out.extend_from_slice(&e.node_id.to_bytes());
    out.extend_from_slice(&e.escrow.0.to_be_bytes());
    out.extend_from_slice(&e.price_per_kib.0.to_be_bytes());
    out.extend_from_slice(&e.session_key_hash.to_bytes());
    out.extend_from_slice(&e.refund_owner.to_bytes());
    out.extend_from_slice(&e.expiry.0.to_be_bytes());
    out.extend_from_slice(&e.cm_change.to_bytes());
    out.extend_from_slice(&e.opened_at.0.to_be_bytes());
    match &e.state {
        EscrowState::Open => out.push(1),
        EscrowState::Settled { batch, cm_refund } => {
            out.push(2);
            out.extend_from_slice(&batch.to_bytes());
            out.extend_from_slice(&cm_refund.to_bytes());
        }
        EscrowState::Reclaimed { leaf_index } => {
            out.push(3);
            out.extend_from_slice(&leaf_index.to_be_bytes());
        }
    }
    out
}

pub fn decode_escrow(buf: &[u8]) -> Result<Escrow, LedgerError> {
    let mut r = Reader::new(buf, "escrow")?;
    let e = Escrow {
        session_id: r.field(SessionId::from_bytes)?,
        node_id: r.field(NodeId::from_bytes)?,
        escrow: Value(r.u64()?),
        price_per_kib: Value(r.u64()?),
        session_key_hash: r.field(SessionKeyHash::from_bytes)?,
        refund_owner: r.field(OwnerKey::from_bytes)?,
        expiry: BlockHeight(r.u64()?),
        cm_change: r.field(NoteCommitment::from_bytes)?,
        opened_at: BlockHeight(r.u64()?),
        state: match r.u8()? {
            1 => EscrowState::Open,
            2 => EscrowState::Settled {
                batch: r.field(SessionId::from_bytes)?,
                cm_refund: r.field(NoteCommitment::from_bytes)?,
            },
            3 => EscrowState::Reclaimed {
                leaf_index: r.u64()?,
            },
            _ => return Err(corrupted("escrow")),
        },
    };
    r.finish()?;
    Ok(e)
}

pub fn encode_node(n: &NodeRecord) -> Vec<u8> {
    let g = &n.registration;
    let mut out = vec![RECORD_V1];
    out.extend_from_slice(&g.node_id.to_bytes());
    out.extend_from_slice(&g.account.to_bytes());
    out.extend_from_slice(&g.price_per_kib.0.to_be_bytes());
    out.extend_from_slice(&g.stake.0.to_be_bytes());
    out.extend_from_slice(&g.tls_key_hash);
    out.extend_from_slice(&n.registered_at.0.to_be_bytes());
    write_sizes(&mut out, &g.escrow_sizes);
    out.extend_from_slice(&g.node_key.to_bytes());
    out.extend_from_slice(&g.signature.to_bytes());
    // A stored registration was authenticated, so it carries its account
    // authorisation; an absent one encodes as a zero flag (never stored).
    write_account_auth(&mut out, g.account_auth.as_ref());
    if let Some(u) = &n.update {
        encode_update(&mut out, u);
    }
    encode_profiles(&mut out, n);
    encode_exit(&mut out, n.exit.as_ref());
    audit::encode_node_audit(&mut out, &n.audit);
    out
}

/// A node's or a monitor's exit (§8.3.12, §8.3.13), as a section (`3`)
/// present only once it is retired: `retired.at, retired.nonce`, then a
/// flag and, if set, `released.at, released.nonce`. As with the profiles,
/// records without one read unchanged and an older build refuses one as
/// corrupted.
fn encode_exit(out: &mut Vec<u8>, exit: Option<&NodeExit>) {
    let Some(x) = exit else { return };
    out.push(3);
    out.extend_from_slice(&x.retired.at.0.to_be_bytes());
    out.extend_from_slice(&x.retired.nonce.to_be_bytes());
    match &x.released {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&s.at.0.to_be_bytes());
            out.extend_from_slice(&s.nonce.to_be_bytes());
        }
    }
}

/// Reads [`encode_exit`]'s section, if there is one, of a `what` record.
fn decode_exit(r: &mut Reader<'_>, what: &'static str) -> Result<Option<NodeExit>, LedgerError> {
    if r.buf.first() != Some(&3) {
        return Ok(None);
    }
    r.u8()?;
    let retired = read_step(r)?;
    let released = match r.u8()? {
        0 => None,
        1 => Some(read_step(r)?),
        _ => return Err(corrupted(what)),
    };
    Ok(Some(NodeExit { retired, released }))
}

fn read_step(r: &mut Reader<'_>) -> Result<AppliedStep, LedgerError> {
    Ok(AppliedStep {
        at: BlockHeight(r.u64()?),
        nonce: r.u64()?,
    })
}

/// The profiles of the registration and of the update (§8.3.9), as a
/// last section (`2`) present only when one is non-empty: records without
/// profiles read unchanged (no schema bump), and an older build refuses a
/// record with one as corrupted (fail closed).
fn encode_profiles(out: &mut Vec<u8>, n: &NodeRecord) {
    let update = n.update.as_ref().map_or(&[][..], |u| &u.update.profile);
    if n.registration.profile.is_empty() && update.is_empty() {
        return;
    }
    out.push(2);
    for p in [&n.registration.profile[..], update] {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
}

/// Reads [`encode_profiles`]' section into `n`, if there is one.
fn decode_profiles(r: &mut Reader<'_>, n: &mut NodeRecord) -> Result<(), LedgerError> {
    if r.buf.first() != Some(&2) {
        return Ok(()); // the end, or a later section (exit, audit)
    }
    r.u8()?;
    n.registration.profile = read_profile(r)?;
    let update = read_profile(r)?;
    match &mut n.update {
        Some(u) => u.update.profile = update,
        None if update.is_empty() => {}
        None => return Err(corrupted("node")),
    }
    Ok(())
}

fn read_profile(r: &mut Reader<'_>) -> Result<Vec<u8>, LedgerError> {
    let n = usize::from(u16::from_be_bytes(r.take::<2>()?));
    if n > MAX_PROFILE_BYTES {
        return Err(corrupted("node"));
    }
    r.bytes(n)
}

/// The latest applied update (§8.3.8), after the registration: a record
/// never updated ends before it, as records written before updates
/// existed do, so those read unchanged (no schema bump); an older build
/// refuses an updated record as corrupted (fail closed).
fn encode_update(out: &mut Vec<u8>, a: &AppliedUpdate) {
    let u = &a.update;
    out.push(1);
    out.extend_from_slice(&a.applied_at.0.to_be_bytes());
    out.extend_from_slice(&u.sequence.to_be_bytes());
    out.extend_from_slice(&u.price_per_kib.0.to_be_bytes());
    out.extend_from_slice(&u.tls_key_hash);
    write_sizes(out, &u.escrow_sizes);
    out.extend_from_slice(&u.signature.to_bytes());
    write_account_auth(out, u.account_auth.as_ref());
}

/// Escrow sizes, bounded by MAX_ESCROW_SIZES (`machine::check_terms`), so
/// the count fits a byte; read by [`read_sizes`].
fn write_sizes(out: &mut Vec<u8>, sizes: &[Value]) {
    out.push(sizes.len() as u8);
    for s in sizes {
        out.extend_from_slice(&s.0.to_be_bytes());
    }
}

/// An account authorisation behind a presence flag; read by
/// [`read_account_auth`].
fn write_account_auth(out: &mut Vec<u8>, auth: Option<&AccountAuth>) {
    match auth {
        Some(a) => {
            out.push(1);
            out.extend_from_slice(&a.key.to_bytes());
            out.extend_from_slice(&a.nonce.to_be_bytes());
            out.extend_from_slice(&a.signature.to_bytes());
        }
        None => out.push(0),
    }
}

/// Reads [`encode_update`]'s section of the record of `g`, if any.
fn decode_update(
    r: &mut Reader<'_>,
    g: &NodeRegistration,
) -> Result<Option<AppliedUpdate>, LedgerError> {
    if r.buf.first() != Some(&1) {
        return Ok(None); // no update: the end, or the profiles' section
    }
    if r.u8()? != 1 {
        return Err(corrupted("node"));
    }
    let applied_at = BlockHeight(r.u64()?);
    let sequence = r.u64()?;
    let price_per_kib = Value(r.u64()?);
    let tls_key_hash = r.take::<32>()?;
    let escrow_sizes = read_sizes(r)?;
    let signature = read_signature(r)?;
    let account_auth = read_account_auth(r)?;
    let update = NodeUpdate {
        node_id: g.node_id,
        account: g.account,
        sequence,
        price_per_kib,
        escrow_sizes,
        tls_key_hash,
        profile: Vec::new(), // in the profiles' section
        node_key: g.node_key,
        signature,
        account_auth,
    };
    Ok(Some(AppliedUpdate { update, applied_at }))
}

fn read_sizes(r: &mut Reader<'_>) -> Result<Vec<Value>, LedgerError> {
    let n = usize::from(r.u8()?);
    if n > MAX_ESCROW_SIZES {
        return Err(corrupted("node"));
    }
    (0..n).map(|_| Ok(Value(r.u64()?))).collect()
}

fn read_signature(r: &mut Reader<'_>) -> Result<Signature, LedgerError> {
    Signature::from_bytes(&r.take::<SIGNATURE_BYTES>()?).map_err(|_| corrupted("node"))
}

fn read_account_auth(r: &mut Reader<'_>) -> Result<Option<AccountAuth>, LedgerError> {
    Ok(match r.u8()? {
        0 => None,
        1 => Some(AccountAuth {
            key: VerifyingKey::from_bytes(&r.take::<POINT_BYTES>()?)
                .map_err(|_| corrupted("node"))?,
            nonce: r.u64()?,
            signature: read_signature(r)?,
        }),
        _ => return Err(corrupted("node")),
    })
}

pub fn decode_node(buf: &[u8]) -> Result<NodeRecord, LedgerError> {
    let mut r = Reader::new(buf, "node")?;
    let node_id = r.field(NodeId::from_bytes)?;
    let account = r.field(AccountId::from_bytes)?;
    let price_per_kib = Value(r.u64()?);
    let stake = Value(r.u64()?);
    let tls_key_hash = r.take::<32>()?;
    let registered_at = BlockHeight(r.u64()?);
    let escrow_sizes = read_sizes(&mut r)?;
    let node_key =
        VerifyingKey::from_bytes(&r.take::<POINT_BYTES>()?).map_err(|_| corrupted("node"))?;
    let signature = read_signature(&mut r)?;
    let account_auth = read_account_auth(&mut r)?;
    let registration = NodeRegistration {
        node_id,
        account,
        price_per_kib,
        escrow_sizes,
        stake,
        tls_key_hash,
        profile: Vec::new(), // in the profiles' section
        node_key,
        signature,
        account_auth,
    };
    let update = decode_update(&mut r, &registration)?;
    let mut record = NodeRecord::registered(registration, registered_at);
    record.update = update;
    decode_profiles(&mut r, &mut record)?;
    record.exit = decode_exit(&mut r, "node")?;
    record.audit = audit::decode_node_audit(&mut r)?;
    r.finish()?;
    Ok(record)
}

impl SettlementRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_V1];
        out.extend_from_slice(&self.node_id.to_bytes());
        out.extend_from_slice(&self.total.0.to_be_bytes());
        out.extend_from_slice(&self.first_leaf_index.to_be_bytes());
        out.extend_from_slice(&(self.session_ids.len() as u32).to_be_bytes());
        for s in &self.session_ids {
            out.extend_from_slice(&s.to_bytes());
        }
        out
    }
    pub fn decode(buf: &[u8]) -> Result<Self, LedgerError> {
        let mut r = Reader::new(buf, "settlement")?;
        let node_id = r.field(NodeId::from_bytes)?;
        let total = Value(r.u64()?);
        let first_leaf_index = r.u64()?;
        let n = r.u32()? as usize;
        if n > MAX_BATCH {
            return Err(corrupted("settlement"));
        }
        let mut session_ids = Vec::with_capacity(n);
        for _ in 0..n {
            session_ids.push(r.field(SessionId::from_bytes)?);
        }
        r.finish()?;
        Ok(Self {
            node_id,
            total,
            first_leaf_index,
            session_ids,
        })
    }
}

impl Totals {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_V1];
        for v in [
            self.minted,
            self.pool,
            self.escrowed,
            self.staked,
            self.monitor_staked,
            self.burnt,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }
    pub fn decode(buf: &[u8]) -> Result<Self, LedgerError> {
        let mut r = Reader::new(buf, "totals")?;
        let t = Totals {
            minted: r.u64()?,
            pool: r.u64()?,
            escrowed: r.u64()?,
            staked: r.u64()?,
            monitor_staked: r.u64()?,
            burnt: r.u64()?,
        };
        r.finish()?;
        Ok(t)
    }
}

pub fn encode_u64(v: u64) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    out.extend_from_slice(&v.to_be_bytes());
    out
}

pub fn decode_u64(buf: &[u8], what: &'static str) -> Result<u64, LedgerError> {
    let mut r = Reader::new(buf, what)?;
    let v = r.u64()?;
    r.finish()?;
    Ok(v)
}

pub fn encode_u32(v: u32) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    out.extend_from_slice(&v.to_be_bytes());
    out
}

pub fn decode_u32(buf: &[u8], what: &'static str) -> Result<u32, LedgerError> {
    let mut r = Reader::new(buf, what)?;
    let v = r.u32()?;
    r.finish()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_primitives::Fr;

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let e = Escrow {
            session_id: SessionId::from_fr(Fr::from(1u64)),
            node_id: NodeId::from_fr(Fr::from(2u64)),
            escrow: Value(100),
            price_per_kib: Value(3),
            session_key_hash: SessionKeyHash::from_fr(Fr::from(4u64)),
            refund_owner: OwnerKey::from_fr(Fr::from(5u64)),
            expiry: BlockHeight(9),
            cm_change: NoteCommitment::from_fr(Fr::from(6u64)),
            opened_at: BlockHeight(1),
            state: EscrowState::Settled {
                batch: SessionId::from_fr(Fr::from(1u64)),
                cm_refund: NoteCommitment::from_fr(Fr::from(7u64)),
            },
        };
        let bytes = encode_escrow(&e);
        assert_eq!(decode_escrow(&bytes), Ok(e));
        // Truncated, extended, wrong version: corrupted, never a default.
        assert!(matches!(
            decode_escrow(&bytes[..bytes.len() - 1]),
            Err(LedgerError::Corrupted(_))
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode_escrow(&long),
            Err(LedgerError::Corrupted(_))
        ));
        let mut v2 = bytes;
        v2[0] = 2;
        assert!(matches!(decode_escrow(&v2), Err(LedgerError::Corrupted(_))));
        // A non-canonical field inside a record is corruption too.
        let mut bad = encode_escrow(&Escrow {
            state: EscrowState::Open,
            ..e2()
        });
        bad[1..33].copy_from_slice(&[0xff; 32]);
        assert!(matches!(
            decode_escrow(&bad),
            Err(LedgerError::Corrupted(_))
        ));
    }

    fn e2() -> Escrow {
        let f = |v: u64| Fr::from(v);
        Escrow {
            session_id: SessionId::from_fr(f(1)),
            node_id: NodeId::from_fr(f(2)),
            escrow: Value(1),
            price_per_kib: Value(1),
            session_key_hash: SessionKeyHash::from_fr(f(3)),
            refund_owner: OwnerKey::from_fr(f(4)),
            expiry: BlockHeight(2),
            cm_change: NoteCommitment::from_fr(f(5)),
            opened_at: BlockHeight(1),
            state: EscrowState::Open,
        }
    }

    /// A node record without an update encodes as before updates existed
    /// (old databases read unchanged); with one it round-trips, and a
    /// truncated or unknown update section is corruption.
    #[test]
    fn node_records_round_trip_with_and_without_an_update() {
        use veil_primitives::eddsa::SigningKey;
        let (node, account) = (
            SigningKey::from_seed([1; 32]).expect("seed"),
            SigningKey::from_seed([2; 32]).expect("seed"),
        );
        let g = NodeRegistration::signed(
            &node,
            &account,
            0,
            Value(2),
            vec![Value(64)],
            Value(5),
            [7; 32],
        );
        let plain = NodeRecord::registered(g, BlockHeight(3));
        let bytes = encode_node(&plain);
        assert_eq!(decode_node(&bytes), Ok(plain.clone()));
        let u = NodeUpdate::signed(
            &node,
            &account,
            1,
            &plain,
            Value(3),
            vec![Value(8), Value(9)],
            [8; 32],
        );
        let updated = NodeRecord {
            update: Some(AppliedUpdate {
                update: u,
                applied_at: BlockHeight(4),
            }),
            ..plain
        };
        let with = encode_node(&updated);
        assert_eq!(&with[..bytes.len()], &bytes[..], "the update is a suffix");
        assert_eq!(decode_node(&with), Ok(updated));
        for bad in [with[..with.len() - 1].to_vec(), {
            let mut b = with.clone();
            b[bytes.len()] = 9;
            b
        }] {
            assert!(matches!(decode_node(&bad), Err(LedgerError::Corrupted(_))));
        }
    }

    /// A node's exit (§8.3.12) is a section after the profiles, present
    /// once the node is retired; a bad flag or a truncation is corruption.
    #[test]
    fn a_node_exit_is_a_last_section() {
        use crate::exit::{AppliedStep, NodeExit};
        use crate::types::NodeTerms;
        use veil_primitives::eddsa::SigningKey;
        let (node, account) = (
            SigningKey::from_seed([1; 32]).expect("seed"),
            SigningKey::from_seed([2; 32]).expect("seed"),
        );
        let step = |at, nonce| AppliedStep {
            at: BlockHeight(at),
            nonce,
        };
        for profile in [vec![], vec![5, 6]] {
            let terms = NodeTerms {
                profile,
                ..NodeTerms::new(Value(2), vec![Value(64)], [7; 32])
            };
            let g = NodeRegistration::sign(&node, &account, 0, Value(5), terms);
            let active = NodeRecord::registered(g, BlockHeight(3));
            let bytes = encode_node(&active);
            let mut retired = active.clone();
            retired.exit = Some(NodeExit {
                retired: step(40, 1),
                released: None,
            });
            let with = encode_node(&retired);
            assert_eq!(&with[..bytes.len()], &bytes[..], "the exit is a suffix");
            assert_eq!(decode_node(&with), Ok(retired.clone()));
            let mut released = retired.clone();
            released.exit = Some(NodeExit {
                retired: step(40, 1),
                released: Some(step(10_300, 2)),
            });
            let done = encode_node(&released);
            assert_eq!(decode_node(&done), Ok(released));
            let bad_flag = {
                let mut b = with.clone();
                *b.last_mut().expect("flag") = 2;
                b
            };
            for bad in [bad_flag, done[..done.len() - 1].to_vec(), {
                let mut b = with.clone();
                b.push(0);
                b
            }] {
                assert!(matches!(decode_node(&bad), Err(LedgerError::Corrupted(_))));
            }
        }
    }

    /// Profiles (§8.3.9) are a last section, present only when one is
    /// non-empty; an update's profile without an update, a length beyond
    /// the bound, or a truncated section is corruption.
    #[test]
    fn node_profiles_are_a_last_section() {
        use crate::types::NodeTerms;
        use veil_primitives::eddsa::SigningKey;
        let (node, account) = (
            SigningKey::from_seed([1; 32]).expect("seed"),
            SigningKey::from_seed([2; 32]).expect("seed"),
        );
        let terms = |profile: Vec<u8>| NodeTerms {
            profile,
            ..NodeTerms::new(Value(2), vec![Value(64)], [7; 32])
        };
        let g = NodeRegistration::sign(&node, &account, 0, Value(5), terms(vec![1, 2, 3]));
        let plain = NodeRecord::registered(g, BlockHeight(3));
        let bytes = encode_node(&plain);
        assert_eq!(decode_node(&bytes), Ok(plain.clone()));
        assert_eq!(&bytes[bytes.len() - 8..], &[2, 0, 3, 1, 2, 3, 0, 0]);
        let u = NodeUpdate::sign(&node, &account, 1, &plain, terms(vec![4; 1024]));
        let updated = NodeRecord {
            update: Some(AppliedUpdate {
                update: u,
                applied_at: BlockHeight(4),
            }),
            ..plain
        };
        let with = encode_node(&updated);
        assert_eq!(decode_node(&with), Ok(updated));
        let orphan = {
            // The update's profile length set on a record with no update.
            let mut b = bytes.clone();
            let n = b.len();
            b[n - 1] = 1;
            b.push(9);
            b
        };
        let too_long = {
            let mut b = bytes[..bytes.len() - 8].to_vec();
            b.extend_from_slice(&[2, 0x04, 0x01]);
            b.extend_from_slice(&[0; 1025]);
            b.extend_from_slice(&[0, 0]);
            b
        };
        for bad in [orphan, too_long, with[..with.len() - 1].to_vec()] {
            assert!(matches!(decode_node(&bad), Err(LedgerError::Corrupted(_))));
        }
    }

    /// Every combination of the optional sections (update, profiles,
    /// exit, audit) round-trips — a node with no profile that was only
    /// challenged or slashed was once read back as corrupted — and an
    /// unknown section tag is corruption.
    #[test]
    fn every_combination_of_node_sections_round_trips() {
        use crate::exit::{AppliedStep, NodeExit};
        use crate::types::{AuditOutcome, NodeAudit, NodeTerms};
        use veil_primitives::eddsa::SigningKey;
        let (node, account) = (
            SigningKey::from_seed([1; 32]).expect("seed"),
            SigningKey::from_seed([2; 32]).expect("seed"),
        );
        let terms = |profile: Vec<u8>| NodeTerms {
            profile,
            ..NodeTerms::new(Value(2), vec![Value(64)], [7; 32])
        };
        let exit = NodeExit {
            retired: AppliedStep {
                at: BlockHeight(40),
                nonce: 1,
            },
            released: None,
        };
        let audits = [
            NodeAudit::default(),
            NodeAudit {
                open_challenges: 1,
                ..Default::default()
            },
            NodeAudit {
                slashed: Value(5),
                missed_challenges: 1,
                last: Some(AuditOutcome {
                    epoch: 3,
                    reports: 4,
                    throughput_kbps: 9,
                    rtt_ms: 2,
                    delivered_ppm: 10,
                    slashed: Value(1),
                }),
                ..Default::default()
            },
        ];
        for profile in [vec![], vec![5, 6]] {
            let g = NodeRegistration::sign(&node, &account, 0, Value(5), terms(profile.clone()));
            let plain = NodeRecord::registered(g, BlockHeight(3));
            let update = NodeUpdate::sign(&node, &account, 1, &plain, terms(profile));
            for updated in [false, true] {
                for retired in [false, true] {
                    for audit in audits {
                        let mut n = plain.clone();
                        n.update = updated.then(|| AppliedUpdate {
                            update: update.clone(),
                            applied_at: BlockHeight(4),
                        });
                        n.exit = retired.then_some(exit);
                        n.audit = audit;
                        let bytes = encode_node(&n);
                        assert_eq!(decode_node(&bytes), Ok(n), "{updated} {retired}");
                        let mut unknown = bytes.clone();
                        unknown.push(9);
                        assert!(matches!(
                            decode_node(&unknown),
                            Err(LedgerError::Corrupted(_))
                        ));
                    }
                }
            }
        }
    }

    #[test]
    fn field_keys_come_only_from_canonical_values() {
        // D9: n + r (and the little-endian encoding of a value) is not a Nullifier,
        // so it cannot become a FieldKey: the only constructor takes &Nullifier.
        let r_plus_5 = {
            let mut b = [0u8; 32];
            b.copy_from_slice(&ark_ff::BigInteger::to_bytes_be(
                &<Fr as ark_ff::PrimeField>::MODULUS,
            ));
            b[31] += 5;
            b
        };
        assert!(Nullifier::from_bytes(&r_plus_5).is_err());
    }
}
