//! What a voucher issuance or spend is bound to, and what the paying
//! session key signs: the one definition the client and the node share
//! (`docs/protocol.md` §9, `docs/vouchers.md` §7).
//!
//! The node id, key id and epoch are bound by the issuance and spend
//! transcripts themselves; these contexts add what only the node service
//! knows (the paying session, the challenge nonce and the target).

use sha2::{Digest, Sha256};
use veil_primitives::Fr;
use veil_primitives::field::fr_from_bytes;

/// Length of a node's single-use spend challenge nonce.
pub const NONCE_BYTES: usize = 32;

/// A fresh, single-use challenge nonce issued by the node (§9).
pub type VoucherNonce = [u8; NONCE_BYTES];

/// The context a purchase's issuance is bound to:
/// `"veil.voucher.purchase.v1" ‖ session_id (32)` (§9).
pub fn purchase_context(session_id: &[u8; 32]) -> Vec<u8> {
    let mut out = b"veil.voucher.purchase.v1".to_vec();
    out.extend_from_slice(session_id);
    out
}

/// The message the session key signs to authorise a purchase: the first
/// 31 bytes of `SHA-256("veil.voucher.purchase-auth.v1" ‖ session_id ‖
/// issuance request)`, as a big-endian field element (< 2^248, so
/// canonical) (§9). Without it anyone who saw the session id on the ledger
/// could race the client and take the voucher.
pub fn purchase_message(session_id: &[u8; 32], issuance_request: &[u8]) -> Fr {
    let digest = Sha256::new()
        .chain_update(b"veil.voucher.purchase-auth.v1")
        .chain_update(session_id)
        .chain_update(issuance_request)
        .finalize();
    let mut bytes = [0u8; 32];
    bytes[1..].copy_from_slice(&digest[..31]);
    // 31 bytes below a leading zero byte are always < r: this cannot fail.
    fr_from_bytes(&bytes).unwrap_or_default()
}

/// The context a voucher-paid stream's spend is bound to:
/// `"veil.voucher.open.v1" ‖ nonce (32) ‖ len(host) (4, BE) ‖ host ‖ port (2, BE)`
/// (`docs/vouchers.md` §7).
pub fn spend_context(nonce: &VoucherNonce, host: &str, port: u16) -> Vec<u8> {
    let mut out = b"veil.voucher.open.v1".to_vec();
    out.extend_from_slice(nonce);
    out.extend_from_slice(&u32::try_from(host.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(&port.to_be_bytes());
    out
}

/// The context an exchange of a previous-epoch credential is bound to:
/// `"veil.voucher.exchange.v1" ‖ nonce (32)` (`docs/vouchers.md` §3, §7).
pub fn exchange_context(nonce: &VoucherNonce) -> Vec<u8> {
    let mut out = b"veil.voucher.exchange.v1".to_vec();
    out.extend_from_slice(nonce);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_primitives::field::fr_to_bytes;

    #[test]
    fn encodings_are_pinned() {
        let ctx = purchase_context(&[7; 32]);
        assert_eq!(&ctx[..24], b"veil.voucher.purchase.v1");
        assert_eq!(&ctx[24..], &[7; 32]);
        let spend = spend_context(&[3; 32], "ab", 0x0102);
        let mut want = b"veil.voucher.open.v1".to_vec();
        want.extend_from_slice(&[3; 32]);
        want.extend_from_slice(&[0, 0, 0, 2, b'a', b'b', 1, 2]);
        assert_eq!(spend, want);
        let exchange = exchange_context(&[3; 32]);
        assert_eq!(&exchange[..24], b"veil.voucher.exchange.v1");
        assert_eq!(&exchange[24..], &[3; 32]);
        assert_ne!(exchange, spend_context(&[3; 32], "", 0));
        // The purchase message is the SHA-256 prefix under a zero top byte.
        let m = fr_to_bytes(&purchase_message(&[1; 32], b"request"));
        let d = Sha256::new()
            .chain_update(b"veil.voucher.purchase-auth.v1")
            .chain_update([1u8; 32])
            .chain_update(b"request")
            .finalize();
        assert_eq!(m[0], 0);
        assert_eq!(&m[1..], &d[..31]);
    }

    #[test]
    fn purchase_message_binds_session_and_request() {
        let a = purchase_message(&[1; 32], b"request");
        assert_ne!(a, purchase_message(&[2; 32], b"request"));
        assert_ne!(a, purchase_message(&[1; 32], b"requesT"));
        assert_eq!(a, purchase_message(&[1; 32], b"request"));
    }

    #[test]
    fn spend_context_is_injective_on_nonce_host_and_port() {
        let n = [3u8; NONCE_BYTES];
        assert_ne!(spend_context(&n, "ab", 1), spend_context(&n, "a", 1));
        assert_ne!(spend_context(&n, "a", 1), spend_context(&n, "a", 2));
        assert_ne!(
            spend_context(&n, "a", 1),
            spend_context(&[4; NONCE_BYTES], "a", 1)
        );
    }

    proptest::proptest! {
        /// Distinct (host, port) targets give distinct spend contexts.
        #[test]
        fn spend_context_injective(
            h1 in "[a-z0-9.]{0,12}", p1 in proptest::num::u16::ANY,
            h2 in "[a-z0-9.]{0,12}", p2 in proptest::num::u16::ANY,
        ) {
            let n = [5u8; NONCE_BYTES];
            proptest::prop_assert_eq!(
                spend_context(&n, &h1, p1) == spend_context(&n, &h2, p2),
                h1 == h2 && p1 == p2
            );
        }
    }
}
