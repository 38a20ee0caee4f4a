//! What every secret type of veil shares (`docs/security.md`, "Secrets in
//! memory"): it is wiped on drop with [`zeroize`] (the one mechanism, no
//! hand-written volatile writes), and its `Debug` prints [`REDACTED`] in
//! place of the secret. No secret type implements `Display` or
//! `Serialize`; the explicit key-file writers are the only way out.
//!
//! Crates without their own `zeroize` dependency use the re-exports here.

pub use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// What a secret's `Debug` prints in its place.
pub const REDACTED: &str = "<redacted>";

/// A `Debug` value that prints [`REDACTED`], for a secret field of a
/// struct's `Debug` (`.field("seed", &Redacted)`).
#[derive(Clone, Copy)]
pub struct Redacted;

impl core::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Test helpers for other crates' secret types.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::REDACTED;

    /// Every printable form of `secret` a careless `Debug` could write:
    /// hex of both byte orders, both cases.
    pub fn hex_forms(secret: &[u8]) -> Vec<String> {
        let mut rev = secret.to_vec();
        rev.reverse();
        let lower = [hex::encode(secret), hex::encode(rev)];
        let upper = lower.iter().map(|h| h.to_uppercase());
        lower.iter().cloned().chain(upper).collect()
    }

    /// Panics unless `shown` (a `Debug` output) says [`REDACTED`] and
    /// holds no byte of any of `secrets` in hex (either case, either byte
    /// order; every secret byte is checked, so a single leaked byte of a
    /// 32-byte secret shows as a two-digit hex run, and is searched as the
    /// whole secret's forms and as each 4-byte window).
    pub fn assert_debug_redacted(shown: &str, secrets: &[&[u8]]) {
        assert!(shown.contains(REDACTED), "{shown:?} does not say redacted");
        for secret in secrets {
            assert!(secret.len() >= 4, "a secret of {} bytes", secret.len());
            for window in secret.windows(4) {
                for form in hex_forms(window) {
                    assert!(
                        !shown.contains(&form),
                        "{shown:?} holds secret bytes {form}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_leaked_window_is_caught() {
        let secret = [0x12, 0x34, 0xab, 0xcd, 0xef];
        assert_debug_redacted("K(<redacted>)", &[&secret]);
        for leaked in [
            "K(<redacted>) 1234abcd",
            "K(<redacted>) CDAB3412",
            "K(<redacted>) 34ABCDEF",
        ] {
            let r = std::panic::catch_unwind(|| assert_debug_redacted(leaked, &[&secret]));
            assert!(r.is_err(), "{leaked} passed");
        }
        let r = std::panic::catch_unwind(|| assert_debug_redacted("K(..)", &[&secret]));
        assert!(r.is_err(), "an unredacted Debug passed");
    }
}
