//! Property tests on the credential algebra (docs/vouchers.md §4–§6):
//! issue/spend/re-issue sequences keep the balance arithmetic right, and
//! every re-issued MAC verifies under the node's key.

mod common;

use common::*;
use proptest::prelude::*;
use veil_vouchers::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn spend_sequences_keep_balance_and_mac(
        seed in any::<u64>(),
        initial in any::<u64>(),
        // Amounts as fractions of the balance in ‰ (above 1000: overspend),
        // generated as bytes and mapped (proptest's rand is not ours).
        steps in proptest::collection::vec(any::<[u8; 2]>(), 1..4),
    ) {
        let mut rng = rng(seed);
        let issuer = issuer(1, &mut rng);
        let secret = IssuerSecretKey::from_bytes(&issuer_secret_bytes(seed)).expect("key");
        prop_assert_eq!(secret.public_key(), issuer.current_key());
        let mut cred = credential(&issuer, initial, &mut rng);
        prop_assert!(secret.verify_credential(&cred));
        let mut expected = initial;
        for step in steps {
            let permille = u128::from(u16::from_le_bytes(step) % 1200);
            let amount = (u128::from(expected) * permille / 1000) as u64
                + u64::from(permille > 1000 && expected < u64::MAX);
            if amount > expected {
                let err = cred.prepare_spend(Balance::from_kib(amount), CTX, &mut rng);
                prop_assert!(
                    matches!(err, Err(ClientError::InsufficientBalance { .. })),
                    "overspend must be refused"
                );
                continue;
            }
            let (_, next) = spend(&issuer, &cred, amount, &mut rng);
            expected -= amount;
            prop_assert_eq!(next.balance(), Balance::from_kib(expected));
            prop_assert!(secret.verify_credential(&next));
            prop_assert_ne!(next.nullifier(), cred.nullifier());
            // Wallet storage round trip keeps a spendable credential.
            cred = Credential::from_bytes(&next.to_bytes()).expect("round trip");
        }
    }

    #[test]
    fn tampered_credentials_do_not_verify(seed in any::<u64>(), flip in any::<u8>()) {
        let mut rng = rng(seed);
        let issuer = issuer(1, &mut rng);
        let secret = IssuerSecretKey::from_bytes(&issuer_secret_bytes(seed)).expect("key");
        let cred = credential(&issuer, 50, &mut rng);
        // Change the balance attribute in storage: MAC no longer verifies,
        // and the node refuses the spend.
        let mut bytes = cred.to_bytes();
        bytes[73] ^= flip | 1;
        let forged = Credential::from_bytes(&bytes).expect("well-formed");
        prop_assert!(!secret.verify_credential(&forged));
        let (req, _) = forged.prepare_spend(Balance::from_kib(1), CTX, &mut rng).expect("prepare");
        prop_assert!(issuer.verify_spend(&req, CTX).is_err());
    }
}

/// The key `common::issuer(1, rng(seed))` generates, re-derived.
fn issuer_secret_bytes(seed: u64) -> Vec<u8> {
    IssuerSecretKey::generate(Epoch::new(1), &mut rng(seed))
        .to_bytes()
        .to_vec()
}
