//! Who may hold one more connection: a count per client address and one in
//! total, each with a cap, released when the connection's guard drops.
//!
//! Written by hand because nothing in tower or hyper counts *connections*
//! per address: `ConcurrencyLimit` bounds requests in flight through one
//! service, and a connection that never sends a request is not a request.
//! The counter is a plain mutex-guarded map (nothing is awaited while it is
//! held, so a std mutex is right), entries are removed when their count
//! falls to zero, so its size is bounded by the open connections.
//!
//! Addresses are counted by [`AddrKey`]: an IPv4 address, or an IPv6
//! address's /64 prefix (one subscriber gets a whole /64, so counting
//! single IPv6 addresses would let one client pose as 2^64 of them).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// What connection limits count by: an IPv4 address or an IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrKey(IpAddr);

impl AddrKey {
    /// The key of `ip` (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(ip: IpAddr) -> AddrKey {
        match ip {
            IpAddr::V4(v4) => AddrKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    AddrKey(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for AddrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Every connection the relay may hold is taken.
    #[error("the server holds as many connections as it may ({0})")]
    Total(usize),
    /// This address holds as many as one address may.
    #[error("this address holds as many connections as one address may ({0})")]
    PerAddress(usize),
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_addr: HashMap<AddrKey, usize>,
}

/// Connection counts with their caps. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Admission {
    total_cap: usize,
    per_addr_cap: usize,
    counts: Arc<Mutex<Counts>>,
}

/// One admitted connection; dropping it gives the place back.
#[derive(Debug)]
#[must_use = "the connection counts as open only while its guard lives"]
pub struct Admitted {
    counts: Arc<Mutex<Counts>>,
    key: Option<AddrKey>,
}

impl Admission {
    /// At most `total_cap` connections, `per_addr_cap` of them from one
    /// [`AddrKey`].
    pub fn new(total_cap: usize, per_addr_cap: usize) -> Admission {
        Admission {
            total_cap,
            per_addr_cap,
            counts: Arc::default(),
        }
    }

    /// The cap in total.
    pub fn total_cap(&self) -> usize {
        self.total_cap
    }

    /// The cap per address.
    pub fn per_addr_cap(&self) -> usize {
        self.per_addr_cap
    }

    /// Admits a connection from `ip`, or says which cap it hit. `exempt`
    /// addresses (trusted proxies, whose connections carry many clients)
    /// count towards the total only.
    pub fn admit(&self, ip: IpAddr, exempt: bool) -> Result<Admitted, Refused> {
        let key = AddrKey::of(ip);
        let mut counts = self.lock();
        if counts.total >= self.total_cap {
            return Err(Refused::Total(self.total_cap));
        }
        if exempt {
            counts.total += 1;
            return Ok(Admitted {
                counts: self.counts.clone(),
                key: None,
            });
        }
        let held = counts.per_addr.get(&key).copied().unwrap_or(0);
        if held >= self.per_addr_cap {
            return Err(Refused::PerAddress(self.per_addr_cap));
        }
        counts.total += 1;
        counts.per_addr.insert(key, held + 1);
        Ok(Admitted {
            counts: self.counts.clone(),
            key: Some(key),
        })
    }

    /// Connections open now: in total, and from `ip`'s key.
    pub fn open(&self, ip: IpAddr) -> (usize, usize) {
        let counts = self.lock();
        let key = AddrKey::of(ip);
        (
            counts.total,
            counts.per_addr.get(&key).copied().unwrap_or(0),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(key) = self.key
            && let Some(held) = counts.per_addr.get_mut(&key)
        {
            *held -= 1;
            if *held == 0 {
                counts.per_addr.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_gets_its_cap_and_others_still_get_in() {
        let admission = Admission::new(10, 3);
        let held: Vec<_> = (0..3)
            .map(|_| admission.admit(ip("10.0.0.1"), false).unwrap())
            .collect();
        assert_eq!(
            admission.admit(ip("10.0.0.1"), false).unwrap_err(),
            Refused::PerAddress(3)
        );
        let other = admission.admit(ip("10.0.0.2"), false).unwrap();
        assert_eq!(admission.open(ip("10.0.0.1")), (4, 3));
        drop(held);
        assert_eq!(admission.open(ip("10.0.0.1")), (1, 0));
        drop(other);
        assert!(
            admission.lock().per_addr.is_empty(),
            "no entry outlives its connections"
        );
    }

    #[test]
    fn the_total_cap_holds_for_everyone_including_exempt_proxies() {
        let admission = Admission::new(4, 4);
        let _held: Vec<_> = (1..=3)
            .map(|n| admission.admit(ip(&format!("10.0.0.{n}")), false).unwrap())
            .collect();
        let proxy = admission.admit(ip("10.9.9.9"), true).unwrap();
        assert_eq!(
            admission.admit(ip("10.0.0.7"), false).unwrap_err(),
            Refused::Total(4)
        );
        assert_eq!(
            admission.admit(ip("10.9.9.9"), true).unwrap_err(),
            Refused::Total(4)
        );
        drop(proxy);
        assert!(admission.admit(ip("10.0.0.7"), false).is_ok());
    }

    #[test]
    fn an_exempt_address_is_not_capped_per_address() {
        let admission = Admission::new(100, 2);
        let held: Vec<_> = (0..50)
            .map(|_| admission.admit(ip("10.9.9.9"), true).unwrap())
            .collect();
        assert_eq!(held.len(), 50);
    }

    #[test]
    fn ipv6_counts_by_its_64_prefix_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            AddrKey::of(ip("2001:db8:1:2:aaaa::1")),
            AddrKey::of(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            AddrKey::of(ip("2001:db8:1:2::1")),
            AddrKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            AddrKey::of(ip("::ffff:10.0.0.1")),
            AddrKey::of(ip("10.0.0.1"))
        );
        assert_eq!(
            AddrKey::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
        let admission = Admission::new(10, 1);
        let _first = admission.admit(ip("2001:db8::1"), false).unwrap();
        assert!(admission.admit(ip("2001:db8::2"), false).is_err());
    }
}
