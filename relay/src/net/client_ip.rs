//! Which address a request comes from, for per-client limits.
//!
//! Directly connected, it is the socket's peer. Behind a load balancer
//! every socket's peer is the balancer, so the balancer's
//! `X-Forwarded-For` (or RFC 7239 `Forwarded`) header names the client;
//! but anyone can send that header, so it is believed only when the peer
//! is listed with `--trusted-proxy`, and then read from the right: the
//! rightmost address that is not itself a trusted proxy is the client (the
//! ones left of it were written by the client and prove nothing). Written
//! by hand because the crates that pick a client address either trust the
//! header from anyone or take no list of trusted proxies.

use axum::http::{HeaderMap, header};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The address a request is attributed to (see the module docs), put in
/// every request's extensions by [`super::serve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Addresses and networks whose forwarding headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From `--trusted-proxy` values: addresses (`10.0.0.5`) or networks
    /// (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(values: &[String]) -> Result<TrustedProxies, String> {
        values
            .iter()
            .map(|value| {
                let value = value.trim();
                value
                    .parse::<IpNet>()
                    .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("--trusted-proxy wants an address or a network, not {value:?}")
                    })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request that arrived from `peer`.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> ClientIp {
        let mut client = canonical(peer.ip());
        if !self.contains(client) {
            return ClientIp(client);
        }
        let hops = forwarded_for(headers);
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = *ip;
                    if !self.contains(client) {
                        break;
                    }
                }
                // "unknown", an obfuscated name or garbage: nothing left
                // of it can be believed; the last trusted hop stands.
                None => break,
            }
        }
        ClientIp(client)
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The hops the headers name, leftmost (the client's claim) first; `None`
/// for an entry that is not an address. `Forwarded` wins over
/// `X-Forwarded-For` when both are present.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<_> = headers.get_all(header::FORWARDED).iter().collect();
    if !forwarded.is_empty() {
        return forwarded
            .into_iter()
            .flat_map(|value| value.to_str().unwrap_or("").split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value.trim().trim_matches('"')))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("").split(','))
        .map(|entry| parse_node(entry.trim()))
        .collect()
}

/// An address with or without a port: `192.0.2.1`, `192.0.2.1:80`,
/// `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse().ok().map(canonical);
    }
    text.parse::<SocketAddr>()
        .ok()
        .map(|addr| canonical(addr.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn peer(text: &str) -> SocketAddr {
        SocketAddr::new(text.parse().unwrap(), 40_000)
    }

    fn ip(text: &str) -> ClientIp {
        ClientIp(text.parse().unwrap())
    }

    #[test]
    fn the_header_is_ignored_from_anyone_not_trusted() {
        let none = TrustedProxies::default();
        let spoof = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            none.client_ip(peer("203.0.113.9"), &spoof),
            ip("203.0.113.9")
        );
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        assert_eq!(
            proxies.client_ip(peer("203.0.113.9"), &spoof),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.7".into()]).unwrap();
        // The client wrote "6.6.6.6" itself; the balancer appended the
        // address it saw, and an inner proxy its own.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.1.1.1")]);
        assert_eq!(
            proxies.client_ip(peer("10.0.0.5"), &chain),
            ip("198.51.100.4")
        );
        // Two headers are one list.
        let split = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.4"),
        ]);
        assert_eq!(
            proxies.client_ip(peer("192.0.2.7"), &split),
            ip("198.51.100.4")
        );
        // No header: the proxy itself.
        assert_eq!(
            proxies.client_ip(peer("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
        // Garbage stops the walk at the last trusted hop.
        let garbage = headers(&[("x-forwarded-for", "198.51.100.4, unknown")]);
        assert_eq!(
            proxies.client_ip(peer("10.0.0.5"), &garbage),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn forwarded_is_read_with_ports_quotes_and_ipv6() {
        let proxies = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
        let forwarded = headers(&[(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=198.51.100.4:80;by=127.0.0.1"#,
        )]);
        assert_eq!(
            proxies.client_ip(peer("127.0.0.1"), &forwarded),
            ip("198.51.100.4")
        );
        let v6 = headers(&[("forwarded", r#"for="[2001:db8:cafe::17]:4711""#)]);
        assert_eq!(
            proxies.client_ip(peer("127.0.0.1"), &v6),
            ip("2001:db8:cafe::17")
        );
        // A mapped peer address matches an IPv4 entry.
        assert!(proxies.contains("::ffff:127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bad_proxy_values_are_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["balancer".into()]).is_err());
    }
}
