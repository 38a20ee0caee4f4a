//! The client's voucher wallet (`docs/vouchers.md` §9 "Purchase and use"),
//! by concern:
//! - [`store`]: the credentials file of a wallet;
//! - [`purchase`]: buying a voucher with an escrow session;
//! - [`exchange`]: previous-epoch credentials for current-epoch ones
//!   after a key rotation;
//! - [`spend`]: opening a stream paid by a spend. Its bytes go through the
//!   same relay framing ([`crate::relay`]) and the same SOCKS5 front end
//!   ([`crate::proxy`], [`crate::proxy::Payer::Voucher`]) as session-paid
//!   traffic.
//!
//! What they share: [`error`] and the node's voucher [`terms`]. The derivations binding a purchase and a spend live in
//! `veil_vouchers::context`.

pub mod error;
pub mod exchange;
pub mod purchase;
pub mod spend;
pub mod store;
pub mod terms;

pub use error::VoucherError;
pub use exchange::{exchange_one, exchange_previous};
pub use purchase::{PURCHASE_INTENT, PaidSession, Purchase, buy, buy_with_escrow};
pub use spend::{VoucherPayer, VoucherStream, open_stream};
pub use store::{MAX_VOUCHER_FILE_BYTES, VOUCHER_FILE_VERSION, VoucherWallet, voucher_path};
pub use terms::VoucherTerms;
