//! Where a delivery may go: the URL's shape, and which addresses a
//! subscription may reach (server-side request forgery).
//!
//! A site's admin names the URL, and the relay POSTs to it from inside its
//! data center, so a URL naming `http://169.254.169.254/` (a cloud's
//! metadata service), `http://localhost:5432/` or a private network would
//! turn the relay into the admin's probe of that network. By default such
//! targets are refused, **at connect time, on the resolved address**: the
//! name is resolved by [`GuardedResolver`] for each connection and every
//! address outside the public internet is dropped, so a name that resolves
//! to a public address when the subscription is made and to a private one
//! later (DNS rebinding) is refused all the same. A URL with an address
//! literal never reaches a resolver and is checked by [`check_literal`]
//! before each attempt. Redirects are never followed (a public target could
//! redirect inward). `[webhooks] allow_private_targets = true` lifts the
//! address rule for a relay whose receivers are on its own network (and for
//! the tests' local receiver).

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest URL a subscription may name.
pub const MAX_URL_BYTES: usize = 2048;

/// Why a URL is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Longer than [`MAX_URL_BYTES`].
    #[error("the URL has {0} bytes, the limit is {MAX_URL_BYTES}")]
    TooLong(usize),
    /// Not a URL.
    #[error("not a URL: {0}")]
    Malformed(String),
    /// Not http or https.
    #[error("the URL's scheme is {0:?}: only http and https are delivered to")]
    Scheme(String),
    /// User and password in the URL (they would be sent in the clear and
    /// shown in every listing).
    #[error("the URL may not hold a user name or password")]
    Credentials,
    /// An address outside the public internet.
    #[error(
        "{0} is a loopback, private, link-local, unique-local or unspecified address: refused unless the relay sets [webhooks] allow_private_targets"
    )]
    Private(IpAddr),
}

/// Checks a subscription's URL: its length, scheme, no credentials, and
/// (unless `allow_private`) no non-public address literal.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, TargetError> {
    if text.len() > MAX_URL_BYTES {
        return Err(TargetError::TooLong(text.len()));
    }
    let url = Url::parse(text).map_err(|error| TargetError::Malformed(error.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(TargetError::Scheme(other.to_string())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(TargetError::Malformed("no host".into()));
    }
    check_literal(&url, allow_private)?;
    Ok(url)
}

/// A URL whose host is an address literal: that address's check (a name is
/// checked by [`GuardedResolver`] when it is resolved).
pub fn check_literal(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    // The URL parser has already written every IPv4 spelling (hex,
    // decimal, octal) as dotted decimal, and IPv6 in brackets.
    let host = url.host_str().unwrap_or_default();
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return Ok(());
    };
    if allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(TargetError::Private(ip))
    }
}

/// Whether `ip` is on the public internet: not loopback, private
/// (RFC 1918), shared (RFC 6598), link-local (169.254/16, fe80::/10),
/// unique-local (fc00::/7), unspecified, multicast, broadcast or reserved,
/// also when written as an IPv4-mapped or NAT64 IPv6 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00
                || (segments[0] & 0xffc0) == 0xfe80
                || (segments[0] & 0xffc0) == 0xfec0
                || v6 == Ipv6Addr::UNSPECIFIED)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || a >= 240)
}

/// The resolver every delivery connects through: the system's, with every
/// non-public address dropped (unless allowed). A name left with none is an
/// error, and reqwest connects to nothing.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    /// `[webhooks] allow_private_targets`.
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if kept.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = match found.first() {
                    Some(addr) => Box::new(TargetError::Private(addr.ip())),
                    None => format!("{host} has no address").into(),
                };
                return Err(error);
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_addresses_are_not_public_in_any_spelling() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(text.parse().unwrap()), "{text}");
        }
        for text in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(text.parse().unwrap()), "{text}");
        }
    }

    #[test]
    fn urls_are_bounded_http_without_credentials_or_inner_literals() {
        assert!(check_url("https://hooks.example.com/twinline?x=1", false).is_ok());
        assert!(check_url("http://93.184.215.14:8080/", false).is_ok());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(
            check_url(&long, false),
            Err(TargetError::TooLong(long.len()))
        );
        assert!(matches!(
            check_url("ftp://example.com/", false),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            check_url("file:///etc/passwd", false),
            Err(TargetError::Scheme(_))
        ));
        assert_eq!(
            check_url("https://user:pw@example.com/", false),
            Err(TargetError::Credentials)
        );
        assert!(matches!(
            check_url("not a url", false),
            Err(TargetError::Malformed(_))
        ));
        for inner in [
            "http://127.0.0.1:9/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:10.0.0.1]/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://127.1/",
            "http://0/",
            "http://[::ffff:7f00:1]/",
            "http://[fd00::1]:8080/",
        ] {
            assert!(
                matches!(check_url(inner, false), Err(TargetError::Private(_))),
                "{inner}"
            );
            assert!(check_url(inner, true).is_ok(), "{inner}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_inward_is_refused_at_resolution() {
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let refused = guarded
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is refused");
        assert!(
            refused.to_string().contains("allow_private_targets"),
            "{refused}"
        );
        let allowed = GuardedResolver {
            allow_private: true,
        };
        let addrs: Vec<SocketAddr> = allowed
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
