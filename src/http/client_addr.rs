//! The client's address: the TCP peer, or what a trusted reverse proxy says it is.

use std::net::IpAddr;

use actix_web::{web, HttpRequest};
use ipnet::IpNet;

use crate::state::AppState;

/// The caller's IP address. The configured `server.client_ip_header` is believed only on a
/// connection from one of `server.trusted_proxies`; anyone else could write any address there.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let server = &req.app_data::<web::Data<AppState>>()?.settings.server;
    if !is_trusted(peer, &server.trusted_proxy_nets) {
        return Some(peer.to_string());
    }
    let values = req
        .headers()
        .get_all(server.client_ip_header.as_str())
        .filter_map(|v| v.to_str().ok());
    Some(
        forwarded_client(values, &server.trusted_proxy_nets)
            .unwrap_or(peer)
            .to_string(),
    )
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    // An IPv4 client reaching a dual-stack socket shows up as ::ffff:a.b.c.d.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client named by a chain of proxy headers (`X-Forwarded-For: client, proxy1, proxy2`, or a
/// single `X-Real-IP`), read from the right: each trusted proxy appended the address it saw, so
/// the right-most address that is not a trusted proxy is the first one nobody trusted vouches
/// beyond. Anything that is not an address ends the walk: what lies left of it is unverifiable.
pub fn forwarded_client<'a>(
    values: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let hops: Vec<&str> = values.flat_map(|v| v.split(',')).map(str::trim).collect();
    let mut last_trusted = None;
    for hop in hops.iter().rev() {
        let ip = hop.parse::<IpAddr>().ok()?;
        if !is_trusted(ip, trusted) {
            return Some(ip);
        }
        last_trusted = Some(ip);
    }
    last_trusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn client(values: &[&str], trusted: &[&str]) -> Option<String> {
        forwarded_client(values.iter().copied(), &nets(trusted)).map(|ip| ip.to_string())
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            client(&["203.0.113.9"], &trusted).as_deref(),
            Some("203.0.113.9")
        );
        // A client cannot hide behind an address it wrote itself.
        assert_eq!(
            client(&["198.51.100.1, 203.0.113.9, 10.0.0.2"], &trusted).as_deref(),
            Some("203.0.113.9")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            client(&["198.51.100.1", "203.0.113.9", "10.1.2.3"], &trusted).as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(
            client(&["2001:db8::5"], &trusted).as_deref(),
            Some("2001:db8::5")
        );
    }

    #[test]
    fn garbage_or_an_all_trusted_chain_gives_no_outside_address() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(client(&["not-an-ip"], &trusted), None);
        assert_eq!(client(&["203.0.113.9, junk"], &trusted), None);
        assert_eq!(client(&[], &trusted), None);
        assert_eq!(
            client(&["10.0.0.7, 10.0.0.2"], &trusted).as_deref(),
            Some("10.0.0.7")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_blocks() {
        let trusted = nets(&["127.0.0.1/32"]);
        assert!(is_trusted("::ffff:127.0.0.1".parse().unwrap(), &trusted));
        assert!(!is_trusted("::1".parse().unwrap(), &trusted));
    }
}
