//! Decoder robustness for the voucher messages of `veil-vouchers`
//! (adversarial G5, C9; `docs/vouchers.md`): issuance request and response,
//! credential, issuer keys, spend request and response, nullifier.
//!
//! Property for every decoder: it never panics, and it either rejects or
//! returns a value whose canonical encoding is exactly the input. Valid
//! seeds come from one honest issuance and one honest spend (fixed RNG
//! seed); mutations are bit flips, byte overwrites, truncation, extension
//! and a 32-byte word set to all ones (a non-canonical scalar or point).

#[path = "support/mutation.rs"]
mod mutation;
#[path = "support/seeds.rs"]
mod seeds;

use mutation::{mutation, rejects_or_round_trips};

use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use veil_vouchers::{
    Balance, Credential, Epoch, IssuanceRequest, IssuanceResponse, Issuer, IssuerPublicKey,
    IssuerSecretKey, MemoryNullifierStore, NodeId, SpendRequest, SpendResponse, VoucherNullifier,
};

const NODE: NodeId = NodeId::new([4; 32]);
const CONTEXT: &[u8] = b"decoder-fuzz-challenge";

/// Encodings of every voucher message from one honest run.
struct Seeds {
    issuance_request: Vec<u8>,
    issuance_response: Vec<u8>,
    credential: Vec<u8>,
    public_key: Vec<u8>,
    secret_key: Vec<u8>,
    spend_request: Vec<u8>,
    spend_response: Vec<u8>,
    nullifier: [u8; 32],
}

fn seeds() -> &'static Seeds {
    static SEEDS: std::sync::OnceLock<Seeds> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(0xdec0de);
        let sk = IssuerSecretKey::generate(Epoch::new(3), &mut rng);
        let secret_key = sk.to_bytes();
        let issuer = Issuer::new(NODE, sk, MemoryNullifierStore::new());
        let pk = *issuer.current_key();
        let (req, awaiting) =
            Credential::request_issuance(&pk, NODE, Balance::from_kib(1000), CONTEXT, &mut rng);
        let resp = issuer
            .issue_with_rng(&req, CONTEXT, &mut rng)
            .expect("honest issuance");
        let cred = awaiting.finish_issuance(&resp).expect("honest credential");
        let (spend, _pending) = cred
            .prepare_spend(Balance::from_kib(300), CONTEXT, &mut rng)
            .expect("honest spend");
        let (verified, spend_resp) = issuer
            .verify_spend_with_rng(&spend, CONTEXT, &mut rng)
            .expect("honest spend verifies");
        Seeds {
            issuance_request: req.to_bytes(),
            issuance_response: resp.to_bytes(),
            credential: cred.to_bytes().to_vec(),
            public_key: pk.to_bytes(),
            secret_key: secret_key.to_vec(),
            spend_request: spend.to_bytes(),
            spend_response: spend_resp.to_bytes(),
            nullifier: verified.nullifier.to_bytes(),
        }
    })
}

fn dec_nullifier(b: &[u8]) -> Result<VoucherNullifier, String> {
    let arr: [u8; 32] = b.try_into().map_err(|_| "length".to_string())?;
    VoucherNullifier::from_bytes(arr).map_err(|e| e.to_string())
}
fn enc_nullifier(n: &VoucherNullifier) -> Vec<u8> {
    n.to_bytes().to_vec()
}

/// Runs `check` on every voucher decoder with the input `f(seed)`.
fn all_decoders(f: impl Fn(&[u8]) -> Vec<u8>, expect_reject: bool) -> Result<(), TestCaseError> {
    let s = seeds();
    let results = [
        rejects_or_round_trips(
            &f(&s.issuance_request),
            IssuanceRequest::from_bytes,
            IssuanceRequest::to_bytes,
        )?,
        rejects_or_round_trips(
            &f(&s.issuance_response),
            IssuanceResponse::from_bytes,
            IssuanceResponse::to_bytes,
        )?,
        rejects_or_round_trips(
            &f(&s.credential),
            Credential::from_bytes,
            Credential::to_bytes,
        )?,
        rejects_or_round_trips(
            &f(&s.public_key),
            IssuerPublicKey::from_bytes,
            IssuerPublicKey::to_bytes,
        )?,
        rejects_or_round_trips(
            &f(&s.secret_key),
            IssuerSecretKey::from_bytes,
            IssuerSecretKey::to_bytes,
        )?,
        rejects_or_round_trips(
            &f(&s.spend_request),
            SpendRequest::from_bytes,
            SpendRequest::to_bytes,
        )?,
        rejects_or_round_trips(
            &f(&s.spend_response),
            SpendResponse::from_bytes,
            SpendResponse::to_bytes,
        )?,
        rejects_or_round_trips(&f(&s.nullifier), dec_nullifier, enc_nullifier)?,
    ];
    if expect_reject {
        prop_assert!(
            results.iter().all(|accepted| !accepted),
            "length change accepted: {:?}",
            results
        );
    }
    Ok(())
}

#[test]
fn seeds_round_trip() {
    let r = all_decoders(|b| b.to_vec(), false);
    assert!(r.is_ok(), "{r:?}");
    let s = seeds();
    assert!(IssuanceRequest::from_bytes(&s.issuance_request).is_ok());
    assert!(SpendRequest::from_bytes(&s.spend_request).is_ok());
    assert!(Credential::from_bytes(&s.credential).is_ok());
    assert!(dec_nullifier(&s.nullifier).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1200)) {
        rejects_or_round_trips(&bytes, IssuanceRequest::from_bytes, IssuanceRequest::to_bytes)?;
        rejects_or_round_trips(&bytes, IssuanceResponse::from_bytes, IssuanceResponse::to_bytes)?;
        rejects_or_round_trips(&bytes, Credential::from_bytes, Credential::to_bytes)?;
        rejects_or_round_trips(&bytes, IssuerPublicKey::from_bytes, IssuerPublicKey::to_bytes)?;
        rejects_or_round_trips(&bytes, IssuerSecretKey::from_bytes, IssuerSecretKey::to_bytes)?;
        rejects_or_round_trips(&bytes, SpendRequest::from_bytes, SpendRequest::to_bytes)?;
        rejects_or_round_trips(&bytes, SpendResponse::from_bytes, SpendResponse::to_bytes)?;
        rejects_or_round_trips(&bytes, dec_nullifier, enc_nullifier)?;
    }

    #[test]
    fn random_bytes_with_a_valid_header_never_panic(
        which in 0usize..7,
        body in prop::collection::vec(any::<u8>(), 0..1200),
    ) {
        // Keep the seed's version and epoch (first 9 bytes) so the random
        // body reaches the point, scalar and proof decoders.
        let s = seeds();
        let seed = [&s.issuance_request, &s.issuance_response, &s.credential, &s.public_key,
            &s.secret_key, &s.spend_request, &s.spend_response][which];
        let mut input = seed[..9.min(seed.len())].to_vec();
        input.extend_from_slice(&body[..body.len().min(seed.len().saturating_sub(9))]);
        all_decoders(|_| input.clone(), false)?;
    }

    #[test]
    fn mutated_messages(m in mutation()) {
        all_decoders(|seed| m.apply(seed), m.changes_length())?;
    }
}

/// The committed fuzz seed corpus is current (support/seeds.rs).
#[test]
fn fuzz_seed_corpus_is_current() {
    let s = seeds();
    seeds::seed_corpus(
        "vouchers_decode",
        &[
            ("issuance-request", s.issuance_request.clone()),
            ("issuance-response", s.issuance_response.clone()),
            ("credential", s.credential.clone()),
            ("public-key", s.public_key.clone()),
            ("secret-key", s.secret_key.clone()),
            ("spend-request", s.spend_request.clone()),
            ("spend-response", s.spend_response.clone()),
            ("nullifier", s.nullifier.to_vec()),
        ],
    );
}
