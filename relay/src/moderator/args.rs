//! `twinline-relay moderator` flags, each with a `TWINLINE_MODERATOR_*`
//! environment override, checked into a plain [`ModeratorConfig`].
//!
//! # Why these defaults
//! A crashed relay refuses connections at once, so a probe fails in about a
//! millisecond: probing every 200 ms and calling a deployment down after 2
//! failures in a row detects a crash in 200–400 ms (well under a second)
//! while one refused or reset connection alone never moves anybody. A
//! silent loss (cable cut, black-holed packets) is only seen through the
//! timeout: probes overlap (one every interval, each given 1 s times
//! `down_after` to answer), so a silent deployment is called down about 2 s
//! after it went silent (1 s when new connections to it hang), while a
//! relay busy enough to answer in more than a second (one taking over a
//! dead node's thousand clients on a loaded machine) keeps answering and
//! stays up. Failback waits for 2 ready-and-caught-up answers in a row
//! (400 ms) so a relay flapping on restart does not pull clients back and
//! forth. A drain ends when the old relay has no clients left, or after 30 s
//! at most (clients act on `migrate` within a second; 30 s covers a slow
//! network without leaving the old relay refusing clients for long).

use crate::limits::defaults;
use crate::net::{ListenerLimits, TrustedProxies};
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::time::Duration;
use twinline_core::moderation::{Endpoint, ModerationConfig};

/// Arguments of `twinline-relay moderator`.
#[derive(Debug, clap::Args)]
pub struct ModeratorArgs {
    /// Address to serve `/v1/active`, the admin API and the status page on
    /// (port 0 picks a free one).
    #[arg(long, env = "TWINLINE_MODERATOR_LISTEN", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The primary deployment: `NAME=URL`, e.g. `primary=http://127.0.0.1:7001`.
    #[arg(long, env = "TWINLINE_MODERATOR_PRIMARY", value_parser = parse_endpoint)]
    pub primary: Endpoint,
    /// The redundant deployment: `NAME=URL`.
    #[arg(long, env = "TWINLINE_MODERATOR_REDUNDANT", value_parser = parse_endpoint)]
    pub redundant: Endpoint,
    /// Bearer token for `POST /v1/admin/active`, at least 16 characters;
    /// also sent to the relays' `/v1/admin/drain` unless
    /// `--relay-admin-token` is given. Wrong tokens are throttled per client
    /// address (10, then one a minute), as on the relays.
    #[arg(long, env = "TWINLINE_MODERATOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// The relays' admin token, if it differs from `--admin-token`.
    #[arg(
        long,
        env = "TWINLINE_MODERATOR_RELAY_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub relay_admin_token: Option<String>,
    /// Milliseconds between two health probes of a deployment.
    #[arg(
        long,
        env = "TWINLINE_MODERATOR_PROBE_INTERVAL_MS",
        default_value_t = 200
    )]
    pub probe_interval_ms: u64,
    /// Milliseconds a connection to a deployment may take; a health probe
    /// may take this times --down-after (probes overlap, one per interval,
    /// so a slow answer still counts while a silent deployment is called
    /// down after about that long).
    #[arg(
        long,
        env = "TWINLINE_MODERATOR_PROBE_TIMEOUT_MS",
        default_value_t = 1_000
    )]
    pub probe_timeout_ms: u64,
    /// Failed probes in a row before a deployment counts as down.
    #[arg(long, env = "TWINLINE_MODERATOR_DOWN_AFTER", default_value_t = 2)]
    pub down_after: u32,
    /// Ready-and-caught-up probes in a row before the primary takes over
    /// again after an outage.
    #[arg(long, env = "TWINLINE_MODERATOR_FAILBACK_AFTER", default_value_t = 2)]
    pub failback_after: u32,
    /// Longest a drain of the previously active deployment lasts, in ms.
    #[arg(
        long,
        env = "TWINLINE_MODERATOR_DRAIN_MAX_MS",
        default_value_t = 30_000
    )]
    pub drain_max_ms: u64,
    /// An origin allowed to read `/v1/active` and `/v1/status` from a browser
    /// (repeatable, or comma-separated in the environment); `*` allows any.
    /// Without any, every origin is allowed: the answer holds only names,
    /// URLs and health, which the relays publish anyway.
    #[arg(long, env = "TWINLINE_MODERATOR_ALLOW_ORIGIN", value_delimiter = ',')]
    pub allow_origin: Vec<String>,
    /// Seconds a client has to send a whole HTTP request head; an idle
    /// keep-alive connection is closed after as long.
    #[arg(
        long,
        env = "TWINLINE_MODERATOR_HEADER_TIMEOUT_SECS",
        default_value_t = defaults::HEADER_TIMEOUT_SECS
    )]
    pub header_timeout_secs: u64,
    /// Connections held at once, in total [default: derived from the file
    /// descriptor limit, as for the relay's `serve`].
    #[arg(long, env = "TWINLINE_MODERATOR_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Connections one client address (IPv4, or IPv6 /64) may hold at
    /// once; at most half the total.
    #[arg(
        long,
        env = "TWINLINE_MODERATOR_MAX_CONNECTIONS_PER_IP",
        default_value_t = defaults::MAX_CONNECTIONS_PER_IP
    )]
    pub max_connections_per_ip: usize,
    /// An address or network of a load balancer whose X-Forwarded-For /
    /// Forwarded header names the client (repeatable) [default: none].
    #[arg(
        long = "trusted-proxy",
        env = "TWINLINE_MODERATOR_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
}

/// Which browser origins may read the public answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Any origin.
    Any,
    /// Exactly these (`scheme://host[:port]`, no trailing slash).
    List(Vec<String>),
}

/// The moderator's checked configuration.
#[derive(Clone, Debug)]
pub struct ModeratorConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// The primary deployment.
    pub primary: Endpoint,
    /// The redundant deployment.
    pub redundant: Endpoint,
    /// Token required by the moderator's admin API.
    pub admin_token: String,
    /// Token sent to the relays' admin API.
    pub relay_admin_token: String,
    /// Time between probes.
    pub probe_interval: Duration,
    /// Time a probe may take.
    pub probe_timeout: Duration,
    /// The decision rules' tunables.
    pub rules: ModerationConfig,
    /// CORS.
    pub origins: AllowedOrigins,
    /// The HTTP listener's limits.
    pub listener: ListenerLimits,
}

impl ModeratorConfig {
    /// Checks the flags.
    pub fn from_args(args: ModeratorArgs) -> anyhow::Result<ModeratorConfig> {
        if args.primary.name == args.redundant.name {
            bail!(
                "--primary and --redundant are both named {:?}; deployment names must differ",
                args.primary.name
            );
        }
        if args.admin_token.trim().chars().count() < crate::config::MIN_TOKEN_CHARS {
            bail!(
                "--admin-token must be at least {} characters",
                crate::config::MIN_TOKEN_CHARS
            );
        }
        if args.probe_interval_ms == 0 || args.probe_timeout_ms == 0 {
            bail!("--probe-interval-ms and --probe-timeout-ms must be at least 1");
        }
        if args.down_after == 0 || args.failback_after == 0 {
            bail!("--down-after and --failback-after must be at least 1");
        }
        let origins = parse_origins(&args.allow_origin)?;
        Ok(ModeratorConfig {
            listen: args.listen,
            relay_admin_token: args
                .relay_admin_token
                .unwrap_or_else(|| args.admin_token.clone()),
            admin_token: args.admin_token,
            primary: args.primary,
            redundant: args.redundant,
            probe_interval: Duration::from_millis(args.probe_interval_ms),
            probe_timeout: Duration::from_millis(args.probe_timeout_ms),
            rules: ModerationConfig {
                down_after: args.down_after,
                failback_after: args.failback_after,
                drain_max: args.drain_max_ms,
                ..ModerationConfig::default()
            },
            origins,
            listener: ListenerLimits {
                header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
                max_connections: args.max_connections,
                max_connections_per_ip: args.max_connections_per_ip,
                trusted_proxies: TrustedProxies::parse(&args.trusted_proxies)
                    .map_err(anyhow::Error::msg)?,
            },
        })
    }
}

/// `NAME=URL` with an http(s) URL; a trailing slash is dropped.
pub fn parse_endpoint(text: &str) -> anyhow::Result<Endpoint> {
    let (name, url) = text
        .split_once('=')
        .with_context(|| format!("expected NAME=URL, got {text:?}"))?;
    let name = name.trim();
    let url = url.trim().trim_end_matches('/');
    if name.is_empty() {
        bail!("the deployment name in {text:?} is empty");
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        bail!("expected an http:// or https:// base URL in {text:?}");
    }
    Ok(Endpoint {
        name: name.into(),
        url: url.into(),
    })
}

fn parse_origins(given: &[String]) -> anyhow::Result<AllowedOrigins> {
    let origins: Vec<String> = given
        .iter()
        .map(|origin| origin.trim().trim_end_matches('/').to_string())
        .filter(|origin| !origin.is_empty())
        .collect();
    if origins.is_empty() || origins.iter().any(|origin| origin == "*") {
        return Ok(AllowedOrigins::Any);
    }
    for origin in &origins {
        if !(origin.starts_with("http://") || origin.starts_with("https://")) {
            bail!("--allow-origin {origin:?} is not an origin such as https://example.com");
        }
    }
    Ok(AllowedOrigins::List(origins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_name_equals_url() {
        let endpoint = parse_endpoint("eu=http://127.0.0.1:7001/").expect("valid");
        assert_eq!(endpoint.name, "eu");
        assert_eq!(endpoint.url, "http://127.0.0.1:7001");
        assert!(parse_endpoint("http://127.0.0.1:7001").is_err());
        assert!(parse_endpoint("=http://127.0.0.1:7001").is_err());
        assert!(parse_endpoint("eu=ftp://x").is_err());
    }

    #[test]
    fn origins_default_to_any_and_are_checked() {
        assert_eq!(parse_origins(&[]).expect("ok"), AllowedOrigins::Any);
        assert_eq!(
            parse_origins(&["https://a.test".into(), "*".into()]).expect("ok"),
            AllowedOrigins::Any
        );
        assert_eq!(
            parse_origins(&["https://a.test/".into()]).expect("ok"),
            AllowedOrigins::List(vec!["https://a.test".into()])
        );
        assert!(parse_origins(&["a.test".into()]).is_err());
    }
}
