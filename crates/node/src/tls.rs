//! The node's TLS identity (`docs/protocol.md` §9.8, `docs/node.md`
//! "TLS"): the key and self-signed certificate in the node directory, the
//! staged next identity of a rotation (§8.3.8), and the server certificate
//! a rotation swaps while established connections keep the key they
//! handshook with.
//!
//! Rotation is driven by the ledger: `veil node rotate-tls` stages a new
//! identity ([`stage`]) and registers its hash with `UpdateNode`; the
//! running node promotes the staged files and swaps its certificate once
//! its ledger record names the staged key ([`promote_if_in_force`]), so it
//! presents a key when, and only when, clients pinning through the ledger
//! expect it.
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tonic::transport::server::{Connected, TcpConnectInfo};
use veil_primitives::secret::Zeroizing;
use veil_shape::{PADDED_FLIGHTS, Role, Shaper};

use crate::conns::LimitedConn;
use crate::keys::{KeyFileError, read_secret, write_secret};

/// The node's TLS identity, as a client pins it (§9.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// Self-signed certificate, PEM.
    pub cert_pem: String,
    /// SHA-256 of the certificate (DER).
    pub cert_sha256: [u8; 32],
    /// SHA-256 of the certificate's SubjectPublicKeyInfo (DER): the key hash
    /// registered with the ledger (`NodeRegistration::tls_key_hash`, or
    /// `NodeUpdate::tls_key_hash` after a rotation).
    pub spki_sha256: [u8; 32],
}

/// The identity a running node presents now: `None` without TLS. One
/// value, read by `GetTerms` and the node's handle, written by a rotation.
pub type CurrentTls = Arc<std::sync::RwLock<Option<TlsInfo>>>;

/// Why a TLS identity could not be made, read or served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("TLS file: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS identity: {0}")]
    Identity(String),
}

fn identity_error(e: impl std::fmt::Display) -> TlsError {
    TlsError::Identity(e.to_string())
}

/// The three files of one identity inside the node directory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TlsFiles {
    key: &'static str,
    cert: &'static str,
    der: &'static str,
}

/// The identity the node serves.
pub(crate) const CURRENT: TlsFiles = TlsFiles {
    key: "tls.key",
    cert: "tls.crt",
    der: "tls.crt.der",
};

/// The next identity of a rotation, until the ledger names it.
pub(crate) const STAGED: TlsFiles = TlsFiles {
    key: "tls.next.key",
    cert: "tls.next.crt",
    der: "tls.next.crt.der",
};

/// An identity read from its files: what a client pins and what the
/// server presents.
#[derive(Clone)]
pub(crate) struct Identity {
    pub info: TlsInfo,
    cert_der: Vec<u8>,
    /// The private key (PKCS#8 DER), wiped on drop (docs/security.md §6).
    key_der: Zeroizing<Vec<u8>>,
}

/// Writes a fresh self-signed identity (rcgen) to `files` in `dir`.
fn generate(dir: &Path, files: TlsFiles) -> Result<(), TlsError> {
    let ck =
        rcgen::generate_simple_self_signed(vec!["veil-node".to_owned(), "localhost".to_owned()])
            .map_err(identity_error)?;
    // The key is written last: its file marks a complete identity, so a
    // crash while generating leaves no key, and the next start generates
    // again (see `finish_interrupted_promotion`).
    std::fs::write(dir.join(files.cert), ck.cert.pem())?;
    std::fs::write(dir.join(files.der), ck.cert.der().as_ref())?;
    write_secret(
        &dir.join(files.key),
        ck.signing_key.serialize_pem().as_bytes(),
    )?;
    Ok(())
}

/// Reads the identity of `files` in `dir`.
fn load(dir: &Path, files: TlsFiles) -> Result<Identity, TlsError> {
    let key_pem = Zeroizing::new(
        String::from_utf8(read_secret(&dir.join(files.key))?).map_err(identity_error)?,
    );
    let cert_pem = std::fs::read_to_string(dir.join(files.cert))?;
    let cert_der = std::fs::read(dir.join(files.der))?;
    let key = rcgen::KeyPair::from_pem(&key_pem).map_err(identity_error)?;
    let info = TlsInfo {
        cert_pem,
        cert_sha256: Sha256::digest(&cert_der).into(),
        spki_sha256: Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&key)).into(),
    };
    Ok(Identity {
        info,
        cert_der,
        key_der: Zeroizing::new(key.serialize_der()),
    })
}

/// Loads the served identity from `dir`, generating one at first start.
pub(crate) fn load_or_create(dir: &Path) -> Result<Identity, TlsError> {
    finish_interrupted_promotion(dir)?;
    if !dir.join(CURRENT.key).exists() {
        generate(dir, CURRENT)?;
    }
    load(dir, CURRENT)
}

/// The staged identity of a rotation in `dir`, generated if there is none
/// (a repeated `rotate-tls` reuses it, so a retried update names the same
/// key). The node serves it once its ledger record names it.
pub fn stage(dir: &Path) -> Result<TlsInfo, TlsError> {
    finish_interrupted_promotion(dir)?;
    if !dir.join(STAGED.key).exists() {
        generate(dir, STAGED)?;
    }
    Ok(load(dir, STAGED)?.info)
}

/// Whether `dir` holds a staged identity (a rotation under way).
pub(crate) fn has_staged(dir: &Path) -> bool {
    dir.join(STAGED.key).exists()
}

/// If `dir` holds a staged identity whose key hash is `in_force` (the
/// node's ledger record), makes it the served one (renames it over the
/// current files, key last) and returns it. A crash between the renames
/// leaves the staged key in place, and the next start (or `stage`)
/// finishes the job ([`finish_interrupted_promotion`]).
pub(crate) fn promote_if_in_force(
    dir: &Path,
    in_force: [u8; 32],
) -> Result<Option<Identity>, TlsError> {
    if !has_staged(dir) {
        return Ok(None);
    }
    let staged = load(dir, STAGED)?;
    if staged.info.spki_sha256 != in_force {
        return Ok(None);
    }
    std::fs::rename(dir.join(STAGED.der), dir.join(CURRENT.der))?;
    std::fs::rename(dir.join(STAGED.cert), dir.join(CURRENT.cert))?;
    std::fs::rename(dir.join(STAGED.key), dir.join(CURRENT.key))?;
    Ok(Some(staged))
}

/// Completes a promotion that a crash cut between its renames. Staging
/// writes the key last, so a staged key whose certificate files are gone
/// can only mean that a promotion (decided once the ledger named the key)
/// had moved them: the rest is moved too, key last.
fn finish_interrupted_promotion(dir: &Path) -> Result<(), TlsError> {
    let staged = |f: &str| dir.join(f);
    if !staged(STAGED.key).exists() {
        return Ok(());
    }
    let (der, cert) = (staged(STAGED.der).exists(), staged(STAGED.cert).exists());
    if der && cert {
        return Ok(()); // a complete staged identity, not promoted yet
    }
    if der {
        std::fs::rename(staged(STAGED.der), dir.join(CURRENT.der))?;
    }
    if cert {
        std::fs::rename(staged(STAGED.cert), dir.join(CURRENT.cert))?;
    }
    std::fs::rename(staged(STAGED.key), dir.join(CURRENT.key))?;
    Ok(())
}

/// The certificate the server presents to each new handshake, swappable
/// while it serves (`rustls` [`ResolvesServerCert`]). A swap affects only
/// handshakes that start after it: an established connection keeps the
/// key it handshook with until it closes.
#[derive(Debug)]
pub(crate) struct ServerCert {
    current: RwLock<Arc<CertifiedKey>>,
}

fn certified(id: &Identity) -> Result<Arc<CertifiedKey>, TlsError> {
    // rustls keeps its own copy of the key for as long as it serves it.
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_der.to_vec()));
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(identity_error)?;
    let chain = vec![CertificateDer::from(id.cert_der.clone())];
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

impl ServerCert {
    pub(crate) fn new(id: &Identity) -> Result<Self, TlsError> {
        Ok(Self {
            current: RwLock::new(certified(id)?),
        })
    }

    /// Presents `id` to every handshake from now on.
    pub(crate) fn swap(&self, id: &Identity) -> Result<(), TlsError> {
        let next = certified(id)?;
        match self.current.write() {
            Ok(mut slot) => *slot = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(())
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let slot = match self.current.read() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        Some(slot.clone())
    }
}

/// The rustls acceptor of the node: ALPN `h2`, the certificate of `cert`,
/// no session resumption (every handshake presents the current key, and
/// clients do not resume either, §9.8).
pub(crate) fn acceptor(cert: Arc<ServerCert>) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(identity_error)?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A TLS connection on a connection slot: what the gRPC server reads, with
/// the peer address of the slot (`Request::remote_addr`). Its first
/// HTTP/2 flights are padded to size classes ([`veil_shape`]): a node
/// cannot tell whether a connection comes through an entry, so it shapes
/// every one (`docs/protocol.md` §9.9 "Traffic shape").
pub(crate) struct TlsConn(Shaper<tokio_rustls::server::TlsStream<LimitedConn>>);

/// Completes TLS handshakes of admitted connections, each in its own task
/// and within `timeout` (C6), and hands the established ones on. A failed
/// or late handshake closes the connection (its slot is freed on drop).
pub(crate) fn handshakes(
    acceptor: tokio_rustls::TlsAcceptor,
    mut conns: tokio::sync::mpsc::Receiver<Result<LimitedConn, std::io::Error>>,
    timeout: std::time::Duration,
) -> tokio::sync::mpsc::Receiver<Result<TlsConn, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(conn) = conns.recv().await {
            let Ok(conn) = conn else { continue };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(timeout, acceptor.accept(conn)).await {
                    Ok(Ok(tls)) => {
                        let shaped = Shaper::new(tls, Role::Server, PADDED_FLIGHTS);
                        let _ = tx.send(Ok(TlsConn(shaped))).await;
                    }
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            });
        }
    });
    rx
}

impl Connected for TlsConn {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.0.get_ref().get_ref().0.connect_info()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_identity_is_promoted_only_once_the_ledger_names_it() {
        let dir = tempfile::tempdir().expect("dir");
        let current = load_or_create(dir.path()).expect("current");
        let staged = stage(dir.path()).expect("staged");
        assert_ne!(staged.spki_sha256, current.info.spki_sha256);
        assert_eq!(
            stage(dir.path()).expect("again"),
            staged,
            "staging is idempotent"
        );
        // The ledger still names the current key: nothing moves.
        let none = promote_if_in_force(dir.path(), current.info.spki_sha256).expect("check");
        assert!(none.is_none());
        assert_eq!(load(dir.path(), CURRENT).expect("load").info, current.info);
        // It names the staged key: promoted, and nothing staged remains.
        let promoted = promote_if_in_force(dir.path(), staged.spki_sha256)
            .expect("promote")
            .expect("promoted");
        assert_eq!(promoted.info, staged);
        assert_eq!(load(dir.path(), CURRENT).expect("load").info, staged);
        assert!(!dir.path().join(STAGED.key).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(CURRENT.key))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the promoted key stays private");
        }
    }

    #[test]
    fn a_promotion_cut_by_a_crash_is_finished_at_the_next_start() {
        for moved in [&[STAGED.der][..], &[STAGED.der, STAGED.cert]] {
            let dir = tempfile::tempdir().expect("dir");
            let old = load_or_create(dir.path()).expect("current");
            let staged = stage(dir.path()).expect("staged");
            // The crash: some of the renames of `promote_if_in_force` done.
            for f in moved {
                let to = if f == &STAGED.der {
                    CURRENT.der
                } else {
                    CURRENT.cert
                };
                std::fs::rename(dir.path().join(f), dir.path().join(to)).expect("rename");
            }
            let restarted = load_or_create(dir.path()).expect("restart");
            assert_eq!(restarted.info, staged, "the promotion is finished");
            assert_ne!(restarted.info.spki_sha256, old.info.spki_sha256);
            assert!(!has_staged(dir.path()));
        }
    }

    #[test]
    fn a_staging_cut_by_a_crash_leaves_no_key_and_is_redone() {
        let dir = tempfile::tempdir().expect("dir");
        let current = load_or_create(dir.path()).expect("current");
        let first = stage(dir.path()).expect("staged");
        // The crash: the certificate files written, the key not yet.
        std::fs::remove_file(dir.path().join(STAGED.key)).expect("remove");
        assert!(!has_staged(dir.path()));
        assert_eq!(
            load_or_create(dir.path()).expect("restart").info,
            current.info
        );
        let again = stage(dir.path()).expect("staged again");
        assert_ne!(again, first, "a new identity, consistent with its key");
        assert_eq!(load(dir.path(), STAGED).expect("load").info, again);
    }
}
