//! A minimal SOCKS5 server front end (RFC 1928): version 5, method
//! "no authentication" only, command CONNECT only, address types IPv4,
//! domain name and IPv6.
//!
//! Domain names are NOT resolved here: they are handed to the node as text
//! (the `curl --socks5-hostname` mode), so the client's resolver never sees
//! the destination. The proxy binds to loopback; it is a local front end,
//! not a public service.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const VERSION: u8 = 5;
const METHOD_NO_AUTH: u8 = 0x00;
const METHOD_NONE_ACCEPTABLE: u8 = 0xff;
const CMD_CONNECT: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;

/// A SOCKS5 reply code (RFC 1928 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reply {
    Succeeded = 0x00,
    GeneralFailure = 0x01,
    NotAllowed = 0x02,
    NetworkUnreachable = 0x03,
    HostUnreachable = 0x04,
    ConnectionRefused = 0x05,
    TtlExpired = 0x06,
    CommandNotSupported = 0x07,
    AddressTypeNotSupported = 0x08,
}

/// The destination host as the application named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IP address literal.
    Ip(IpAddr),
    /// A domain name, passed on unresolved (1..=255 bytes, printable ASCII).
    Domain(String),
}

/// A CONNECT destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: Host,
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(ip) => write!(f, "{ip}:{}", self.port),
            Host::Domain(d) => write!(f, "{d}:{}", self.port),
        }
    }
}

/// A SOCKS5 handshake failure. Where the protocol allows, the peer has
/// already been sent the matching reply.
#[derive(Debug, Error)]
pub enum SocksError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("unsupported SOCKS version {0}")]
    Version(u8),
    #[error("client offers no acceptable method (only no-auth is supported)")]
    NoAcceptableMethod,
    #[error("unsupported command {0:#04x} (only CONNECT)")]
    Command(u8),
    #[error("unsupported address type {0:#04x}")]
    AddressType(u8),
    #[error("invalid domain name")]
    Domain,
    #[error("non-zero reserved byte")]
    Reserved,
}

impl SocksError {
    /// The reply code a client should get for this error, if any is due.
    fn reply(&self) -> Option<Reply> {
        match self {
            SocksError::Command(_) => Some(Reply::CommandNotSupported),
            SocksError::AddressType(_) => Some(Reply::AddressTypeNotSupported),
            SocksError::Domain | SocksError::Reserved => Some(Reply::GeneralFailure),
            _ => None,
        }
    }
}

/// Runs the server side of the handshake up to (not including) the reply
/// to CONNECT. The caller connects to the target through the node, then
/// calls [`send_reply`].
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<Target, SocksError> {
    // Method negotiation: VER NMETHODS METHODS...
    let ver = s.read_u8().await?;
    if ver != VERSION {
        return Err(SocksError::Version(ver));
    }
    let n = s.read_u8().await?;
    let mut methods = [0u8; 255];
    let methods = methods
        .get_mut(..usize::from(n))
        .ok_or(SocksError::NoAcceptableMethod)?;
    s.read_exact(methods).await?;
    if !methods.contains(&METHOD_NO_AUTH) {
        s.write_all(&[VERSION, METHOD_NONE_ACCEPTABLE]).await?;
        return Err(SocksError::NoAcceptableMethod);
    }
    s.write_all(&[VERSION, METHOD_NO_AUTH]).await?;

    let result = read_request(s).await;
    if let Err(e) = &result
        && let Some(code) = e.reply()
    {
        send_reply(s, code).await?;
    }
    result
}

async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> Result<Target, SocksError> {
    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    let [ver, cmd, rsv, atyp] = head;
    if ver != VERSION {
        return Err(SocksError::Version(ver));
    }
    if cmd != CMD_CONNECT {
        return Err(SocksError::Command(cmd));
    }
    if rsv != 0 {
        return Err(SocksError::Reserved);
    }
    let host = match atyp {
        ATYP_IPV4 => {
            let mut a = [0u8; 4];
            s.read_exact(&mut a).await?;
            Host::Ip(IpAddr::V4(Ipv4Addr::from(a)))
        }
        ATYP_IPV6 => {
            let mut a = [0u8; 16];
            s.read_exact(&mut a).await?;
            Host::Ip(IpAddr::V6(Ipv6Addr::from(a)))
        }
        ATYP_DOMAIN => {
            let len = usize::from(s.read_u8().await?);
            let mut buf = vec![0u8; len];
            s.read_exact(&mut buf).await?;
            Host::Domain(validate_domain(buf)?)
        }
        other => return Err(SocksError::AddressType(other)),
    };
    let port = s.read_u16().await?;
    Ok(Target { host, port })
}

/// A domain must be non-empty printable ASCII without spaces; it is never
/// resolved locally.
fn validate_domain(buf: Vec<u8>) -> Result<String, SocksError> {
    if buf.is_empty() || !buf.iter().all(|b| b.is_ascii_graphic()) {
        return Err(SocksError::Domain);
    }
    String::from_utf8(buf).map_err(|_| SocksError::Domain)
}

/// Sends a reply with a zero bound address (the proxy does not reveal the
/// node-side address).
pub async fn send_reply<S: AsyncWrite + Unpin>(s: &mut S, code: Reply) -> std::io::Result<()> {
    s.write_all(&[VERSION, code as u8, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0])
        .await?;
    s.flush().await
}

/// Client side of the handshake, for tests and tools: CONNECT to `target`
/// through the SOCKS5 server on `stream`, returning the server's reply code.
pub async fn client_connect<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    target: &Target,
) -> Result<u8, SocksError> {
    s.write_all(&[VERSION, 1, METHOD_NO_AUTH]).await?;
    let mut sel = [0u8; 2];
    s.read_exact(&mut sel).await?;
    if sel != [VERSION, METHOD_NO_AUTH] {
        return Err(SocksError::NoAcceptableMethod);
    }
    let mut req = vec![VERSION, CMD_CONNECT, 0];
    match &target.host {
        Host::Ip(IpAddr::V4(a)) => {
            req.push(ATYP_IPV4);
            req.extend_from_slice(&a.octets());
        }
        Host::Ip(IpAddr::V6(a)) => {
            req.push(ATYP_IPV6);
            req.extend_from_slice(&a.octets());
        }
        Host::Domain(d) => {
            let len = u8::try_from(d.len()).map_err(|_| SocksError::Domain)?;
            req.push(ATYP_DOMAIN);
            req.push(len);
            req.extend_from_slice(d.as_bytes());
        }
    }
    req.extend_from_slice(&target.port.to_be_bytes());
    s.write_all(&req).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    let skip = match head[3] {
        ATYP_IPV4 => 4 + 2,
        ATYP_IPV6 => 16 + 2,
        ATYP_DOMAIN => usize::from(s.read_u8().await?) + 2,
        other => return Err(SocksError::AddressType(other)),
    };
    let mut rest = vec![0u8; skip];
    s.read_exact(&mut rest).await?;
    Ok(head[1])
}

impl From<SocketAddr> for Target {
    fn from(a: SocketAddr) -> Self {
        Target {
            host: Host::Ip(a.ip()),
            port: a.port(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    async fn server_sees(bytes: &[u8]) -> (Result<Target, SocksError>, Vec<u8>) {
        let (mut c, mut s) = duplex(1024);
        c.write_all(bytes).await.unwrap();
        // Half-close: the server sees end of input after `bytes`.
        c.shutdown().await.unwrap();
        let r = accept(&mut s).await;
        drop(s);
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        (r, out)
    }

    #[tokio::test]
    async fn domain_connect_is_passed_unresolved() {
        let mut msg = vec![5, 1, 0, 5, 1, 0, 3, 11];
        msg.extend_from_slice(b"example.com");
        msg.extend_from_slice(&443u16.to_be_bytes());
        let (r, out) = server_sees(&msg).await;
        assert_eq!(
            r.unwrap(),
            Target {
                host: Host::Domain("example.com".into()),
                port: 443
            }
        );
        assert_eq!(out, [5, 0]);
    }

    #[tokio::test]
    async fn ipv4_and_ipv6_connect() {
        let (r, _) = server_sees(&[5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80]).await;
        assert_eq!(r.unwrap().to_string(), "127.0.0.1:80");
        let mut msg = vec![5, 1, 0, 5, 1, 0, 4];
        msg.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        msg.extend_from_slice(&[0, 80]);
        let (r, _) = server_sees(&msg).await;
        assert_eq!(r.unwrap().to_string(), "[::1]:80");
    }

    #[tokio::test]
    async fn refuses_auth_only_clients() {
        let (r, out) = server_sees(&[5, 1, 2]).await;
        assert!(matches!(r, Err(SocksError::NoAcceptableMethod)));
        assert_eq!(out, [5, 0xff]);
    }

    #[tokio::test]
    async fn refuses_bind_and_udp_with_reply_7() {
        for cmd in [2u8, 3] {
            let (r, out) = server_sees(&[5, 1, 0, 5, cmd, 0, 1, 1, 2, 3, 4, 0, 80]).await;
            assert!(matches!(r, Err(SocksError::Command(c)) if c == cmd));
            assert_eq!(
                out.get(2..4),
                Some(&[5, Reply::CommandNotSupported as u8][..])
            );
        }
    }

    #[tokio::test]
    async fn refuses_bad_version_atyp_and_domain() {
        let (r, _) = server_sees(&[4, 1, 0]).await;
        assert!(matches!(r, Err(SocksError::Version(4))));
        let (r, out) = server_sees(&[5, 1, 0, 5, 1, 0, 9]).await;
        assert!(matches!(r, Err(SocksError::AddressType(9))));
        assert_eq!(out.get(3), Some(&(Reply::AddressTypeNotSupported as u8)));
        let (r, _) = server_sees(&[5, 1, 0, 5, 1, 0, 3, 0, 0, 80]).await;
        assert!(matches!(r, Err(SocksError::Domain)));
        let (r, _) = server_sees(&[5, 1, 0, 5, 1, 0, 3, 3, b'a', b' ', b'b', 0, 80]).await;
        assert!(matches!(r, Err(SocksError::Domain)));
        let (r, _) = server_sees(&[5, 1, 0, 5, 1, 1, 1, 1, 2, 3, 4, 0, 80]).await;
        assert!(matches!(r, Err(SocksError::Reserved)));
    }

    #[tokio::test]
    async fn truncated_input_is_an_error_not_a_panic() {
        for cut in 0..12 {
            let msg = [5u8, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80];
            let (r, _) = server_sees(&msg[..cut]).await;
            assert!(r.is_err(), "cut {cut}");
        }
    }

    #[tokio::test]
    async fn client_and_server_agree() {
        let (mut c, mut s) = duplex(1024);
        let target = Target {
            host: Host::Domain("veil.test".into()),
            port: 8080,
        };
        let t2 = target.clone();
        let server = tokio::spawn(async move {
            let got = accept(&mut s).await.unwrap();
            send_reply(&mut s, Reply::Succeeded).await.unwrap();
            got
        });
        assert_eq!(client_connect(&mut c, &t2).await.unwrap(), 0);
        assert_eq!(server.await.unwrap(), target);
    }
}
