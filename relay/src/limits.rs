//! Rate limits, and the one place every limit's default is written.
//!
//! A token bucket refills at a steady rate up to a burst. Buckets are
//! keyed so that what an honest crowd does passes and what one abuser
//! repeats does not:
//!
//! - A **new visitor** (a token request without a valid token) and a
//!   **WebSocket upgrade** are charged to the client address, with a burst
//!   sized for a thousand visitors behind one NAT (an office, a mobile
//!   carrier) arriving at once, or reconnecting at once after a failover:
//!   one token request and one upgrade each.
//! - A **returning visitor** (a token request with its valid token, and
//!   every visitor `hello`) is charged to its visitor id, not its address:
//!   the token proves who it is, so a NAT's other visitors never pay for it.
//! - Everything above is also charged to one **global** bucket, a ceiling
//!   for a flood spread over many addresses.
//! - Each connection has a **frame** bucket and a smaller **ping** bucket
//!   (`ws::connection`).
//!
//! A refused frame gets a `rate_limited` error and is simply not
//! processed; the client keeps it in its outbox and sends it again, so a
//! limit slows a flood without losing a message. A refused HTTP request
//! gets `429` with `Retry-After`.

use crate::net::admission::AddrKey;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use twinline_core::{ChatId, VisitorId};

/// Every limit's default. `--help`, README.md and docs/PROTOCOL.md
/// ("Limits") show these; `limits_doc` tests hold the docs to them.
pub mod defaults {
    /// Seconds a client has to send a whole HTTP request head (and the
    /// longest an idle keep-alive connection stays open).
    pub const HEADER_TIMEOUT_SECS: u64 = 5;
    /// Seconds an HTTP request may take, body included, until its answer
    /// starts.
    pub const REQUEST_TIMEOUT_SECS: u64 = 15;
    /// Connections one client address (IPv4, or IPv6 /64) may hold; at
    /// most half the total cap. A thousand visitors behind one NAT hold a
    /// WebSocket each, and for a few seconds the connection their token
    /// request came on.
    pub const MAX_CONNECTIONS_PER_IP: usize = 2_000;
    /// Seconds a WebSocket has to send `hello`.
    pub const HELLO_TIMEOUT_SECS: u64 = 10;
    /// New visitors (token requests without a valid token) plus WebSocket
    /// upgrades per client address per second.
    pub const IP_RATE: u32 = 50;
    /// ... and the burst allowed above that rate.
    pub const IP_BURST: u32 = 2_500;
    /// Token renewals plus `hello`s per visitor per second.
    pub const VISITOR_RATE: u32 = 1;
    /// ... and their burst.
    pub const VISITOR_BURST: u32 = 30;
    /// Token requests plus upgrades per second for the whole relay.
    pub const GLOBAL_RATE: u32 = 2_000;
    /// ... and their burst.
    pub const GLOBAL_BURST: u32 = 20_000;
    /// Frames per connection per second (burst five times this).
    pub const FRAME_RATE: u32 = 50;
    /// Sign-in attempts per client address: `--ip-rate` per second, and
    /// this many times it as the burst (what a wrong password costs is
    /// throttled apart, in `throttle`).
    pub const SIGN_IN_BURST_PER_RATE: u32 = 10;
    /// Chats waiting in the operators' queue that one client address may
    /// have opened (a visitor token is one chat, so one per token): as many
    /// as the connections it may hold, so a NAT's whole crowd, each visitor
    /// on its own WebSocket, can wait at once. What keeps one address from
    /// hiding other visitors is the queue's fair order, not this cap
    /// (docs/PROTOCOL.md, "The queue under abuse").
    pub const WAITING_PER_IP: usize = MAX_CONNECTIONS_PER_IP;
    /// Minutes after its visitor left (every tab closed, offline) that a
    /// waiting chat leaves the operators' queue, within
    /// `twinline_core::presence::MIN_ABANDON_MINUTES..=MAX_ABANDON_MINUTES`:
    /// long enough for a phone that lost its signal to come back, short
    /// enough that operators do not accept chats nobody is in.
    pub const VISITOR_LEFT_MINUTES: u64 = 5;
    /// File chunks (64 KiB each) visitors may upload from one client
    /// address back to back: 1,600 is 100 MiB, ten chats' worth of the
    /// largest file. Without it, one address could fill the deployment's
    /// database: every new visitor token is a new chat with its own
    /// 50 MiB of files.
    pub const UPLOAD_CHUNKS_BURST_PER_IP: u32 = 1_600;
    /// ... and the chunks it regains per second: 64 KiB/s, 225 MiB an hour.
    pub const UPLOAD_CHUNKS_RATE_PER_IP: u32 = 1;
    /// File chunks visitors may upload to the whole relay back to back
    /// (16,384 is 1 GiB): the ceiling for a flood spread over addresses.
    pub const UPLOAD_CHUNKS_BURST: u32 = 16_384;
    /// ... and the chunks it regains per second: 2 MiB/s, 7 GiB an hour.
    pub const UPLOAD_CHUNKS_RATE: u32 = 32;
    /// Pings (JSON `ping` and WebSocket ping/pong frames) per connection
    /// per second.
    pub const PING_RATE: u32 = 2;
    /// ... and their burst.
    pub const PING_BURST: u32 = 10;
}

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. `rate == 0` means unlimited.
    pub fn new(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// Takes a token if one is there.
    pub fn take(&mut self, now: Instant) -> bool {
        self.try_take(now).is_ok()
    }

    /// Takes a token, or says how long until one is there.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// Whether the bucket is full again at `now` (so forgetting it loses
    /// nothing).
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }
}

/// Buckets per key, forgotten once full again.
#[derive(Debug)]
pub struct Keyed<K> {
    rate: u32,
    burst: u32,
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

/// Most buckets kept before full ones are swept out.
const SWEEP_AT: usize = 100_000;

impl<K: Hash + Eq> Keyed<K> {
    /// `rate` per second with bursts of `burst`; rate 0 = unlimited.
    pub fn new(rate: u32, burst: u32) -> Keyed<K> {
        Keyed {
            rate,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how long until one is there.
    pub fn try_take(&self, key: K, now: Instant) -> Result<(), Duration> {
        if self.rate == 0 {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if buckets.len() >= SWEEP_AT {
            // Bound memory under a spray of keys: a full bucket is the
            // same as a new one.
            buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::new(self.rate, self.burst, now))
            .try_take(now)
    }
}

/// Buckets per client address.
pub type IpLimiter = Keyed<AddrKey>;

impl IpLimiter {
    /// Whether `ip` may do one more thing now.
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.try_take(AddrKey::of(ip), Instant::now()).is_ok()
    }
}

/// The configured rates (see [`defaults`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    /// Per address per second.
    pub ip_rate: u32,
    /// Per address burst.
    pub ip_burst: u32,
    /// Per visitor per second.
    pub visitor_rate: u32,
    /// Per visitor burst.
    pub visitor_burst: u32,
    /// Whole relay per second.
    pub global_rate: u32,
    /// Whole relay burst.
    pub global_burst: u32,
}

impl Default for Rates {
    fn default() -> Rates {
        Rates {
            ip_rate: defaults::IP_RATE,
            ip_burst: defaults::IP_BURST,
            visitor_rate: defaults::VISITOR_RATE,
            visitor_burst: defaults::VISITOR_BURST,
            global_rate: defaults::GLOBAL_RATE,
            global_burst: defaults::GLOBAL_BURST,
        }
    }
}

/// A refusal: which bucket, and when to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// `address`, `visitor` or `relay`.
    pub scope: &'static str,
    /// Whole seconds until a token is there (at least 1).
    pub retry_after_secs: u64,
}

impl Limited {
    fn new(scope: &'static str, wait: Duration) -> Limited {
        Limited {
            scope,
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    }
}

/// The relay's request-rate buckets (see the module docs).
#[derive(Debug)]
pub struct RateLimits {
    per_ip: IpLimiter,
    per_visitor: Keyed<VisitorId>,
    global: Mutex<TokenBucket>,
}

impl RateLimits {
    /// Empty buckets at these rates.
    pub fn new(rates: Rates) -> RateLimits {
        RateLimits {
            per_ip: Keyed::new(rates.ip_rate, rates.ip_burst),
            per_visitor: Keyed::new(rates.visitor_rate, rates.visitor_burst),
            global: Mutex::new(TokenBucket::new(
                rates.global_rate,
                rates.global_burst,
                Instant::now(),
            )),
        }
    }

    /// A token request without a valid token, or a WebSocket upgrade,
    /// from `ip`.
    pub fn by_address(&self, ip: IpAddr, now: Instant) -> Result<(), Limited> {
        self.per_ip
            .try_take(AddrKey::of(ip), now)
            .map_err(|wait| Limited::new("address", wait))?;
        self.global(now)
    }

    /// A token renewal or a `hello` by a visitor its token names.
    pub fn by_visitor(&self, visitor: VisitorId, now: Instant) -> Result<(), Limited> {
        self.per_visitor
            .try_take(visitor, now)
            .map_err(|wait| Limited::new("visitor", wait))?;
        self.global(now)
    }

    fn global(&self, now: Instant) -> Result<(), Limited> {
        self.global
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .try_take(now)
            .map_err(|wait| Limited::new("relay", wait))
    }
}

impl Rates {
    /// What visitors may upload, in file chunks, per client address and
    /// for the whole relay ([`defaults::UPLOAD_CHUNKS_BURST_PER_IP`] and
    /// the rest), charged through [`RateLimits::by_address`]. Operators are
    /// not charged: they signed in, and their uploads are bounded by the
    /// chat's limits. A retried chunk the relay holds already costs
    /// nothing, so an upload resumed after a failover is not charged twice.
    pub fn uploads() -> Rates {
        Rates {
            ip_rate: defaults::UPLOAD_CHUNKS_RATE_PER_IP,
            ip_burst: defaults::UPLOAD_CHUNKS_BURST_PER_IP,
            visitor_rate: 0,
            visitor_burst: 0,
            global_rate: defaults::UPLOAD_CHUNKS_RATE,
            global_burst: defaults::UPLOAD_CHUNKS_BURST,
        }
    }
}

/// The chats each client address has put in the operators' queue (its
/// visitors' first messages): a ceiling on what one address may hold
/// there at all. It is sized for a NAT crowd ([`defaults::WAITING_PER_IP`]);
/// that one address does not hide other visitors is the queue's fair order
/// (`store::reads::queue`), which takes the same addresses in turn.
///
/// An address is the client's ([`crate::net::ClientIp`], so behind a
/// `--trusted-proxy` the client the proxy names), keyed by [`AddrKey`] (an
/// IPv4 address, an IPv6 /64): the same source the fair order uses.
///
/// Kept in memory on the relay that took the message: a chat is counted
/// from its visitor's first message here until a re-check finds it no
/// longer waiting. Re-checks read the store, and only happen when an
/// address is at its cap, so the hot path is a map lookup.
#[derive(Debug)]
pub struct WaitingChats {
    cap: usize,
    by_addr: Mutex<HashMap<AddrKey, Vec<ChatId>>>,
}

impl WaitingChats {
    /// At most `cap` waiting chats per address; 0 turns the cap off.
    pub fn new(cap: usize) -> WaitingChats {
        WaitingChats {
            cap,
            by_addr: Mutex::new(HashMap::new()),
        }
    }

    /// Counts `chat` for `ip` if it is counted already or there is room;
    /// else hands back the chats counted for `ip`, to re-check.
    pub fn admit(&self, ip: IpAddr, chat: ChatId) -> Result<(), Vec<ChatId>> {
        if self.cap == 0 {
            return Ok(());
        }
        let mut by_addr = self.lock();
        let counted = by_addr.entry(AddrKey::of(ip)).or_default();
        if counted.contains(&chat) {
            return Ok(());
        }
        if counted.len() < self.cap {
            counted.push(chat);
            return Ok(());
        }
        Err(counted.clone())
    }

    /// Stops counting `gone` (chats no longer waiting) for `ip`.
    pub fn forget(&self, ip: IpAddr, gone: &[ChatId]) {
        let key = AddrKey::of(ip);
        let mut by_addr = self.lock();
        if let Some(counted) = by_addr.get_mut(&key) {
            counted.retain(|chat| !gone.contains(chat));
            if counted.is_empty() {
                by_addr.remove(&key);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AddrKey, Vec<ChatId>>> {
        self.by_addr
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Each flag with its default as the docs write it (`50/s, burst 2,500`),
/// for the test that holds README.md and docs/PROTOCOL.md to the code.
pub fn documented_defaults() -> Vec<(&'static str, String)> {
    use defaults::*;
    let rate = |rate: u32, burst: u32| {
        format!(
            "{}/s, burst {}",
            thousands(rate.into()),
            thousands(burst.into())
        )
    };
    vec![
        ("--header-timeout-secs", format!("{HEADER_TIMEOUT_SECS} s")),
        (
            "--max-connections-per-ip",
            thousands(MAX_CONNECTIONS_PER_IP as u64),
        ),
        ("--hello-timeout-secs", format!("{HELLO_TIMEOUT_SECS} s")),
        ("--ip-rate", rate(IP_RATE, IP_BURST)),
        ("--visitor-rate", rate(VISITOR_RATE, VISITOR_BURST)),
        ("--global-rate", rate(GLOBAL_RATE, GLOBAL_BURST)),
        ("--frame-rate", rate(FRAME_RATE, FRAME_RATE * 5)),
        ("--waiting-per-ip", thousands(WAITING_PER_IP as u64)),
        (
            "--visitor-left-minutes",
            format!("{VISITOR_LEFT_MINUTES} min"),
        ),
    ]
}

/// `20000` as `20,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::{Millis, Ulid};

    /// A doc that cannot go stale: every default appears, with its flag, in
    /// one row of README.md's, docs/PROTOCOL.md's and SECURITY.md's limits
    /// tables.
    #[test]
    fn the_docs_give_every_default_the_code_enforces() {
        let docs = [
            ("README.md", include_str!("../../README.md")),
            ("docs/PROTOCOL.md", include_str!("../../docs/PROTOCOL.md")),
            ("SECURITY.md", include_str!("../../SECURITY.md")),
        ];
        for (name, text) in docs {
            for (flag, default) in documented_defaults() {
                let row = text
                    .lines()
                    .find(|line| line.starts_with('|') && line.contains(&format!("`{flag}`")));
                let row = row.unwrap_or_else(|| panic!("{name} has no limits row for {flag}"));
                assert!(
                    row.contains(&format!("| {default}")),
                    "{name}: the row for {flag} should give {default}: {row}"
                );
            }
        }
        let protocol = docs[1].1;
        let budget = |b: crate::throttle::Budget| format!("| {}, then {}/h |", b.burst, b.per_hour);
        for fixed in [
            format!("| {} s |", defaults::REQUEST_TIMEOUT_SECS),
            format!(
                "| {}/s, burst {} |",
                defaults::PING_RATE,
                defaults::PING_BURST
            ),
            format!(
                "| {}/s, burst {} |",
                defaults::IP_RATE,
                defaults::IP_RATE * defaults::SIGN_IN_BURST_PER_RATE
            ),
            budget(crate::throttle::ACCOUNT_FAILURES),
            budget(crate::throttle::ADDRESS_LOGIN_FAILURES),
            budget(crate::throttle::ADDRESS_ADMIN_FAILURES),
        ] {
            assert!(protocol.contains(&fixed), "docs/PROTOCOL.md lacks {fixed}");
        }
        assert_eq!(thousands(20_000), "20,000");
        assert_eq!(thousands(50), "50");
    }

    #[test]
    fn visitors_uploads_are_bounded_per_address_then_per_relay() {
        let limits = RateLimits::new(Rates::uploads());
        let start = Instant::now();
        let one: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..defaults::UPLOAD_CHUNKS_BURST_PER_IP {
            assert!(limits.by_address(one, start).is_ok());
        }
        let refused = limits.by_address(one, start).unwrap_err();
        assert_eq!(refused.scope, "address");
        assert_eq!(refused.retry_after_secs, 1);
        // Another address of the same IPv4 has its own budget...
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        assert!(limits.by_address(other, start).is_ok());
        // ... and a second later the first regains a chunk.
        assert!(
            limits
                .by_address(one, start + Duration::from_secs(1))
                .is_ok()
        );
        // Spread over many addresses, the relay's ceiling holds.
        let mut relay_refused = None;
        for n in 0..20u32 {
            let ip = IpAddr::from([198, 51, n as u8, 1]);
            for _ in 0..defaults::UPLOAD_CHUNKS_BURST_PER_IP {
                if let Err(limited) = limits.by_address(ip, start) {
                    relay_refused = Some(limited);
                    break;
                }
            }
        }
        assert_eq!(relay_refused.map(|l| l.scope), Some("relay"));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 3, start);
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(110)));
        assert!(!bucket.take(start + Duration::from_millis(110)));
    }

    #[test]
    fn a_refusal_says_how_long_to_wait() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2, 1, start);
        assert!(bucket.take(start));
        let wait = bucket.try_take(start).unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        assert_eq!(Limited::new("x", wait).retry_after_secs, 1);
        assert_eq!(
            Limited::new("x", Duration::from_millis(2_100)).retry_after_secs,
            3
        );
    }

    #[test]
    fn ip_limits_are_per_address_and_zero_is_unlimited() {
        let limiter = IpLimiter::new(1, 10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!((0..10).all(|_| limiter.allow(a)));
        assert!(!limiter.allow(a));
        assert!(limiter.allow(b));
        let open = IpLimiter::new(0, 0);
        assert!((0..1000).all(|_| open.allow(a)));
    }

    /// The case: 1,000 visitors behind one address arrive at once
    /// (a token request and an upgrade each) and are all served; one
    /// client repeating from there is stopped after the burst.
    #[test]
    fn a_thousand_visitors_behind_one_nat_are_served_and_a_repeater_is_not() {
        let limits = RateLimits::new(Rates::default());
        let now = Instant::now();
        let nat: IpAddr = "198.51.100.1".parse().unwrap();
        let served = (0..2_000)
            .filter(|_| limits.by_address(nat, now).is_ok())
            .count();
        assert_eq!(served, 2_000);
        let repeated = (0..10_000)
            .filter(|_| limits.by_address(nat, now).is_ok())
            .count();
        assert_eq!(repeated, (defaults::IP_BURST - 2_000) as usize);
        // Their returning visitors are charged to themselves, not the
        // exhausted address.
        let visitor = VisitorId(Ulid::new(Millis(1), 7));
        assert!(limits.by_visitor(visitor, now).is_ok());
        let refused = (0..100)
            .find_map(|_| limits.by_visitor(visitor, now).err())
            .expect("one visitor repeating is stopped");
        assert_eq!(refused.scope, "visitor");
    }

    #[test]
    fn an_address_may_keep_its_cap_of_waiting_chats_and_no_more() {
        let waiting = WaitingChats::new(2);
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let chat = |n| ChatId(Ulid::new(Millis(1), n));
        assert!(waiting.admit(ip, chat(1)).is_ok());
        assert!(waiting.admit(ip, chat(2)).is_ok());
        assert!(
            waiting.admit(ip, chat(1)).is_ok(),
            "a counted chat writes on"
        );
        assert_eq!(waiting.admit(ip, chat(3)), Err(vec![chat(1), chat(2)]));
        assert!(
            waiting
                .admit("198.51.100.2".parse().unwrap(), chat(3))
                .is_ok()
        );
        waiting.forget(ip, &[chat(2)]);
        assert!(waiting.admit(ip, chat(3)).is_ok());
        assert!(WaitingChats::new(0).admit(ip, chat(9)).is_ok());
    }

    #[test]
    fn the_global_ceiling_stops_a_flood_from_many_addresses() {
        let limits = RateLimits::new(Rates {
            global_rate: 10,
            global_burst: 100,
            ..Rates::default()
        });
        let now = Instant::now();
        let served = (0..1_000u32)
            .filter(|n| {
                let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
                limits.by_address(ip, now).is_ok()
            })
            .count();
        assert_eq!(served, 100);
        assert_eq!(
            limits
                .by_address("192.0.2.1".parse().unwrap(), now)
                .unwrap_err()
                .scope,
            "relay"
        );
    }
}
