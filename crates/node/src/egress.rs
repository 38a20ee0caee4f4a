//! Egress policy: which destinations the relay may connect to
//! (`docs/protocol.md` §9.4).
//!
//! A destination is allowed when its port is allowed and its *resolved*
//! address is not denied. Loopback, private, link-local, unspecified,
//! multicast and other special ranges are denied unless a CIDR in
//! `allow_ranges` explicitly contains the address (tests and the demo allow
//! `127.0.0.1/32`). The check runs on every resolved address, after DNS, so
//! a name pointing at `127.0.0.1` is denied like the literal.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A CIDR range (`10.0.0.0/8`, `::1/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Errors parsing an egress policy.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyParseError {
    #[error("invalid CIDR `{0}`")]
    Cidr(String),
    #[error("invalid port or port range `{0}`")]
    Port(String),
}

impl Cidr {
    /// A range; `prefix` must not exceed the address width.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` lies in this range (IPv4-mapped IPv6 addresses are
    /// compared as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = PolicyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PolicyParseError::Cidr(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                let addr: IpAddr = a.parse().map_err(|_| err())?;
                let prefix: u8 = p.parse().map_err(|_| err())?;
                (addr, prefix)
            }
            None => {
                let addr: IpAddr = s.parse().map_err(|_| err())?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        Cidr::new(addr, prefix).ok_or_else(err)
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rem = prefix % 8;
    if a.get(..full) != b.get(..full) {
        return false;
    }
    if rem == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rem);
    match (a.get(full), b.get(full)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Ranges no relay should reach by default: the node's own host and
/// networks behind it.
fn is_special(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => is_special_v6(v6),
    }
}

fn is_special_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        // 100.64.0.0/10 carrier-grade NAT
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        // 198.18.0.0/15 benchmarking
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        // 240.0.0.0/4 reserved
        || o[0] >= 240
}

fn is_special_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local
        || (s[0] & 0xfe00) == 0xfc00
        // fe80::/10 link local
        || (s[0] & 0xffc0) == 0xfe80
        // 2001:db8::/32 documentation
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // 64:ff9b::/96 NAT64 can reach IPv4 private space
        || (s[0] == 0x0064 && s[1] == 0xff9b)
}

/// Why a destination was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EgressDenied {
    #[error("port {0} is not allowed by the egress policy")]
    Port(u16),
    #[error("destination address is in a denied range")]
    Address,
}

/// Egress policy of a node (`docs/protocol.md` §9.4).
#[derive(Clone, Debug, Default)]
pub struct EgressPolicy {
    /// Allowed destination ports as inclusive ranges; empty = every port.
    allow_ports: Vec<(u16, u16)>,
    /// Ranges allowed even though they are special (loopback, private …).
    allow_ranges: Vec<Cidr>,
    /// Ranges always denied (checked first).
    deny_ranges: Vec<Cidr>,
}

impl EgressPolicy {
    /// Default: every port, every public address, no special range.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restricts destinations to these ports (inclusive ranges).
    pub fn with_ports(mut self, ports: impl IntoIterator<Item = (u16, u16)>) -> Self {
        self.allow_ports.extend(ports);
        self
    }

    /// Allows a range that would otherwise be denied as special.
    pub fn allow_range(mut self, cidr: Cidr) -> Self {
        self.allow_ranges.push(cidr);
        self
    }

    /// Denies a range (takes precedence over every allow).
    pub fn deny_range(mut self, cidr: Cidr) -> Self {
        self.deny_ranges.push(cidr);
        self
    }

    /// Parses the CLI form: comma-separated items, each a port (`443`), a
    /// port range (`8000-8999`), a CIDR (`127.0.0.1/32`) or an address.
    pub fn parse(spec: &str) -> Result<Self, PolicyParseError> {
        let mut policy = Self::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item.contains('.') || item.contains(':') {
                policy.allow_ranges.push(item.parse()?);
                continue;
            }
            let err = || PolicyParseError::Port(item.to_owned());
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (
                    a.parse::<u16>().map_err(|_| err())?,
                    b.parse::<u16>().map_err(|_| err())?,
                ),
                None => {
                    let p = item.parse::<u16>().map_err(|_| err())?;
                    (p, p)
                }
            };
            if lo == 0 || lo > hi {
                return Err(err());
            }
            policy.allow_ports.push((lo, hi));
        }
        Ok(policy)
    }

    /// Whether a port is allowed (checked before name resolution).
    pub fn check_port(&self, port: u16) -> Result<(), EgressDenied> {
        let ok = port != 0
            && (self.allow_ports.is_empty()
                || self
                    .allow_ports
                    .iter()
                    .any(|&(lo, hi)| (lo..=hi).contains(&port)));
        if ok {
            Ok(())
        } else {
            Err(EgressDenied::Port(port))
        }
    }

    /// Whether a resolved address may be connected to.
    pub fn check_addr(&self, ip: IpAddr) -> Result<(), EgressDenied> {
        if self.deny_ranges.iter().any(|c| c.contains(ip)) {
            return Err(EgressDenied::Address);
        }
        if is_special(ip) && !self.allow_ranges.iter().any(|c| c.contains(ip)) {
            return Err(EgressDenied::Address);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_ranges_denied_by_default() {
        let p = EgressPolicy::new();
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert_eq!(p.check_addr(ip(a)), Err(EgressDenied::Address), "{a}");
        }
        assert_eq!(p.check_addr(ip("93.184.216.34")), Ok(()));
        assert_eq!(p.check_addr(ip("2606:2800:220:1::1")), Ok(()));
    }

    #[test]
    fn explicit_allow_opens_only_that_range() {
        let p = EgressPolicy::parse("127.0.0.1/32").unwrap();
        assert_eq!(p.check_addr(ip("127.0.0.1")), Ok(()));
        assert_eq!(p.check_addr(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(p.check_addr(ip("127.0.0.2")), Err(EgressDenied::Address));
        assert_eq!(p.check_addr(ip("10.0.0.1")), Err(EgressDenied::Address));
    }

    #[test]
    fn deny_beats_allow() {
        let p = EgressPolicy::new()
            .allow_range("10.0.0.0/8".parse().unwrap())
            .deny_range("10.9.0.0/16".parse().unwrap());
        assert_eq!(p.check_addr(ip("10.1.0.1")), Ok(()));
        assert_eq!(p.check_addr(ip("10.9.0.1")), Err(EgressDenied::Address));
        let p = EgressPolicy::new().deny_range("93.184.0.0/16".parse().unwrap());
        assert_eq!(
            p.check_addr(ip("93.184.216.34")),
            Err(EgressDenied::Address)
        );
    }

    #[test]
    fn ports() {
        let p = EgressPolicy::parse("443, 8000-8010,127.0.0.1").unwrap();
        assert_eq!(p.check_port(443), Ok(()));
        assert_eq!(p.check_port(8005), Ok(()));
        assert_eq!(p.check_port(22), Err(EgressDenied::Port(22)));
        assert_eq!(
            EgressPolicy::new().check_port(0),
            Err(EgressDenied::Port(0))
        );
        assert_eq!(EgressPolicy::new().check_port(22), Ok(()));
    }

    #[test]
    fn parse_errors() {
        for bad in ["70000", "10-5", "0", "1.2.3.4/33", "::1/129", "abc", "1-x"] {
            assert!(EgressPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn cidr_contains_matches_mask(a in any::<u32>(), b in any::<u32>(), prefix in 0u8..=32) {
            let c = Cidr::new(IpAddr::V4(Ipv4Addr::from(a)), prefix).unwrap();
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
            prop_assert_eq!(c.contains(IpAddr::V4(Ipv4Addr::from(b))), a & mask == b & mask);
        }
    }
}
