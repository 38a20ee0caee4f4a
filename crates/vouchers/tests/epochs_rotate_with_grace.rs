//! Key rotation, grace epoch and exchange (docs/vouchers.md §3).

mod common;

use common::*;
use veil_vouchers::*;

#[test]
fn grace_epoch_spends_reissue_under_the_current_key_and_then_expire() {
    let mut rng = rng(41);
    let mut issuer = issuer(1, &mut rng);
    let old_a = credential(&issuer, 100, &mut rng);
    let old_b = credential(&issuer, 100, &mut rng);
    let old_c = credential(&issuer, 100, &mut rng);
    let old_key = *issuer.current_key();

    issuer
        .rotate(IssuerSecretKey::generate(Epoch::new(2), &mut rng))
        .expect("rotate");
    assert_eq!(issuer.grace_key(), Some(&old_key));
    assert_eq!(issuer.current_key().epoch(), Epoch::new(2));
    assert_ne!(issuer.current_key().key_id(), old_key.key_id());

    // A grace-epoch spend is accepted and re-issued under epoch 2.
    let (_, next) = spend(&issuer, &old_a, 10, &mut rng);
    assert_eq!(next.epoch(), Epoch::new(2));
    assert_eq!(next.balance(), Balance::from_kib(90));

    // Exchange: spend 0 of a grace credential.
    let (req, pending) = old_b
        .prepare_spend(Balance::ZERO, CTX, &mut rng)
        .expect("prepare");
    let (verified, resp) = issuer.exchange(&req, CTX).expect("exchange");
    assert_eq!(verified.epoch, Epoch::new(1));
    // The client must check against the current key, not the old one.
    assert!(matches!(
        pending.finish_spend(&resp, &old_key),
        Err(ClientError::EpochMismatch { .. })
    ));
    let (req2, pending) = next
        .prepare_spend(Balance::ZERO, CTX, &mut rng)
        .expect("prepare");
    // Exchange refuses current-epoch credentials and non-zero amounts.
    assert!(matches!(
        issuer.exchange(&req2, CTX),
        Err(SpendError::NotAnExchange { .. })
    ));
    let (req3, _) = old_c
        .prepare_spend(Balance::from_kib(1), CTX, &mut rng)
        .expect("prepare");
    assert!(matches!(
        issuer.exchange(&req3, CTX),
        Err(SpendError::NotAnExchange { .. })
    ));
    let (_, resp) = issuer
        .verify_spend(&req2, CTX)
        .expect("zero spend in the current epoch");
    let renewed = pending
        .finish_spend(&resp, issuer.current_key())
        .expect("finish");
    assert_eq!(renewed.balance(), Balance::from_kib(90));

    // Next rotation: epoch 1 expires.
    issuer
        .rotate(IssuerSecretKey::generate(Epoch::new(3), &mut rng))
        .expect("rotate");
    let (req, _) = old_c
        .prepare_spend(Balance::ZERO, CTX, &mut rng)
        .expect("prepare");
    assert!(matches!(
        issuer.verify_spend(&req, CTX),
        Err(SpendError::UnknownEpoch(e)) if e == Epoch::new(1)
    ));
    assert!(matches!(
        issuer.exchange(&req, CTX),
        Err(SpendError::NotAnExchange { .. })
    ));
    // Epoch 2 credentials are now in grace.
    let (_, last) = spend(&issuer, &renewed, 90, &mut rng);
    assert_eq!(
        (last.epoch(), last.balance()),
        (Epoch::new(3), Balance::ZERO)
    );
}

#[test]
fn rotation_must_move_forward_and_skipping_drops_grace() {
    let mut rng = rng(42);
    let mut issuer = issuer(5, &mut rng);
    assert_eq!(
        issuer.rotate(IssuerSecretKey::generate(Epoch::new(5), &mut rng)),
        Err(KeyError::NonIncreasingEpoch {
            current: Epoch::new(5),
            next: Epoch::new(5)
        })
    );
    issuer
        .rotate(IssuerSecretKey::generate(Epoch::new(7), &mut rng))
        .expect("rotate");
    assert_eq!(issuer.grace_key(), None);
}

#[test]
fn issuance_requires_the_current_epoch() {
    let mut rng = rng(43);
    let mut issuer = issuer(1, &mut rng);
    let old_key = *issuer.current_key();
    issuer
        .rotate(IssuerSecretKey::generate(Epoch::new(2), &mut rng))
        .expect("rotate");
    let (req, _) =
        Credential::request_issuance(&old_key, NODE, Balance::from_kib(1), CTX, &mut rng);
    assert_eq!(
        issuer.issue(&req, CTX),
        Err(IssueError::WrongEpoch {
            requested: Epoch::new(1),
            current: Epoch::new(2)
        })
    );
}
