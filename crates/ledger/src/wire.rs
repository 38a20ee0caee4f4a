//! `veil.ledger.v1` constants shared by the server (`service`) and the
//! client (`remote`): message size limits, the error-kind metadata key and
//! the one list of error-kind names.

/// Largest request the service decodes (a settle_64 request is ~5 KiB).
pub const MAX_DECODING_MESSAGE_SIZE: usize = 64 * 1024;
/// Largest response it encodes (a commitment batch is ~35 KiB).
pub const MAX_ENCODING_MESSAGE_SIZE: usize = 1024 * 1024;
/// Metadata key carrying the stable name of the error variant.
pub const ERROR_KIND_KEY: &str = "veil-ledger-error";
/// Metadata key carrying the variant's values, so that the client rebuilds
/// the same `LedgerError` (docs/protocol.md §8.6): decimal numbers joined
/// by `,`, the text of an `InvalidArgument` or of a refused authorisation,
/// or an `Encoding`'s field and cause (see [`ErrorKind::args`]).
pub const ERROR_ARGS_KEY: &str = "veil-ledger-error-args";

use crate::error::LedgerError;
use veil_market::curve::CurveError;
use veil_primitives::EncodingError;

/// The stable wire name of each [`LedgerError`] variant, sent under
/// [`ERROR_KIND_KEY`] by the service and read back by the client
/// (docs/protocol.md §8.6). [`KIND_NAMES`] is the one list of those names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Encoding,
    InvalidArgument,
    UnknownRoot,
    NullifierSpent,
    UnknownNode,
    NodeExists,
    EscrowSize,
    Expiry,
    InvalidProof,
    InsufficientBalance,
    PoolUnderflow,
    Overflow,
    UnknownEscrow,
    EscrowNotOpen,
    AlreadySettled,
    WrongNode,
    DuplicateSession,
    SettleWindowClosed,
    NotYetReclaimable,
    TotalExceedsEscrow,
    DuplicateDeposit,
    RegistrationUnauthenticated,
    SettleUnauthorized,
    AccountUnauthenticated,
    BadNonce,
    StaleNodeUpdate,
    NodeRetired,
    NodeNotRetired,
    StakeLocked,
    StakeReleased,
    StakeBelowCapacity,
    MonitorExists,
    NotAMonitor,
    NotAssigned,
    ReportNotOpen,
    ReportExists,
    MonitorRetired,
    MonitorNotRetired,
    ChallengeExists,
    ChallengeEpoch,
    UnknownChallenge,
    ChallengeClosed,
    BadChallengeAnswer,
    FaucetDisabled,
    Market,
    InsufficientTokens,
    Unsupported,
    VerifyingKeys,
    Busy,
    Storage,
    Poisoned,
    Corrupted,
    Unavailable,
    Remote,
}

/// Every kind with its wire name: the only place these strings are written.
pub const KIND_NAMES: [(ErrorKind, &str); 54] = {
    use ErrorKind::*;
    [
        (Encoding, "encoding"),
        (InvalidArgument, "invalid_argument"),
        (UnknownRoot, "unknown_root"),
        (NullifierSpent, "nullifier_spent"),
        (UnknownNode, "unknown_node"),
        (NodeExists, "node_exists"),
        (EscrowSize, "escrow_size"),
        (Expiry, "expiry"),
        (InvalidProof, "invalid_proof"),
        (InsufficientBalance, "insufficient_balance"),
        (PoolUnderflow, "pool_underflow"),
        (Overflow, "overflow"),
        (UnknownEscrow, "unknown_escrow"),
        (EscrowNotOpen, "escrow_not_open"),
        (AlreadySettled, "already_settled"),
        (WrongNode, "wrong_node"),
        (DuplicateSession, "duplicate_session"),
        (SettleWindowClosed, "settle_window_closed"),
        (NotYetReclaimable, "not_yet_reclaimable"),
        (TotalExceedsEscrow, "total_exceeds_escrow"),
        (DuplicateDeposit, "duplicate_deposit"),
        (RegistrationUnauthenticated, "registration_unauthenticated"),
        (SettleUnauthorized, "settle_unauthorized"),
        (AccountUnauthenticated, "account_unauthenticated"),
        (BadNonce, "bad_nonce"),
        (StaleNodeUpdate, "stale_node_update"),
        (NodeRetired, "node_retired"),
        (NodeNotRetired, "node_not_retired"),
        (StakeLocked, "stake_locked"),
        (StakeReleased, "stake_released"),
        (StakeBelowCapacity, "stake_below_capacity"),
        (MonitorExists, "monitor_exists"),
        (NotAMonitor, "not_a_monitor"),
        (NotAssigned, "not_assigned"),
        (ReportNotOpen, "report_not_open"),
        (ReportExists, "report_exists"),
        (MonitorRetired, "monitor_retired"),
        (MonitorNotRetired, "monitor_not_retired"),
        (ChallengeExists, "challenge_exists"),
        (ChallengeEpoch, "challenge_epoch"),
        (UnknownChallenge, "unknown_challenge"),
        (ChallengeClosed, "challenge_closed"),
        (BadChallengeAnswer, "bad_challenge_answer"),
        (FaucetDisabled, "faucet_disabled"),
        (Market, "market"),
        (InsufficientTokens, "insufficient_tokens"),
        (Unsupported, "unsupported"),
        (VerifyingKeys, "verifying_keys"),
        (Busy, "busy"),
        (Storage, "storage"),
        (Poisoned, "poisoned"),
        (Corrupted, "corrupted"),
        (Unavailable, "unavailable"),
        (Remote, "remote"),
    ]
};

impl ErrorKind {
    /// The kind of an error.
    pub fn of(e: &LedgerError) -> Self {
        use LedgerError as E;
        match e {
            E::Encoding { .. } => Self::Encoding,
            E::InvalidArgument(_) => Self::InvalidArgument,
            E::UnknownRoot(_) => Self::UnknownRoot,
            E::NullifierSpent => Self::NullifierSpent,
            E::UnknownNode => Self::UnknownNode,
            E::NodeExists => Self::NodeExists,
            E::EscrowSizeNotAccepted(_) => Self::EscrowSize,
            E::ExpiryOutOfRange { .. } => Self::Expiry,
            E::InvalidProof => Self::InvalidProof,
            E::InsufficientBalance => Self::InsufficientBalance,
            E::PoolUnderflow => Self::PoolUnderflow,
            E::Overflow => Self::Overflow,
            E::UnknownEscrow => Self::UnknownEscrow,
            E::EscrowNotOpen => Self::EscrowNotOpen,
            E::AlreadySettled => Self::AlreadySettled,
            E::WrongNode => Self::WrongNode,
            E::DuplicateSession => Self::DuplicateSession,
            E::SettleWindowClosed => Self::SettleWindowClosed,
            E::NotYetReclaimable(_) => Self::NotYetReclaimable,
            E::TotalExceedsEscrow => Self::TotalExceedsEscrow,
            E::DuplicateDeposit => Self::DuplicateDeposit,
            E::RegistrationUnauthenticated(_) => Self::RegistrationUnauthenticated,
            E::SettleUnauthorized(_) => Self::SettleUnauthorized,
            E::AccountUnauthenticated(_) => Self::AccountUnauthenticated,
            E::BadNonce => Self::BadNonce,
            E::StaleNodeUpdate => Self::StaleNodeUpdate,
            E::NodeRetired => Self::NodeRetired,
            E::NodeNotRetired => Self::NodeNotRetired,
            E::StakeLocked(_) => Self::StakeLocked,
            E::StakeReleased => Self::StakeReleased,
            E::StakeBelowCapacity { .. } => Self::StakeBelowCapacity,
            E::MonitorExists => Self::MonitorExists,
            E::NotAMonitor => Self::NotAMonitor,
            E::NotAssigned => Self::NotAssigned,
            E::ReportNotOpen => Self::ReportNotOpen,
            E::ReportExists => Self::ReportExists,
            E::MonitorRetired => Self::MonitorRetired,
            E::MonitorNotRetired => Self::MonitorNotRetired,
            E::ChallengeExists => Self::ChallengeExists,
            E::ChallengeEpoch(_) => Self::ChallengeEpoch,
            E::UnknownChallenge => Self::UnknownChallenge,
            E::ChallengeClosed => Self::ChallengeClosed,
            E::BadChallengeAnswer => Self::BadChallengeAnswer,
            E::FaucetDisabled => Self::FaucetDisabled,
            E::Market(_) => Self::Market,
            E::InsufficientTokens => Self::InsufficientTokens,
            E::Unsupported(_) => Self::Unsupported,
            E::VerifyingKeys(_) => Self::VerifyingKeys,
            E::Busy => Self::Busy,
            E::Storage(_) => Self::Storage,
            E::Poisoned => Self::Poisoned,
            E::Corrupted(_) => Self::Corrupted,
            E::Unavailable(_) => Self::Unavailable,
            E::Remote { .. } => Self::Remote,
        }
    }

    /// Its wire name.
    pub fn name(self) -> &'static str {
        KIND_NAMES
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("remote", |(_, n)| *n)
    }

    /// The kind a wire name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        KIND_NAMES.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    /// The values [`ErrorKind::rebuild`] needs besides the kind, sent
    /// under [`ERROR_ARGS_KEY`].
    pub fn args(e: &LedgerError) -> Option<String> {
        use LedgerError as E;
        match e {
            E::EscrowSizeNotAccepted(v) => Some(v.get().to_string()),
            E::NotYetReclaimable(h) | E::StakeLocked(h) => Some(h.0.to_string()),
            E::StakeBelowCapacity { stake, needed } => {
                Some(format!("{},{}", stake.get(), needed.get()))
            }
            E::UnknownRoot(n) => Some(n.to_string()),
            E::ChallengeEpoch(e) => Some(e.to_string()),
            E::ExpiryOutOfRange {
                expiry,
                height,
                max_delta,
            } => Some(format!("{},{},{max_delta}", expiry.0, height.0)),
            E::InvalidArgument(text)
            | E::RegistrationUnauthenticated(text)
            | E::SettleUnauthorized(text)
            | E::AccountUnauthenticated(text)
            | E::Unsupported(text) => Some((*text).to_owned()),
            E::Encoding { field, source } => Some(encoding_args(field, source)),
            E::Market(c) => Some(curve_args(c)),
            _ => None,
        }
    }

    /// The error a client rebuilds from the kind and its
    /// [`ErrorKind::args`]; `None` for the kinds whose details stay in the
    /// status message only, and for values that do not parse.
    pub fn rebuild(self, args: Option<&str>) -> Option<LedgerError> {
        use LedgerError as E;
        use veil_primitives::ids::BlockHeight;
        const REFUSED: &str = "refused by the ledger";
        let nums = || -> Option<Vec<u64>> { args?.split(',').map(|x| x.parse().ok()).collect() };
        let text = || args.map_or(REFUSED, crate::intern::intern);
        Some(match self {
            Self::EscrowSize => match nums()?.as_slice() {
                [v] => E::EscrowSizeNotAccepted(veil_primitives::value::Value(*v)),
                _ => return None,
            },
            Self::NotYetReclaimable => match nums()?.as_slice() {
                [h] => E::NotYetReclaimable(BlockHeight(*h)),
                _ => return None,
            },
            Self::Expiry => match nums()?.as_slice() {
                [e, h, d] => E::ExpiryOutOfRange {
                    expiry: BlockHeight(*e),
                    height: BlockHeight(*h),
                    max_delta: *d,
                },
                _ => return None,
            },
            Self::InvalidArgument => E::InvalidArgument(crate::intern::intern(args?)),
            Self::Encoding => rebuild_encoding(args?)?,
            Self::NullifierSpent => E::NullifierSpent,
            Self::UnknownNode => E::UnknownNode,
            Self::NodeExists => E::NodeExists,
            Self::InvalidProof => E::InvalidProof,
            Self::InsufficientBalance => E::InsufficientBalance,
            Self::PoolUnderflow => E::PoolUnderflow,
            Self::Overflow => E::Overflow,
            Self::UnknownEscrow => E::UnknownEscrow,
            Self::EscrowNotOpen => E::EscrowNotOpen,
            Self::AlreadySettled => E::AlreadySettled,
            Self::WrongNode => E::WrongNode,
            Self::DuplicateSession => E::DuplicateSession,
            Self::SettleWindowClosed => E::SettleWindowClosed,
            Self::TotalExceedsEscrow => E::TotalExceedsEscrow,
            Self::DuplicateDeposit => E::DuplicateDeposit,
            Self::Busy => E::Busy,
            Self::RegistrationUnauthenticated => E::RegistrationUnauthenticated(text()),
            Self::SettleUnauthorized => E::SettleUnauthorized(text()),
            Self::AccountUnauthenticated => E::AccountUnauthenticated(text()),
            Self::BadNonce => E::BadNonce,
            Self::StaleNodeUpdate => E::StaleNodeUpdate,
            Self::NodeRetired => E::NodeRetired,
            Self::NodeNotRetired => E::NodeNotRetired,
            Self::StakeLocked => match nums()?.as_slice() {
                [h] => E::StakeLocked(BlockHeight(*h)),
                _ => return None,
            },
            Self::StakeReleased => E::StakeReleased,
            Self::StakeBelowCapacity => match nums()?.as_slice() {
                [stake, needed] => E::StakeBelowCapacity {
                    stake: veil_primitives::value::Value(*stake),
                    needed: veil_primitives::value::Value(*needed),
                },
                _ => return None,
            },
            Self::MonitorExists => E::MonitorExists,
            Self::NotAMonitor => E::NotAMonitor,
            Self::NotAssigned => E::NotAssigned,
            Self::ReportNotOpen => E::ReportNotOpen,
            Self::ReportExists => E::ReportExists,
            Self::MonitorRetired => E::MonitorRetired,
            Self::MonitorNotRetired => E::MonitorNotRetired,
            Self::ChallengeExists => E::ChallengeExists,
            Self::ChallengeEpoch => match nums()?.as_slice() {
                [e] => E::ChallengeEpoch(*e),
                _ => return None,
            },
            Self::UnknownChallenge => E::UnknownChallenge,
            Self::ChallengeClosed => E::ChallengeClosed,
            Self::BadChallengeAnswer => E::BadChallengeAnswer,
            Self::FaucetDisabled => E::FaucetDisabled,
            Self::Market => E::Market(rebuild_curve(args?)?),
            Self::InsufficientTokens => E::InsufficientTokens,
            Self::Unsupported => E::Unsupported(text()),
            Self::Poisoned => E::Poisoned,
            Self::UnknownRoot => E::UnknownRoot(match nums().as_deref() {
                Some([n]) => usize::try_from(*n).ok()?,
                _ => veil_primitives::merkle::ROOT_HISTORY,
            }),
            Self::VerifyingKeys
            | Self::Storage
            | Self::Corrupted
            | Self::Unavailable
            | Self::Remote => return None,
        })
    }
}

/// A curve refusal's args: the variant's snake-case name, then its values
/// (`name[;a,b]`).
fn curve_args(e: &CurveError) -> String {
    use CurveError as C;
    match e {
        C::ReserveRatio(ppm) => format!("reserve_ratio;{ppm}"),
        C::Genesis => "genesis".into(),
        C::Zero => "zero".into(),
        C::TooLarge => "too_large".into(),
        C::ExceedsCirculating {
            amount,
            circulating,
        } => {
            format!("exceeds_circulating;{amount},{circulating}")
        }
        C::BelowMinimum { got, min } => format!("below_minimum;{got},{min}"),
        C::AboveMaximum { cost, max } => format!("above_maximum;{cost},{max}"),
    }
}

/// The curve refusal of [`curve_args`]; `None` if they do not parse.
fn rebuild_curve(args: &str) -> Option<CurveError> {
    use CurveError as C;
    let (name, detail) = match args.split_once(';') {
        Some((n, d)) => (n, Some(d)),
        None => (args, None),
    };
    let pair = || -> Option<(u128, u128)> {
        let (a, b) = detail?.split_once(',')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    Some(match (name, detail) {
        ("reserve_ratio", Some(d)) => C::ReserveRatio(d.parse().ok()?),
        ("genesis", None) => C::Genesis,
        ("zero", None) => C::Zero,
        ("too_large", None) => C::TooLarge,
        ("exceeds_circulating", _) => {
            let (amount, circulating) = pair()?;
            C::ExceedsCirculating {
                amount,
                circulating,
            }
        }
        ("below_minimum", _) => {
            let (got, min) = pair()?;
            C::BelowMinimum { got, min }
        }
        ("above_maximum", _) => {
            let (cost, max) = pair()?;
            C::AboveMaximum { cost, max }
        }
        _ => return None,
    })
}

/// An `Encoding` error's args: `field;cause[;detail]`, the cause the
/// [`EncodingError`] variant's snake-case name, the detail its values
/// (`expected,actual` of a length; the text of a point or range; the
/// version byte).
fn encoding_args(field: &str, source: &EncodingError) -> String {
    use EncodingError as X;
    let (cause, detail) = match source {
        X::Length { expected, actual } => ("length", Some(format!("{expected},{actual}"))),
        X::NonCanonicalField => ("non_canonical_field", None),
        X::NotDecimal => ("not_decimal", None),
        X::NotHex => ("not_hex", None),
        X::InvalidPoint(why) => ("invalid_point", Some((*why).to_owned())),
        X::NonCanonicalScalar => ("non_canonical_scalar", None),
        X::OutOfRange(why) => ("out_of_range", Some((*why).to_owned())),
        X::Version(v) => ("version", Some(v.to_string())),
    };
    match detail {
        Some(d) => format!("{field};{cause};{d}"),
        None => format!("{field};{cause}"),
    }
}

/// The `Encoding` error of [`encoding_args`]; `None` if they do not parse.
fn rebuild_encoding(args: &str) -> Option<LedgerError> {
    use EncodingError as X;
    let mut parts = args.splitn(3, ';');
    let (field, cause, detail) = (parts.next()?, parts.next()?, parts.next());
    let source = match (cause, detail) {
        ("length", Some(d)) => {
            let (e, a) = d.split_once(',')?;
            X::Length {
                expected: e.parse().ok()?,
                actual: a.parse().ok()?,
            }
        }
        ("non_canonical_field", None) => X::NonCanonicalField,
        ("not_decimal", None) => X::NotDecimal,
        ("not_hex", None) => X::NotHex,
        ("invalid_point", Some(d)) => X::InvalidPoint(crate::intern::intern(d)),
        ("non_canonical_scalar", None) => X::NonCanonicalScalar,
        ("out_of_range", Some(d)) => X::OutOfRange(crate::intern::intern(d)),
        ("version", Some(d)) => X::Version(d.parse().ok()?),
        _ => return None,
    };
    Some(LedgerError::Encoding {
        field: crate::intern::intern(field),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_kind_has_one_distinct_name_that_reads_back() {
        let names: HashSet<_> = KIND_NAMES.iter().map(|(_, n)| *n).collect();
        let kinds: HashSet<_> = KIND_NAMES.iter().map(|(k, _)| *k).collect();
        assert_eq!(names.len(), KIND_NAMES.len(), "a name is used twice");
        assert_eq!(kinds.len(), KIND_NAMES.len(), "a kind is listed twice");
        for (k, n) in KIND_NAMES {
            assert_eq!(k.name(), n);
            assert_eq!(ErrorKind::from_name(n), Some(k));
        }
        assert_eq!(ErrorKind::from_name("no_such_kind"), None);
        assert_eq!(ErrorKind::from_name(""), None);
    }

    #[test]
    fn a_rebuilt_error_has_the_kind_it_was_rebuilt_from() {
        for (k, _) in KIND_NAMES {
            if let Some(e) = k.rebuild(None) {
                assert_eq!(ErrorKind::of(&e), k, "{e}");
            }
        }
        // The variants a caller acts on come back exactly, with their values.
        use veil_primitives::ids::BlockHeight;
        for e in [
            LedgerError::NullifierSpent,
            LedgerError::BadNonce,
            LedgerError::StaleNodeUpdate,
            LedgerError::Busy,
            LedgerError::EscrowSizeNotAccepted(veil_primitives::value::Value(2048)),
            LedgerError::NotYetReclaimable(BlockHeight(77)),
            LedgerError::StakeLocked(BlockHeight(10_321)),
            LedgerError::NodeRetired,
            LedgerError::NodeNotRetired,
            LedgerError::StakeReleased,
            LedgerError::StakeBelowCapacity {
                stake: veil_primitives::value::Value(5),
                needed: veil_primitives::value::Value(900),
            },
            LedgerError::MonitorExists,
            LedgerError::NotAMonitor,
            LedgerError::NotAssigned,
            LedgerError::ReportNotOpen,
            LedgerError::ReportExists,
            LedgerError::MonitorRetired,
            LedgerError::MonitorNotRetired,
            LedgerError::ChallengeExists,
            LedgerError::ChallengeEpoch(12),
            LedgerError::UnknownChallenge,
            LedgerError::ChallengeClosed,
            LedgerError::BadChallengeAnswer,
            LedgerError::UnknownRoot(64),
            LedgerError::ExpiryOutOfRange {
                expiry: BlockHeight(5),
                height: BlockHeight(9),
                max_delta: 100,
            },
            LedgerError::InvalidArgument("deposit value must be positive"),
            LedgerError::InsufficientTokens,
            LedgerError::Unsupported("trading on this backend"),
            LedgerError::Market(CurveError::Zero),
            LedgerError::Market(CurveError::TooLarge),
            LedgerError::Market(CurveError::Genesis),
            LedgerError::Market(CurveError::ReserveRatio(7)),
            LedgerError::Market(CurveError::BelowMinimum {
                got: u128::MAX,
                min: 1,
            }),
            LedgerError::Market(CurveError::AboveMaximum { cost: 5, max: 4 }),
            LedgerError::Market(CurveError::ExceedsCirculating {
                amount: 9,
                circulating: 8,
            }),
            LedgerError::RegistrationUnauthenticated("signature by the node key does not verify"),
            LedgerError::SettleUnauthorized("sender is not the node's operator"),
            LedgerError::AccountUnauthenticated("token allowance below the amount"),
            LedgerError::Encoding {
                field: "nullifier",
                source: EncodingError::NonCanonicalField,
            },
            LedgerError::Encoding {
                field: "proof",
                source: EncodingError::Length {
                    expected: 128,
                    actual: 127,
                },
            },
            LedgerError::Encoding {
                field: "node_key",
                source: EncodingError::InvalidPoint("not in the prime-order subgroup"),
            },
            LedgerError::Encoding {
                field: "x",
                source: EncodingError::OutOfRange("a u64; with ; inside"),
            },
            LedgerError::Encoding {
                field: "v",
                source: EncodingError::Version(7),
            },
            LedgerError::Encoding {
                field: "s",
                source: EncodingError::NonCanonicalScalar,
            },
            LedgerError::Encoding {
                field: "d",
                source: EncodingError::NotDecimal,
            },
            LedgerError::Encoding {
                field: "h",
                source: EncodingError::NotHex,
            },
        ] {
            let args = ErrorKind::args(&e);
            assert_eq!(ErrorKind::of(&e).rebuild(args.as_deref()), Some(e));
        }
        assert_eq!(ErrorKind::Storage.rebuild(None), None);
        // Values that do not parse rebuild nothing (the status message stays).
        for bad in [None, Some(""), Some("x"), Some("1,2"), Some("-1")] {
            assert_eq!(ErrorKind::EscrowSize.rebuild(bad), None, "{bad:?}");
            assert_eq!(ErrorKind::Expiry.rebuild(bad), None, "{bad:?}");
        }
        for bad in [
            None,
            Some(""),
            Some("field"),
            Some("field;no_such_cause"),
            Some("field;length"),
            Some("field;length;1"),
            Some("field;length;a,b"),
            Some("field;non_canonical_field;extra"),
            Some("field;version;256"),
        ] {
            assert_eq!(ErrorKind::Encoding.rebuild(bad), None, "{bad:?}");
        }
        for bad in [
            None,
            Some(""),
            Some("zero;1"),
            Some("below_minimum"),
            Some("below_minimum;1"),
            Some("below_minimum;a,b"),
            Some("nope"),
        ] {
            assert_eq!(ErrorKind::Market.rebuild(bad), None, "{bad:?}");
        }
        // Without args an authorisation refusal keeps a generic text.
        assert_eq!(
            ErrorKind::SettleUnauthorized.rebuild(None),
            Some(LedgerError::SettleUnauthorized(crate::intern::GENERIC))
        );
    }
}
