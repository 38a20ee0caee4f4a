//! Unlinkability: the node's view of spends from one credential chain looks
//! like spends from distinct credentials (docs/vouchers.md §6).

mod common;

use std::collections::HashSet;

use common::*;
use veil_vouchers::*;

/// 32-byte group elements and the nullifier in a spend request, by the
/// layout of `SpendRequest::to_bytes`: k, A', D, V, K' and the range
/// proof's points A, S, T_1, T_2, L_i, R_i.
fn presented_elements(bytes: &[u8]) -> Vec<[u8; 32]> {
    let rp = 465;
    let offsets = [17, 49, 81, 113, 145]
        .into_iter()
        .chain((0..4).map(|i| rp + 32 * i))
        .chain((7..19).map(|i| rp + 32 * i));
    offsets
        .map(|o| {
            let mut a = [0u8; 32];
            a.copy_from_slice(&bytes[o..o + 32]);
            a
        })
        .collect()
}

#[test]
fn chained_spends_look_like_spends_of_distinct_credentials() {
    let mut rng = rng(31);
    let issuer = issuer(1, &mut rng);

    // One client: one credential, five spends in a chain.
    let mut cred = credential(&issuer, 10_000, &mut rng);
    let mut chain = Vec::new();
    for _ in 0..5 {
        let (bytes, next) = spend(&issuer, &cred, 7, &mut rng);
        chain.push(bytes);
        cred = next;
    }
    assert_eq!(cred.balance(), Balance::from_kib(10_000 - 35));

    // Five clients, one spend each.
    let distinct: Vec<Vec<u8>> = (0..5)
        .map(|_| {
            let c = credential(&issuer, 10_000, &mut rng);
            spend(&issuer, &c, 7, &mut rng).0
        })
        .collect();

    // Same structure: same length, same public header (version, epoch, amount).
    for bytes in chain.iter().chain(&distinct) {
        assert_eq!(bytes.len(), SpendRequest::ENCODED_LEN);
        assert_eq!(bytes[..17], chain[0][..17]);
    }

    // Every presented element is fresh across all ten spends.
    let mut seen = HashSet::new();
    for bytes in chain.iter().chain(&distinct) {
        for element in presented_elements(bytes) {
            assert!(seen.insert(element), "element repeated across spends");
        }
    }
    assert_eq!(seen.len(), 10 * 21);
}

#[test]
fn nothing_of_the_issuance_reappears_in_a_spend() {
    let mut rng = rng(32);
    let issuer = issuer(1, &mut rng);
    let (req, awaiting) = Credential::request_issuance(
        issuer.current_key(),
        NODE,
        Balance::from_kib(100),
        CTX,
        &mut rng,
    );
    let resp = issuer.issue(&req, CTX).expect("issue");
    let cred = awaiting.finish_issuance(&resp).expect("finish");
    let (spend_bytes, _) = spend(&issuer, &cred, 1, &mut rng);
    let view: Vec<u8> = [req.to_bytes(), resp.to_bytes()].concat();
    // No 32-byte window of what the node saw or sent at issuance occurs
    // among the spend's presented elements.
    let windows: HashSet<&[u8]> = view.windows(32).collect();
    for element in presented_elements(&spend_bytes) {
        assert!(!windows.contains(&element[..]));
    }
}
