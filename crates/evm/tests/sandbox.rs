//! The revm sandbox: nonces move only on committed transactions, reverts and
//! halts are reported as such, and transactions revm refuses are errors.

mod common;

use revm::primitives::U256;
use veil_evm::abi::encode_call;
use veil_evm::sandbox::{DEFAULT_GAS_LIMIT, Sandbox, SandboxError, Status};
use veil_proofs::CircuitId;

fn funded(sb: &mut Sandbox) -> veil_evm::sandbox::EvmAddress {
    sb.funded_account(U256::from(10u64).pow(U256::from(18u64)))
}

#[test]
fn nonces_move_only_when_committed() {
    let mut sb = Sandbox::new();
    let me = funded(&mut sb);
    let code = common::artifact(CircuitId::Access).bytecode;
    assert_eq!(sb.nonce(me), 0);
    let (first, out) = sb.deploy(me, &code).expect("deploy");
    assert_eq!(out.status, Status::Success);
    assert!(out.execution_gas() > 0 && out.intrinsic_gas > 53_000);
    assert_eq!(sb.nonce(me), 1);
    let (second, _) = sb.deploy(me, &code).expect("deploy again");
    assert_ne!(first, second);
    assert_eq!(sb.nonce(me), 2);

    // Unknown selector: the contract reverts (no fallback).
    let data = encode_call([0xde, 0xad, 0xbe, 0xef], &[]);
    let out = sb.call(me, first, &data, DEFAULT_GAS_LIMIT).expect("call");
    assert_eq!(out.status, Status::Revert);
    assert_eq!(sb.nonce(me), 2, "a call commits nothing");
    let out = sb
        .transact(me, first, &data, DEFAULT_GAS_LIMIT)
        .expect("tx");
    assert_eq!(out.status, Status::Revert);
    assert_eq!(sb.nonce(me), 3, "a reverted transaction is still included");
}

#[test]
fn failures_are_reported_not_hidden() {
    let mut sb = Sandbox::new();
    let me = funded(&mut sb);
    // INVALID opcode as init code: halts, nothing created.
    match sb.deploy(me, &[0xfe]) {
        Err(SandboxError::DeployFailed { status, .. }) => assert_eq!(status, Status::Halt),
        other => panic!("expected a failed deployment, got {other:?}"),
    }
    // Below the intrinsic gas: revm refuses the transaction.
    let err = sb.call(me, me, &[1, 2, 3], 20_000).expect_err("refused");
    assert!(matches!(err, SandboxError::Rejected(_)), "{err}");
    // A plain transfer-like call to an account without code succeeds with
    // exactly the intrinsic gas.
    let out = sb.call(me, me, &[], DEFAULT_GAS_LIMIT).expect("call");
    assert_eq!(out.status, Status::Success);
    assert_eq!((out.gas_used, out.intrinsic_gas), (21_000, 21_000));
}
