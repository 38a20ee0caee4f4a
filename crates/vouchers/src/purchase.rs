//! Buying credit (docs/vouchers.md §9).

use thiserror::Error;

use crate::types::Balance;

#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum PurchaseError {
    #[error("price per KiB must be positive")]
    ZeroPrice,
}

/// `⌊escrow / price_per_kib⌋` KiB. The remainder `escrow mod price_per_kib`
/// is not credited.
pub fn balance_for_escrow(escrow: u64, price_per_kib: u64) -> Result<Balance, PurchaseError> {
    escrow
        .checked_div(price_per_kib)
        .map(Balance::from_kib)
        .ok_or(PurchaseError::ZeroPrice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divides_and_floors() {
        assert_eq!(balance_for_escrow(1000, 3), Ok(Balance::from_kib(333)));
        assert_eq!(balance_for_escrow(2, 3), Ok(Balance::ZERO));
        assert_eq!(
            balance_for_escrow(u64::MAX, 1),
            Ok(Balance::from_kib(u64::MAX))
        );
        assert_eq!(balance_for_escrow(5, 0), Err(PurchaseError::ZeroPrice));
    }
}
