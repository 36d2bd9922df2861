//! Who is calling: the client's address, as the rate limit and the accounts' allow-lists see it.
//!
//! The client is the socket peer. Only when the peer is a reverse proxy the operator listed in
//! `[http] trusted_proxies` does `X-Forwarded-For` count, and then only as far as the chain of
//! trusted proxies reaches: reading right to left, the first address that is not a trusted proxy
//! is the client. Anything left of it was written by the client itself and proves nothing.

use std::net::{IpAddr, SocketAddr};

use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;

/// The calling client's address, put in every request's extensions by the edge middleware
/// ([`super::edge`]). Absent only where a router is served without that middleware; callers
/// decide what an unknown client means (an allow-list refuses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The client address the edge middleware found for this request, if it ran
    /// (`req.extensions()` or, in an extractor, `&parts.extensions`).
    pub fn of(extensions: &Extensions) -> Option<IpAddr> {
        extensions.get::<ClientIp>().map(|c| c.0)
    }
}

/// The client of a request that reached us from `peer`, trusting `X-Forwarded-For` only from
/// `trusted_proxies`.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let peer = peer.ip().to_canonical();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    // Several headers are one list, in order.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A hop we cannot read ends what we can believe: the last good one is the client.
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !trusted(&ip) {
            break;
        }
    }
    client
}

/// `203.0.113.7`, `2001:db8::1`, or either with a port (`203.0.113.7:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn nets(n: &[&str]) -> Vec<IpNet> {
        n.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40000)
    }

    #[test]
    fn without_trusted_proxies_the_socket_peer_is_the_client_whatever_the_headers_say() {
        let ip = client_ip(peer("198.51.100.9"), &headers(&["203.0.113.7"]), &[]);
        assert_eq!(ip.to_string(), "198.51.100.9");
    }

    #[test]
    fn a_trusted_proxy_passes_on_the_first_untrusted_address_from_the_right() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&["192.0.2.66, 203.0.113.7", "10.1.1.1"]);
        // 10.1.1.1 is another trusted hop; 203.0.113.7 reached it; 192.0.2.66 is whatever the
        // client wrote.
        let ip = client_ip(peer("10.0.0.2"), &h, &trusted);
        assert_eq!(ip.to_string(), "203.0.113.7");
    }

    #[test]
    fn an_untrusted_peer_cannot_forward_for_anyone() {
        let trusted = nets(&["10.0.0.0/8"]);
        let ip = client_ip(peer("198.51.100.9"), &headers(&["10.0.0.5"]), &trusted);
        assert_eq!(ip.to_string(), "198.51.100.9");
    }

    #[test]
    fn forwarded_addresses_may_carry_ports_and_ipv4_mapped_forms_are_ipv4() {
        let trusted = nets(&["::1/128", "127.0.0.1/32"]);
        let ip = client_ip(peer("::1"), &headers(&["[2001:db8::5]:4711"]), &trusted);
        assert_eq!(ip.to_string(), "2001:db8::5");
        let ip = client_ip(
            peer("::ffff:127.0.0.1"),
            &headers(&["::ffff:203.0.113.7"]),
            &trusted,
        );
        assert_eq!(ip.to_string(), "203.0.113.7");
    }

    #[test]
    fn an_unreadable_hop_stops_the_walk_at_the_last_readable_one() {
        let trusted = nets(&["10.0.0.0/8"]);
        let ip = client_ip(
            peer("10.0.0.2"),
            &headers(&["203.0.113.7, junk, 10.0.0.3"]),
            &trusted,
        );
        assert_eq!(ip.to_string(), "10.0.0.3");
        let ip = client_ip(peer("10.0.0.2"), &HeaderMap::new(), &trusted);
        assert_eq!(ip.to_string(), "10.0.0.2");
    }
}
