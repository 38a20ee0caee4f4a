//! veil in the formats of snarkjs and circom, so the ecosystem's tools can
//! inspect, check and verify veil's circuits, keys and proofs, and veil can
//! verify theirs (issue 11; `docs/interop.md`).
//!
//! - [`snarkjs`]: `verification_key.json`, `proof.json`, `public.json`, both
//!   ways, every point and number validated on the way in.
//! - [`R1cs`]: a circuit's constraint system as arkworks builds it for the
//!   setup, and circom's `.r1cs` file.
//! - [`Witness`]: a full assignment, and circom's `.wtns` file.
//! - [`export`]: veil's circuits, and witnesses and proofs of their sample
//!   statements.
//! - [`ptau`]: snarkjs' phase-1 files, read strictly and their powers
//!   checked; and a test-only writer from known toxic waste (INSECURE).
//! - [`zkey`]: snarkjs' phase-2 proving-key files: `zkey new`, reading.
//! - [`phase2`]: phase-2 contributions, beacons and transcript
//!   verification, as snarkjs makes and checks them.
//! - [`qap`]: proving with a `.zkey` straight from `.r1cs` and `.wtns`.
//! - [`ceremony`]: a ceremony's final keys checked, described and pinned
//!   for `veil setup --from-ceremony` and `--verify`.
//! - [`tool`]: the pinned snarkjs, for the tests that run it.
//!
//! A separate crate so that nodes and clients, which only ever speak veil's
//! own encodings (`docs/protocol.md` §7.2), do not link JSON point parsers.

mod binfile;
mod blake2b;
pub mod ceremony;
pub mod decimal;
pub mod error;
pub mod export;
mod lem;
pub mod phase2;
pub mod ptau;
pub mod qap;
pub mod r1cs;
pub mod snarkjs;
pub mod tool;
pub mod wtns;
pub mod zkey;

pub use error::{ContributionFailure, InteropError, NumberError, Phase1Failure, SectionProblem};
pub use r1cs::{Constraint, R1cs};
pub use wtns::Witness;
