//! The client's transport to a node: TLS pinned by the key hash the node
//! registered with the ledger (`docs/protocol.md` §9.8).
//!
//! There is no CA and no name check. A node's certificate is self-signed;
//! what identifies it is `tls_key_hash = SHA-256(SubjectPublicKeyInfo DER)`
//! in its (node-key-signed) ledger registration. The verifier here
//!
//! * accepts an end-entity certificate only if the SHA-256 of its SPKI
//!   equals the pin (intermediates, names, validity dates are ignored: the
//!   pin is the whole trust decision), and
//! * verifies the TLS 1.2 / 1.3 handshake signature with the ring
//!   provider's algorithms, so the server proves possession of the pinned
//!   key; a copied certificate is useless without it.
//!
//! Session resumption is disabled: every handshake runs the verifier.
//! Plaintext HTTP/2 exists only as [`NodeTransport::InsecurePlaintext`],
//! chosen explicitly (`--insecure-plaintext`), never by default.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use sha2::{Digest, Sha256};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::ClientError;
use crate::pin::TlsKeyHash;

/// How long establishing a connection (TCP + TLS handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// ALPN protocol the node serves (gRPC over HTTP/2).
const ALPN_H2: &[u8] = b"h2";

/// The key hash of a DER certificate: SHA-256 over its SPKI, outer
/// `SEQUENCE` included (RFC 5280 §4.1.2.7).
pub fn key_hash_of_certificate(cert_der: &[u8]) -> Result<TlsKeyHash, ClientError> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| ClientError::Tls(format!("node certificate does not parse: {e}")))?;
    let spki = cert.subject_public_key_info();
    Ok(TlsKeyHash::from_bytes(Sha256::digest(spki.as_ref()).into()))
}

/// How the client talks to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeTransport {
    /// TLS, accepting only a server key whose hash is the pin.
    Pinned(TlsKeyHash),
    /// TLS accepting any server key (handshake signatures still verified),
    /// recording the key presented. Only for the first step of
    /// [`crate::session::NodeConnection::connect_via_ledger`]: nothing but a
    /// `GetTerms` request may go over it.
    CaptureOnly,
    /// Plaintext HTTP/2: development and tests only (`--insecure-plaintext`).
    InsecurePlaintext,
}

/// A node address plus the transport policy used for every connection to it
/// (also the fresh per-stream connections of voucher-paid streams).
#[derive(Clone, Debug)]
pub struct NodeEndpoint {
    /// Normalised to `http://host:port` (tonic's internal scheme; the wire is
    /// TLS unless the transport is plaintext).
    uri: Uri,
    transport: NodeTransport,
}

/// A TLS channel and the key hash its server presented.
pub(crate) struct Connected {
    pub channel: Channel,
    /// The SPKI hash of the first handshake (`None` over plaintext).
    pub presented: Option<TlsKeyHash>,
}

impl NodeEndpoint {
    /// `url` is `https://host:port`, `http://host:port` or `host:port`; the
    /// connection is TLS pinned to `pin` whatever the scheme says.
    pub fn pinned(url: &str, pin: TlsKeyHash) -> Result<Self, ClientError> {
        Ok(Self {
            uri: normalise(url)?,
            transport: NodeTransport::Pinned(pin),
        })
    }

    /// Plaintext HTTP/2 to `url` (development and tests only).
    pub fn insecure_plaintext(url: &str) -> Result<Self, ClientError> {
        Ok(Self {
            uri: normalise(url)?,
            transport: NodeTransport::InsecurePlaintext,
        })
    }

    /// TLS that records, but does not check, the server key (see
    /// [`NodeTransport::CaptureOnly`]).
    pub(crate) fn capture_only(url: &str) -> Result<Self, ClientError> {
        Ok(Self {
            uri: normalise(url)?,
            transport: NodeTransport::CaptureOnly,
        })
    }

    /// The normalised `http://host:port` address.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The transport policy.
    pub fn transport(&self) -> NodeTransport {
        self.transport
    }

    /// Opens a gRPC channel under this endpoint's policy. A pinned
    /// connection to a server presenting another key fails with
    /// [`ClientError::PinMismatch`] before any request is sent.
    pub async fn connect(&self) -> Result<Channel, ClientError> {
        Ok(self.connect_recording().await?.channel)
    }

    /// [`Self::connect`], also returning the key hash the server presented.
    pub(crate) async fn connect_recording(&self) -> Result<Connected, ClientError> {
        if self.transport == NodeTransport::InsecurePlaintext {
            let endpoint = Endpoint::from(self.uri.clone()).connect_timeout(CONNECT_TIMEOUT);
            return Ok(Connected {
                channel: endpoint.connect().await?,
                presented: None,
            });
        }
        self.connect_over(
            |host: String, port: u16| async move {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                Ok(tcp)
            },
            0,
        )
        .await
    }

    /// [`Self::connect_recording`] over the byte streams `dial(host, port)`
    /// returns instead of TCP connections to the endpoint's address: a
    /// two-hop route's inner connection runs over a relay stream through
    /// the entry ([`crate::two_hop`], `docs/protocol.md` §9.9). The
    /// transport policy (pin, or plaintext) is this endpoint's. Over TLS,
    /// the first `padded_flights` HTTP/2 flights are padded to size classes
    /// ([`veil_shape`]; a route's inner connection pads, others do not).
    pub(crate) async fn connect_over<D, F, Io>(
        &self,
        dial: D,
        padded_flights: u32,
    ) -> Result<Connected, ClientError>
    where
        D: Fn(String, u16) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = std::io::Result<Io>> + Send,
        Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let endpoint = Endpoint::from(self.uri.clone()).connect_timeout(CONNECT_TIMEOUT);
        let pin = match self.transport {
            NodeTransport::InsecurePlaintext => {
                let service = tower::service_fn(move |uri: Uri| {
                    let dial = dial.clone();
                    async move {
                        let (host, port) = host_port(&uri)?;
                        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                            dial(host, port).await?,
                        ))
                    }
                });
                return Ok(Connected {
                    channel: endpoint.connect_with_connector(service).await?,
                    presented: None,
                });
            }
            NodeTransport::Pinned(p) => Some(p),
            NodeTransport::CaptureOnly => None,
        };
        let verifier = Arc::new(PinVerifier::new(pin));
        let connector = TlsConnector::from(Arc::new(client_config(verifier.clone())?));
        let service = tower::service_fn(move |uri: Uri| {
            let (connector, dial) = (connector.clone(), dial.clone());
            async move {
                let (host, port) = host_port(&uri)?;
                let io = dial(host.clone(), port).await?;
                // Names are not checked (the pin is); SNI carries the host as given.
                let name = ServerName::try_from(host)
                    .map_err(|e| std::io::Error::other(format!("server name: {e}")))?;
                let tls = connector.connect(name, io).await?;
                let shaped = veil_shape::Shaper::new(tls, veil_shape::Role::Client, padded_flights);
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(shaped))
            }
        });
        match endpoint.connect_with_connector(service).await {
            Ok(channel) => Ok(Connected {
                channel,
                presented: verifier.presented(),
            }),
            Err(e) => match (pin, verifier.presented()) {
                (Some(expected), Some(presented)) if expected != presented => {
                    Err(ClientError::PinMismatch {
                        expected,
                        presented,
                    })
                }
                _ => Err(ClientError::Transport(e)),
            },
        }
    }
}

/// The host (brackets of an IPv6 literal removed) and port of a node URI.
fn host_port(uri: &Uri) -> std::io::Result<(String, u16)> {
    let host = uri
        .host()
        .ok_or_else(|| std::io::Error::other("node url has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri
        .port_u16()
        .ok_or_else(|| std::io::Error::other("node url has no port"))?;
    Ok((host, port))
}

/// Accepts `https://host:port`, `http://host:port` or `host:port`; returns
/// `http://host:port` (tonic refuses `https` without its own TLS config, and
/// the TLS here is ours). A path, query or user info is refused.
fn normalise(url: &str) -> Result<Uri, ClientError> {
    let bad = |why: &str| ClientError::NodeUrl {
        url: url.to_owned(),
        reason: why.to_owned(),
    };
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        r
    } else if url.contains("://") {
        return Err(bad("scheme must be https:// or http://"));
    } else {
        url
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return Err(bad("expected host:port with no path, query or user info"));
    }
    let uri: Uri = format!("http://{authority}")
        .parse()
        .map_err(|e: http_parse::Error| bad(&e.to_string()))?;
    if uri.port_u16().is_none() {
        return Err(bad("a port is required"));
    }
    Ok(uri)
}

/// `Uri`'s parse error (tonic re-exports `Uri`, not its error type).
mod http_parse {
    pub type Error = <tonic::transport::Uri as std::str::FromStr>::Err;
}

/// The rustls client configuration: ring provider, TLS 1.2 and 1.3, ALPN h2,
/// no client certificate, no resumption, certificates judged by `verifier`.
fn client_config(verifier: Arc<PinVerifier>) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// Certificate verifier: SPKI pin instead of a CA chain (module docs).
#[derive(Debug)]
struct PinVerifier {
    /// `None`: capture only.
    pin: Option<TlsKeyHash>,
    /// Key hash of the first certificate this verifier saw.
    presented: Mutex<Option<TlsKeyHash>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinVerifier {
    fn new(pin: Option<TlsKeyHash>) -> Self {
        Self {
            pin,
            presented: Mutex::new(None),
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }

    fn presented(&self) -> Option<TlsKeyHash> {
        *self.presented.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The server presented a key other than the pinned one.
#[derive(Debug, thiserror::Error)]
#[error("node TLS key {presented} is not the pinned {expected}")]
struct PinRefused {
    expected: TlsKeyHash,
    presented: TlsKeyHash,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = key_hash_of_certificate(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        {
            let mut slot = self.presented.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(presented);
        }
        match self.pin {
            Some(expected) if expected != presented => Err(rustls::Error::InvalidCertificate(
                CertificateError::Other(rustls::OtherError(Arc::new(PinRefused {
                    expected,
                    presented,
                }))),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalise_to_http_host_port() {
        for (input, want) in [
            ("https://127.0.0.1:7200", "http://127.0.0.1:7200/"),
            ("http://127.0.0.1:7200/", "http://127.0.0.1:7200/"),
            ("node.example:443", "http://node.example:443/"),
            ("https://[::1]:7200", "http://[::1]:7200/"),
        ] {
            assert_eq!(
                normalise(input).map(|u| u.to_string()).ok().as_deref(),
                Some(want),
                "{input}"
            );
        }
    }

    #[test]
    fn bad_urls_are_refused() {
        for input in [
            "",
            "https://",
            "ftp://host:1",
            "https://host",
            "https://host:1/path",
            "https://user@host:1",
            "https://host:1?q",
            "https://host:99999",
        ] {
            assert!(
                matches!(normalise(input), Err(ClientError::NodeUrl { .. })),
                "{input:?} accepted"
            );
        }
    }

    #[test]
    fn pin_parses_exactly_64_hex_digits() {
        let h = "ab".repeat(32);
        assert_eq!(
            h.parse::<TlsKeyHash>().ok(),
            Some(TlsKeyHash::from_bytes([0xab; 32]))
        );
        assert_eq!(TlsKeyHash::from_bytes([0xab; 32]).to_string(), h);
        for bad in [
            "ab".repeat(31),
            "ab".repeat(33),
            format!("0x{}", "ab".repeat(31)),
            format!("{}zz", "ab".repeat(31)),
            format!("{}é", "a".repeat(62)),
            format!(" {}", "ab".repeat(32)),
        ] {
            assert!(bad.parse::<TlsKeyHash>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(
            key_hash_of_certificate(&[0x30, 0x03, 0x02, 0x01, 0x00]),
            Err(ClientError::Tls(_))
        ));
    }
}
