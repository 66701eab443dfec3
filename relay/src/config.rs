//! A relay's configuration: clap flags, each with a `TWINLINE_*` environment
//! override, on top of an optional TOML file.
//!
//! Precedence is flag > environment > file > default. clap resolves the first
//! two (its `env` feature), so a value it reports as absent falls back to the
//! file; the merged result is a plain [`Config`] the rest of the relay reads
//! and never looks at the command line again.

use crate::console_page::WebOrigin;
use crate::store::Location;
use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use twinline_core::presence;
use twinline_core::protocol::DeploymentRole;

use crate::limits::{Rates, defaults};
use crate::net::{ListenerLimits, TrustedProxies};

/// Arguments of `twinline-relay serve`.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (flags and env win over it).
    #[arg(long, env = "TWINLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "TWINLINE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// This deployment's name, shown to clients and the moderator.
    #[arg(long, env = "TWINLINE_NAME")]
    pub name: Option<String>,
    /// This deployment's role: primary or redundant.
    #[arg(long, env = "TWINLINE_ROLE", value_parser = parse_role)]
    pub role: Option<DeploymentRole>,
    /// Directory for this deployment's SQLite store (with --database-url:
    /// node-local files only; nothing another node needs lives there).
    #[arg(long, env = "TWINLINE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the deployment's state in this PostgreSQL database instead of
    /// SQLite, making this relay one node of a deployment of any number:
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE. The relay creates and
    /// migrates the schema when it starts.
    #[arg(long, env = "TWINLINE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// This node's name within its deployment (with --database-url; unique
    /// per node, shown in logs and the X-Twinline-Node header). Default: a
    /// random one per start.
    #[arg(long, env = "TWINLINE_NODE")]
    pub node: Option<String>,
    /// Base URL of the other deployment (replication and migrate targets).
    #[arg(long, env = "TWINLINE_PEER")]
    pub peer: Option<String>,
    /// Name of the other deployment (not `webhooks`: that name is the
    /// webhook sender's place in the feed).
    #[arg(long, env = "TWINLINE_PEER_NAME")]
    pub peer_name: Option<String>,
    /// Base URL of the moderator, as browsers reach it. The operator console
    /// served here asks it which deployment is active and may connect to it
    /// (and to this relay and --peer) only.
    #[arg(long, env = "TWINLINE_MODERATOR_URL")]
    pub moderator_url: Option<String>,
    /// Secret shared by both deployments: signs tokens, guards replication.
    #[arg(long, env = "TWINLINE_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Bearer token for /v1/admin/* and /metrics, at least 16 characters.
    /// Wrong tokens are throttled per address (10, then one a minute).
    #[arg(long, env = "TWINLINE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// A second bearer token that opens /metrics only (for a Prometheus
    /// scraper that should not hold the admin token); at least 16
    /// characters. Without it /metrics wants the admin token.
    #[arg(long, env = "TWINLINE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// A site and its allowed origins: `demo=http://localhost:8080,http://127.0.0.1:8080`.
    /// Repeatable.
    #[arg(long = "site", env = "TWINLINE_SITES", value_delimiter = ';')]
    pub sites: Vec<String>,
    /// Directory of static assets served at / (loader, widget bundles,
    /// console), as scripts/build-widget.sh writes it: FILE.br and FILE.gz
    /// beside a file are sent by Accept-Encoding, NAME.<16 hex>.EXT is
    /// served immutable for a year, other names revalidate after a minute.
    #[arg(long, env = "TWINLINE_WWW")]
    pub www: Option<PathBuf>,
    /// Limits on what one client may hold or do (docs/PROTOCOL.md, "Limits").
    #[command(flatten)]
    pub limits: LimitArgs,
    /// A site's retention period: `demo=30` erases its closed chats and its
    /// offline notes once older than 30 days, on both deployments, as
    /// erasures do (1 to 36500 days). Repeatable; off by default.
    #[arg(long = "retention", env = "TWINLINE_RETENTION", value_delimiter = ';')]
    pub retention: Vec<String>,
    /// Minutes between two retention sweeps (each takes at most 20 batches
    /// of 200 chats and notes per site) [default: 10].
    #[arg(long, env = "TWINLINE_RETENTION_EVERY_MINUTES")]
    pub retention_every_minutes: Option<u64>,
    /// Minutes after the visitor left (closed every tab, went offline) that
    /// a waiting chat leaves the operators' queue, on both deployments; it
    /// comes back if the visitor does (1 to 1440).
    #[arg(long, env = "TWINLINE_VISITOR_LEFT_MINUTES", help = format!(
        "Minutes after the visitor left (closed every tab, went offline) that a waiting \
         chat leaves the operators' queue, on both deployments; it comes back if the \
         visitor does (1 to 1440) [default: {}]",
        defaults::VISITOR_LEFT_MINUTES))]
    pub visitor_left_minutes: Option<u64>,
    /// Webhook delivery (docs/API.md, "Webhooks").
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    /// The transcript by email (README, "The transcript by email").
    #[command(flatten)]
    pub mail: MailArgs,
}

/// The `[mail]` flags of `serve`.
#[derive(Debug, Default, clap::Args)]
pub struct MailArgs {
    /// The SMTP server transcripts are sent through: `smtp://host:25`
    /// (plain; `?tls=opportunistic` for STARTTLS when offered,
    /// `?tls=required` to insist), `smtps://host:465` (TLS), credentials as
    /// `smtp://user:password@host`. Without it (and --mail-from) this
    /// deployment offers no transcript by email and refuses the request
    #[arg(long, env = "TWINLINE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The transcripts' sender (From): `Demo <chat@demo.example>` or an address
    #[arg(long, env = "TWINLINE_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Where replies to a transcript go (Reply-To) [default: the sender]
    #[arg(long, env = "TWINLINE_MAIL_REPLY_TO")]
    pub mail_reply_to: Option<String>,
}

/// The `[mail]` table of the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MailFile {
    smtp_url: Option<String>,
    from: Option<String>,
    reply_to: Option<String>,
}

/// The `[webhooks]` flags of `serve`.
#[derive(Debug, Default, clap::Args)]
pub struct WebhookArgs {
    /// Deliver webhooks to loopback, private (RFC 1918), link-local
    /// (169.254.0.0/16, fe80::/10), unique-local (fc00::/7) and unspecified
    /// addresses too, checked on the resolved address at connect time
    /// [default: false: refused, so a subscription cannot reach the relay's
    /// own network]
    #[arg(
        long,
        env = "TWINLINE_WEBHOOKS_ALLOW_PRIVATE_TARGETS",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub webhooks_allow_private_targets: Option<bool>,
    #[arg(long, env = "TWINLINE_WEBHOOKS_RETRY_BASE_MS", help = format!(
        "Milliseconds before the first retry of a failed webhook delivery, doubled after \
         each failure up to an hour (plus up to a quarter of jitter); retried for 24 hours, \
         then failed [default: {}]",
        crate::webhooks::Settings::default().retry_base_ms))]
    pub webhooks_retry_base_ms: Option<u64>,
    #[arg(long, env = "TWINLINE_WEBHOOKS_HANDOVER_MS", help = format!(
        "Milliseconds the other deployment holds a pending webhook delivery whose owner's \
         lease ran out before it delivers it itself (docs/PROTOCOL.md, \"Webhooks\") \
         [default: {}]",
        crate::webhooks::Settings::default().handover_ms))]
    pub webhooks_handover_ms: Option<u64>,
}

/// The `[webhooks]` table of the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhooksFile {
    allow_private_targets: Option<bool>,
    retry_base_ms: Option<u64>,
    handover_ms: Option<u64>,
}

/// The limit flags of `serve`; each default is in [`defaults`] and shown
/// by `--help`.
#[derive(Debug, Default, clap::Args)]
pub struct LimitArgs {
    #[arg(long, env = "TWINLINE_HEADER_TIMEOUT_SECS", help = format!(
        "Seconds a client has to send a whole HTTP request head; an idle \
         keep-alive connection is closed after as long [default: {}]",
        defaults::HEADER_TIMEOUT_SECS))]
    pub header_timeout_secs: Option<u64>,
    #[arg(
        long,
        env = "TWINLINE_MAX_CONNECTIONS",
        help = "Connections held at once, in total [default: derived from the file descriptor \
         limit, which is raised to its hard limit at start: the limit less a tenth (at \
         least 128) and 64 for refusals]"
    )]
    pub max_connections: Option<usize>,
    #[arg(long, env = "TWINLINE_MAX_CONNECTIONS_PER_IP", help = format!(
        "Connections one client address (IPv4, or IPv6 /64) may hold at once; at most \
         half the total; 0 turns this cap off [default: {}]",
        defaults::MAX_CONNECTIONS_PER_IP))]
    pub max_connections_per_ip: Option<usize>,
    /// An address or network (`10.0.0.0/8`) of a load balancer whose
    /// X-Forwarded-For / Forwarded header names the client; never believed
    /// from anyone else. Repeatable [default: none].
    #[arg(
        long = "trusted-proxy",
        env = "TWINLINE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    #[arg(long, env = "TWINLINE_HELLO_TIMEOUT_SECS", help = format!(
        "Seconds a WebSocket has to send hello before it is closed (1008) [default: {}]",
        defaults::HELLO_TIMEOUT_SECS))]
    pub hello_timeout_secs: Option<u64>,
    #[arg(long, env = "TWINLINE_IP_RATE", help = format!(
        "New visitors (token requests without a valid token) plus WebSocket upgrades \
         per client address per second; 0 turns the limit off [default: {}]",
        defaults::IP_RATE))]
    pub ip_rate: Option<u32>,
    #[arg(long, env = "TWINLINE_IP_BURST", help = format!(
        "The burst allowed above --ip-rate, sized for many visitors behind one NAT \
         [default: {}]",
        defaults::IP_BURST))]
    pub ip_burst: Option<u32>,
    #[arg(long, env = "TWINLINE_VISITOR_RATE", help = format!(
        "Token renewals plus hellos per visitor per second; 0 turns the limit off \
         [default: {}]",
        defaults::VISITOR_RATE))]
    pub visitor_rate: Option<u32>,
    #[arg(long, env = "TWINLINE_VISITOR_BURST", help = format!(
        "The burst allowed above --visitor-rate [default: {}]",
        defaults::VISITOR_BURST))]
    pub visitor_burst: Option<u32>,
    #[arg(long, env = "TWINLINE_GLOBAL_RATE", help = format!(
        "Token requests plus WebSocket upgrades per second for the whole relay; 0 turns \
         the limit off [default: {}]",
        defaults::GLOBAL_RATE))]
    pub global_rate: Option<u32>,
    #[arg(long, env = "TWINLINE_GLOBAL_BURST", help = format!(
        "The burst allowed above --global-rate [default: {}]",
        defaults::GLOBAL_BURST))]
    pub global_burst: Option<u32>,
    #[arg(long, env = "TWINLINE_FRAME_RATE", help = format!(
        "Frames a connection may send per second (burst five times this); 0 turns the \
         limit off [default: {}]",
        defaults::FRAME_RATE))]
    pub frame_rate: Option<u32>,
    #[arg(long, env = "TWINLINE_WAITING_PER_IP", help = format!(
        "Chats waiting in the operators' queue that visitors from one client address \
         (IPv4, or IPv6 /64) may have opened, sized for a NAT's crowd; a visitor's first \
         message past it gets rate_limited (and is sent again later); 0 turns the cap \
         off. The queue takes addresses in turn either way [default: {}]",
        defaults::WAITING_PER_IP))]
    pub waiting_per_ip: Option<usize>,
}

/// The file form of [`ServeArgs`]: same names, snake_case keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    name: Option<String>,
    role: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    node: Option<String>,
    peer: Option<String>,
    peer_name: Option<String>,
    moderator_url: Option<String>,
    secret: Option<String>,
    admin_token: Option<String>,
    metrics_token: Option<String>,
    #[serde(default)]
    sites: BTreeMap<String, Vec<String>>,
    www: Option<PathBuf>,
    header_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    hello_timeout_secs: Option<u64>,
    ip_rate: Option<u32>,
    ip_burst: Option<u32>,
    visitor_rate: Option<u32>,
    visitor_burst: Option<u32>,
    global_rate: Option<u32>,
    global_burst: Option<u32>,
    frame_rate: Option<u32>,
    waiting_per_ip: Option<usize>,
    /// `[retention]`: site = days.
    #[serde(default)]
    retention: BTreeMap<String, u32>,
    retention_every_minutes: Option<u64>,
    visitor_left_minutes: Option<u64>,
    #[serde(default)]
    webhooks: WebhooksFile,
    #[serde(default)]
    mail: MailFile,
}

/// The peer deployment.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Its name.
    pub name: String,
    /// Its base URL, without a trailing slash.
    pub url: String,
}

/// Everything a relay needs to know, merged and checked.
#[derive(Clone, Debug)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// This deployment's name.
    pub name: String,
    /// This deployment's role.
    pub role: DeploymentRole,
    /// Store directory (node-local with a database URL).
    pub data_dir: PathBuf,
    /// The deployment's PostgreSQL database, if it has one.
    pub database_url: Option<String>,
    /// This node's name (with a database URL).
    pub node: String,
    /// The other deployment, if any.
    pub peer: Option<Peer>,
    /// The moderator's base URL (for the console), without a trailing slash.
    pub moderator_url: Option<String>,
    /// Shared secret (tokens, replication).
    pub secret: String,
    /// Admin bearer token.
    pub admin_token: String,
    /// Bearer token for /metrics only, if set.
    pub metrics_token: Option<String>,
    /// Allowed origins per site id.
    pub sites: BTreeMap<String, Vec<String>>,
    /// Static asset directory.
    pub www: PathBuf,
    /// The HTTP listener's limits.
    pub listener: ListenerLimits,
    /// Time a WebSocket has to send `hello`.
    pub hello_timeout: Duration,
    /// Request-rate buckets.
    pub rates: Rates,
    /// Per-connection frame rate (0 = off).
    pub frame_rate: u32,
    /// Waiting chats per client address (0 = off).
    pub waiting_per_ip: usize,
    /// Retention period in days per site (a site absent keeps everything).
    pub retention: BTreeMap<String, u32>,
    /// Time between two retention sweeps.
    pub retention_every: Duration,
    /// Milliseconds after the visitor left that a waiting chat leaves the
    /// queue (`twinline_core::presence::waits`).
    pub visitor_left_ms: u64,
    /// Webhook delivery (`[webhooks]`).
    pub webhooks: crate::webhooks::Settings,
    /// The transcript by email (`[mail]`), if this deployment sends it.
    pub mail: Option<crate::mail::Settings>,
}

/// The longest retention period accepted, in days (100 years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

fn parse_retention(text: &str) -> anyhow::Result<(String, u32)> {
    let Some((site, days)) = text.split_once('=') else {
        bail!("--retention wants SITE=DAYS, got {text:?}");
    };
    let days: u32 = days
        .trim()
        .parse()
        .with_context(|| format!("--retention {text:?}: days"))?;
    Ok((site.trim().to_string(), days))
}

/// Refuses a retention period outside 1 to [`MAX_RETENTION_DAYS`] days.
pub fn check_retention(site: &str, days: u32) -> anyhow::Result<()> {
    if !(1..=MAX_RETENTION_DAYS).contains(&days) {
        bail!("retention of site {site:?}: {days} days; 1 to {MAX_RETENTION_DAYS}");
    }
    Ok(())
}

/// Checks `--visitor-left-minutes` against its bounds (docs/PROTOCOL.md,
/// "Limits").
pub fn check_visitor_left(minutes: u64) -> anyhow::Result<u64> {
    let bounds = presence::MIN_ABANDON_MINUTES..=presence::MAX_ABANDON_MINUTES;
    if !bounds.contains(&minutes) {
        bail!(
            "visitor_left_minutes: {minutes}; {} to {}",
            bounds.start(),
            bounds.end()
        );
    }
    Ok(minutes)
}

/// Shortest admin or metrics token accepted: guessing one must be as hopeless
/// as guessing the shared secret.
pub const MIN_TOKEN_CHARS: usize = 16;

fn check_token(what: &str, token: &str) -> anyhow::Result<()> {
    if token.trim().chars().count() < MIN_TOKEN_CHARS {
        bail!("{what} must be at least {MIN_TOKEN_CHARS} characters");
    }
    Ok(())
}

fn parse_role(text: &str) -> Result<DeploymentRole, String> {
    match text {
        "primary" => Ok(DeploymentRole::Primary),
        "redundant" => Ok(DeploymentRole::Redundant),
        other => Err(format!("role must be primary or redundant, not {other:?}")),
    }
}

fn parse_site(text: &str) -> anyhow::Result<(String, Vec<String>)> {
    let Some((site, origins)) = text.split_once('=') else {
        bail!("--site wants SITE=ORIGIN[,ORIGIN...], got {text:?}");
    };
    let origins = origins
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .collect();
    Ok((site.trim().to_string(), origins))
}

impl Config {
    /// Merges flags, environment and the optional file.
    pub fn from_args(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let role = match (args.role, file.role.as_deref()) {
            (Some(role), _) => role,
            (None, Some(text)) => parse_role(text).map_err(anyhow::Error::msg)?,
            (None, None) => DeploymentRole::Primary,
        };
        let name = args
            .name
            .or(file.name)
            .unwrap_or_else(|| role_name(role).to_string());
        let mut sites = file.sites;
        for site in &args.sites {
            let (id, origins) = parse_site(site)?;
            sites.insert(id, origins);
        }
        let mut retention = file.retention;
        for text in &args.retention {
            let (site, days) = parse_retention(text)?;
            retention.insert(site, days);
        }
        for (site, days) in &retention {
            check_retention(site, *days)?;
        }
        let retention_every_minutes = args
            .retention_every_minutes
            .or(file.retention_every_minutes);
        let visitor_left_minutes = check_visitor_left(
            args.visitor_left_minutes
                .or(file.visitor_left_minutes)
                .unwrap_or(defaults::VISITOR_LEFT_MINUTES),
        )?;
        let peer_url = args.peer.or(file.peer);
        let peer = peer_url.map(|url| Peer {
            name: args
                .peer_name
                .clone()
                .or(file.peer_name.clone())
                .unwrap_or_else(|| role_name(role.other()).to_string()),
            url: url.trim_end_matches('/').to_string(),
        });
        // Both go into the console's configuration and its CSP header.
        if let Some(peer) = &peer {
            WebOrigin::parse(&peer.url).context("--peer")?;
            // The puller keeps its place in the peer's feed as a checkpoint
            // named after the peer, beside the webhook sender's own: a peer
            // of that name would share (and corrupt) the sender's place.
            if peer.name == crate::webhooks::sender::CHECKPOINT {
                bail!(
                    "--peer-name {:?} is reserved (the webhook sender's checkpoint); name the peer deployment otherwise",
                    peer.name
                );
            }
        }
        let moderator_url = args
            .moderator_url
            .or(file.moderator_url)
            .map(|url| url.trim().trim_end_matches('/').to_string())
            .filter(|url| !url.is_empty());
        if let Some(url) = &moderator_url {
            WebOrigin::parse(url).context("--moderator-url")?;
        }
        let Some(secret) = args.secret.or(file.secret) else {
            bail!("a shared secret is required (--secret or TWINLINE_SECRET)");
        };
        if secret.len() < 16 {
            bail!("the shared secret must be at least 16 characters");
        }
        let Some(admin_token) = args.admin_token.or(file.admin_token) else {
            bail!("an admin token is required (--admin-token or TWINLINE_ADMIN_TOKEN)");
        };
        check_token("the admin token (--admin-token)", &admin_token)?;
        let metrics_token = args.metrics_token.or(file.metrics_token);
        if let Some(token) = &metrics_token {
            check_token("the metrics token (--metrics-token)", token)?;
        }
        let limits = args.limits;
        let hooks = args.webhooks;
        let default_hooks = crate::webhooks::Settings::default();
        let webhooks = crate::webhooks::Settings {
            allow_private_targets: hooks
                .webhooks_allow_private_targets
                .or(file.webhooks.allow_private_targets)
                .unwrap_or(default_hooks.allow_private_targets),
            retry_base_ms: hooks
                .webhooks_retry_base_ms
                .or(file.webhooks.retry_base_ms)
                .unwrap_or(default_hooks.retry_base_ms)
                .max(1),
            handover_ms: hooks
                .webhooks_handover_ms
                .or(file.webhooks.handover_ms)
                .unwrap_or(default_hooks.handover_ms),
        };
        let mail_args = args.mail;
        let mail = match (
            mail_args.smtp_url.or(file.mail.smtp_url),
            mail_args.mail_from.or(file.mail.from),
        ) {
            (None, None) => None,
            (Some(smtp_url), Some(from)) => {
                let settings = crate::mail::Settings {
                    smtp_url,
                    from,
                    reply_to: mail_args.mail_reply_to.or(file.mail.reply_to),
                };
                settings.check().map_err(|error| anyhow::anyhow!(error))?;
                Some(settings)
            }
            (Some(_), None) => bail!("--smtp-url needs --mail-from (the transcripts' sender)"),
            (None, Some(_)) => bail!("--mail-from needs --smtp-url (the SMTP server)"),
        };
        Ok(Config {
            webhooks,
            mail,
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7001))),
            name,
            role,
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("data")),
            database_url: args.database_url.or(file.database_url),
            node: args
                .node
                .or(file.node)
                .unwrap_or_else(|| format!("node-{:08x}", rand::random::<u32>())),
            peer,
            moderator_url,
            secret,
            admin_token,
            metrics_token,
            sites,
            www: args
                .www
                .or(file.www)
                .unwrap_or_else(|| PathBuf::from("www")),
            listener: ListenerLimits {
                header_timeout: Duration::from_secs(
                    limits
                        .header_timeout_secs
                        .or(file.header_timeout_secs)
                        .unwrap_or(defaults::HEADER_TIMEOUT_SECS)
                        .max(1),
                ),
                max_connections: limits.max_connections.or(file.max_connections),
                max_connections_per_ip: limits
                    .max_connections_per_ip
                    .or(file.max_connections_per_ip)
                    .unwrap_or(defaults::MAX_CONNECTIONS_PER_IP),
                trusted_proxies: TrustedProxies::parse(if limits.trusted_proxies.is_empty() {
                    &file.trusted_proxies
                } else {
                    &limits.trusted_proxies
                })
                .map_err(anyhow::Error::msg)?,
            },
            hello_timeout: Duration::from_secs(
                limits
                    .hello_timeout_secs
                    .or(file.hello_timeout_secs)
                    .unwrap_or(defaults::HELLO_TIMEOUT_SECS)
                    .max(1),
            ),
            rates: Rates {
                ip_rate: limits.ip_rate.or(file.ip_rate).unwrap_or(defaults::IP_RATE),
                ip_burst: limits
                    .ip_burst
                    .or(file.ip_burst)
                    .unwrap_or(defaults::IP_BURST),
                visitor_rate: limits
                    .visitor_rate
                    .or(file.visitor_rate)
                    .unwrap_or(defaults::VISITOR_RATE),
                visitor_burst: limits
                    .visitor_burst
                    .or(file.visitor_burst)
                    .unwrap_or(defaults::VISITOR_BURST),
                global_rate: limits
                    .global_rate
                    .or(file.global_rate)
                    .unwrap_or(defaults::GLOBAL_RATE),
                global_burst: limits
                    .global_burst
                    .or(file.global_burst)
                    .unwrap_or(defaults::GLOBAL_BURST),
            },
            frame_rate: limits
                .frame_rate
                .or(file.frame_rate)
                .unwrap_or(defaults::FRAME_RATE),
            waiting_per_ip: limits
                .waiting_per_ip
                .or(file.waiting_per_ip)
                .unwrap_or(defaults::WAITING_PER_IP),
            retention,
            retention_every: Duration::from_secs(60 * retention_every_minutes.unwrap_or(10).max(1)),
            visitor_left_ms: presence::abandon_after_ms(visitor_left_minutes),
        })
    }

    /// Where the deployment's store lives.
    pub fn location(&self) -> Location {
        store_location(&self.data_dir, self.database_url.as_deref(), &self.node)
    }

    /// Whether `origin` may embed the widget for `site`.
    pub fn site_allows(&self, site: &str, origin: &str) -> bool {
        self.sites
            .get(site)
            .is_some_and(|origins| origins.iter().any(|o| o == origin || o == "*"))
    }

    /// Whether `origin` belongs to any configured site.
    pub fn any_site_allows(&self, origin: &str) -> bool {
        self.sites
            .values()
            .flatten()
            .any(|o| o == origin || o == "*")
    }

    /// The peer's origin (scheme://host:port), if a peer is configured: the
    /// console loaded from it may connect here after a failover.
    pub fn peer_origin(&self) -> Option<&str> {
        self.peer.as_ref().map(|peer| peer.url.as_str())
    }
}

/// Where a deployment's store lives, the same for `serve` and every
/// subcommand that works on it: `database_url` if given, else SQLite in
/// `data_dir`.
pub fn store_location(data_dir: &Path, database_url: Option<&str>, node: &str) -> Location {
    match database_url {
        Some(url) => Location::Postgres {
            url: url.to_string(),
            node: node.to_string(),
        },
        None => Location::Sqlite(data_dir.to_path_buf()),
    }
}

/// How a command that works on a deployment's store finds it (`operator
/// add` and the rest): the same flags and environment as `serve`.
#[derive(Clone, Debug, clap::Args)]
pub struct StoreArgs {
    /// The deployment's data directory (its SQLite store).
    #[arg(long, env = "TWINLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The deployment's PostgreSQL database, when it has one (then the
    /// data directory is not used).
    #[arg(long, env = "TWINLINE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// Where the store lives; a command writes as node `cli`.
    pub fn location(&self) -> Location {
        store_location(&self.data_dir, self.database_url.as_deref(), "cli")
    }
}

/// The default name of a deployment with this role.
pub fn role_name(role: DeploymentRole) -> &'static str {
    match role {
        DeploymentRole::Primary => "primary",
        DeploymentRole::Redundant => "redundant",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            secret: Some("0123456789abcdef".into()),
            admin_token: Some("admin-token-0123456789".into()),
            ..ServeArgs::default()
        }
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = std::env::temp_dir().join(format!("twinline-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("relay.toml");
        std::fs::write(
            &file,
            "name = \"from-file\"\nrole = \"redundant\"\npeer = \"http://127.0.0.1:7001/\"\n\
             [sites]\ndemo = [\"http://localhost:8080\"]\n",
        )
        .unwrap();
        let config = Config::from_args(ServeArgs {
            config: Some(file),
            name: Some("from-flag".into()),
            ..args()
        })
        .unwrap();
        assert_eq!(config.name, "from-flag");
        assert_eq!(config.role, DeploymentRole::Redundant);
        let peer = config.peer.as_ref().unwrap();
        assert_eq!(peer.url, "http://127.0.0.1:7001");
        assert_eq!(peer.name, "primary");
        assert!(config.site_allows("demo", "http://localhost:8080"));
        assert!(!config.site_allows("demo", "http://evil.example"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_peer_named_like_the_webhook_senders_checkpoint_is_refused() {
        let error = Config::from_args(ServeArgs {
            peer: Some("http://127.0.0.1:7001".into()),
            peer_name: Some("webhooks".into()),
            ..args()
        })
        .unwrap_err();
        assert!(error.to_string().contains("reserved"), "{error:#}");
        // Any other name is still the operator's choice.
        let config = Config::from_args(ServeArgs {
            peer: Some("http://127.0.0.1:7001".into()),
            peer_name: Some("webhooks-eu".into()),
            ..args()
        })
        .unwrap();
        assert_eq!(config.peer.unwrap().name, "webhooks-eu");
    }

    #[test]
    fn a_short_secret_is_refused() {
        let error = Config::from_args(ServeArgs {
            secret: Some("short".into()),
            ..args()
        })
        .unwrap_err();
        assert!(error.to_string().contains("at least 16"));
    }

    #[test]
    fn the_moderator_url_comes_from_the_flag_or_the_file_and_must_be_a_web_origin() {
        let dir = std::env::temp_dir().join(format!("twinline-config-m-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("relay.toml");
        std::fs::write(&file, "moderator_url = \"https://mod.example.net/\"\n").unwrap();
        let from_file = Config::from_args(ServeArgs {
            config: Some(file),
            ..args()
        })
        .unwrap();
        assert_eq!(
            from_file.moderator_url.as_deref(),
            Some("https://mod.example.net")
        );
        let from_flag = Config::from_args(ServeArgs {
            moderator_url: Some("http://127.0.0.1:7000".into()),
            ..args()
        })
        .unwrap();
        assert_eq!(
            from_flag.moderator_url.as_deref(),
            Some("http://127.0.0.1:7000")
        );
        assert_eq!(Config::from_args(args()).unwrap().moderator_url, None);
        for bad in [
            "javascript:alert(1)",
            "mod.example.net",
            "https://user:pw@mod.example.net",
            "https://mod.example.net;script-src",
        ] {
            let error = Config::from_args(ServeArgs {
                moderator_url: Some(bad.into()),
                ..args()
            })
            .unwrap_err();
            assert!(
                format!("{error:#}").contains("--moderator-url"),
                "{bad}: {error:#}"
            );
        }
        let error = Config::from_args(ServeArgs {
            peer: Some("ftp://peer.example.net".into()),
            ..args()
        })
        .unwrap_err();
        assert!(format!("{error:#}").contains("--peer"), "{error:#}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn empty_or_short_admin_and_metrics_tokens_are_refused() {
        for token in ["", "   ", "short-token"] {
            let error = Config::from_args(ServeArgs {
                admin_token: Some(token.into()),
                ..args()
            })
            .unwrap_err();
            assert!(error.to_string().contains("admin token"), "{error}");
            let error = Config::from_args(ServeArgs {
                metrics_token: Some(token.into()),
                ..args()
            })
            .unwrap_err();
            assert!(error.to_string().contains("metrics token"), "{error}");
        }
    }

    #[test]
    fn site_flags_parse_origin_lists() {
        let config = Config::from_args(ServeArgs {
            sites: vec!["shop=https://shop.example/, https://www.shop.example".into()],
            ..args()
        })
        .unwrap();
        assert!(config.site_allows("shop", "https://shop.example"));
        assert!(config.site_allows("shop", "https://www.shop.example"));
        assert!(!config.site_allows("other", "https://shop.example"));
    }
}
