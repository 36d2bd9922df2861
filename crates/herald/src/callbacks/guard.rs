//! The SSRF guard: callbacks go to URLs customers choose, so without a guard a customer could make
//! Herald request its own admin endpoints, the cloud metadata service or anything else on the
//! operator's internal network.
//!
//! Addresses in private, loopback, link-local, unique-local, shared (CGNAT), unspecified,
//! reserved, broadcast and multicast ranges are refused unless inside an operator-allowed
//! network. The check runs inside the HTTP client's DNS resolver ([`GuardedResolver`]), so the
//! addresses checked are exactly the addresses connected to: a DNS answer cannot change between
//! check and connect. Hosts written as IP literals never reach a resolver and are checked with
//! [`check_literal_host`] before the request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use ipnet::IpNet;

/// A callback target the guard refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "callback host {host} resolves to {addr}, a non-public address outside callbacks.allow_networks"
    )]
    Address { host: String, addr: IpAddr },
    #[error("callback host {host} did not resolve: {reason}")]
    Unresolved { host: String, reason: String },
}

/// Which addresses callbacks may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow: Arc<Vec<IpNet>>,
}

impl AddressPolicy {
    pub fn new(allow_networks: Vec<IpNet>) -> Self {
        Self {
            allow: Arc::new(allow_networks),
        }
    }

    pub fn permits(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        is_public(addr) || self.allow.iter().any(|net| net.contains(&addr))
    }
}

/// An IPv4 address written in IPv6 form (`::ffff:10.0.0.1`) is judged as the IPv4 address it is.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Globally routable unicast, as far as a callback is concerned.
pub fn is_public(addr: IpAddr) -> bool {
    match canonical(addr) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [b0, b1, ..] = a.octets();
    !(a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_multicast()
        || a.is_broadcast()
        || a.is_documentation()
        || b0 == 0 // "this network"
        || (b0 == 100 && (64..128).contains(&b1)) // shared address space (CGNAT)
        || (b0 == 192 && b1 == 0 && a.octets()[2] == 0) // IETF protocol assignments
        || (b0 == 198 && (18..20).contains(&b1)) // benchmarking
        || b0 >= 240) // reserved
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s0 = a.segments()[0];
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (s0 & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s0 & 0xffc0) == 0xfe80 // link local fe80::/10
        || (s0 & 0xffc0) == 0xfec0 // site local (deprecated) fec0::/10
        || s0 == 0x2001 && a.segments()[1] == 0x0db8 // documentation
        || is_embedded_private_v4(a))
}

/// NAT64 (`64:ff9b::/96`) and IPv4-compatible addresses carry an IPv4 address that decides.
fn is_embedded_private_v4(a: Ipv6Addr) -> bool {
    let seg = a.segments();
    let embedded = Ipv4Addr::new(
        (seg[6] >> 8) as u8,
        seg[6] as u8,
        (seg[7] >> 8) as u8,
        seg[7] as u8,
    );
    let nat64 = seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let compatible = seg[..6] == [0; 6];
    (nat64 || compatible) && !is_public_v4(embedded)
}

/// Checks a URL host that is an IP literal (`http://10.0.0.1/`, `http://[::1]/`); names are left
/// to [`GuardedResolver`].
pub fn check_literal_host(host: &str, policy: &AddressPolicy) -> Result<(), Refused> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(addr) if !policy.permits(addr) => Err(Refused::Address {
            host: host.to_owned(),
            addr,
        }),
        _ => Ok(()),
    }
}

/// A DNS resolver that hands the HTTP client only permitted addresses. When a name resolves to
/// both permitted and refused addresses, the whole name is refused: a mixed answer is how DNS
/// rebinding attacks look.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: AddressPolicy,
}

impl GuardedResolver {
    pub fn new(policy: AddressPolicy) -> Self {
        Self { policy }
    }

    pub async fn resolve_checked(&self, host: &str) -> Result<Vec<SocketAddr>, Refused> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| Refused::Unresolved {
                host: host.to_owned(),
                reason: e.to_string(),
            })?
            .collect();
        if let Some(bad) = addrs.iter().find(|a| !self.policy.permits(a.ip())) {
            return Err(Refused::Address {
                host: host.to_owned(),
                addr: bad.ip(),
            });
        }
        if addrs.is_empty() {
            return Err(Refused::Unresolved {
                host: host.to_owned(),
                reason: "no addresses".to_owned(),
            });
        }
        Ok(addrs)
    }
}

/// The resolver of the callback client's connector (`client.rs`): every name it connects to
/// is resolved here.
impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Refused>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Refused>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.resolve_checked(name.as_str()).await?.into_iter()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_permitted() {
        let p = AddressPolicy::default();
        for a in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:2800:220:1:248:1893:25c8:1946",
            "::ffff:8.8.8.8",
        ] {
            assert!(p.permits(ip(a)), "{a}");
        }
    }

    #[test]
    fn private_loopback_link_local_and_other_internal_addresses_are_refused() {
        let p = AddressPolicy::default();
        for a in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!p.permits(ip(a)), "{a}");
        }
    }

    #[test]
    fn allowed_networks_open_exactly_their_range() {
        let p = AddressPolicy::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        assert!(p.permits(ip("127.0.0.1")));
        assert!(p.permits(ip("::ffff:127.0.0.1")));
        assert!(p.permits(ip("::1")));
        assert!(!p.permits(ip("10.0.0.1")));
        assert!(!p.permits(ip("169.254.169.254")));
    }

    #[test]
    fn ip_literal_hosts_are_checked_before_any_request() {
        let p = AddressPolicy::default();
        assert!(matches!(
            check_literal_host("169.254.169.254", &p),
            Err(Refused::Address { .. })
        ));
        assert!(check_literal_host("[::1]", &p).is_err());
        assert!(check_literal_host("8.8.8.8", &p).is_ok());
        assert!(
            check_literal_host("example.com", &p).is_ok(),
            "names go to the resolver"
        );
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        let refused = GuardedResolver::new(AddressPolicy::default());
        assert!(matches!(
            refused.resolve_checked("localhost").await,
            Err(Refused::Address { .. })
        ));
        let allowed = GuardedResolver::new(AddressPolicy::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]));
        let addrs = allowed.resolve_checked("localhost").await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
