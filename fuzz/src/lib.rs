//! The bodies of veil's fuzz targets, defined once (docs/reliability.md,
//! "Fuzzing"; docs/security.md §4). Two drivers call them:
//!
//! * the cargo-fuzz binaries `fuzz/fuzz_targets/<name>.rs` (libFuzzer, needs
//!   `-Zsanitizer`: nightly or `RUSTC_BOOTSTRAP=1`), each one line;
//! * `tests/fuzz_harness.rs` in the veil workspace (stable `cargo test`, in
//!   CI), which includes this file with `#[path]`, replays the committed
//!   corpus `fuzz/corpus/<name>/` and runs a bounded number of seeded
//!   mutations of it.
//!
//! A body panics exactly when the property it checks fails; every other
//! input returns.
#![forbid(unsafe_code)]

pub mod decoders;
pub mod ledger_grpc;
pub mod node_grpc;

/// One fuzz target: its name (the cargo-fuzz binary and the corpus
/// directory `fuzz/corpus/<name>/`) and its body.
pub struct Target {
    pub name: &'static str,
    pub body: fn(&[u8]),
}

/// Every target, in the order the harness runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "proofs_decode",
        body: decoders::proofs_decode,
    },
    Target {
        name: "primitives_decode",
        body: decoders::primitives_decode,
    },
    Target {
        name: "vouchers_decode",
        body: decoders::vouchers_decode,
    },
    Target {
        name: "ledger_proto",
        body: decoders::ledger_proto,
    },
    Target {
        name: "ledger_records",
        body: decoders::ledger_records,
    },
    Target {
        name: "client_inputs",
        body: decoders::client_inputs,
    },
    Target {
        name: "socks5_request",
        body: decoders::socks5_request,
    },
    Target {
        name: "ledger_grpc",
        body: ledger_grpc::ledger_grpc,
    },
    Target {
        name: "node_grpc",
        body: node_grpc::node_grpc,
    },
    Target {
        name: "node_relay",
        body: node_grpc::node_relay,
    },
];

/// The codes a handler may refuse untrusted input with: the client's
/// fault or the service's state, never a server fault (`Internal`,
/// `Unknown`, `DataLoss`) nor a missing method. A panicking handler task
/// surfaces as one of the latter (the ledger maps a failed blocking task
/// to `Internal`; tonic answers a dropped handler with `Unknown`).
pub fn assert_refusal(call: &str, status: &tonic::Status) {
    use tonic::Code::*;
    assert!(
        matches!(
            status.code(),
            InvalidArgument
                | NotFound
                | AlreadyExists
                | PermissionDenied
                | Unauthenticated
                | FailedPrecondition
                | OutOfRange
                | ResourceExhausted
                | DeadlineExceeded
        ),
        "{call} refused with {:?}: {}",
        status.code(),
        status.message()
    );
}

/// With `VEIL_FUZZ_TRACE=1`, prints one line per gRPC call: the handler
/// and its outcome (`None`: the bytes were not its request), so a run can
/// say which handlers and which refusals it reached.
pub fn trace(call: &str, outcome: Option<&Result<(), tonic::Status>>) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os("VEIL_FUZZ_TRACE").is_some_and(|v| v == "1")) {
        return;
    }
    match outcome {
        None => eprintln!("fuzz-trace {call} undecodable"),
        Some(Ok(())) => eprintln!("fuzz-trace {call} ok"),
        Some(Err(s)) => eprintln!("fuzz-trace {call} {:?}", s.code()),
    }
}

/// A two-thread runtime for the gRPC targets' services and their blocking
/// pools; one per process, shared by every input.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("fuzz runtime: {e}"),
    }
}
