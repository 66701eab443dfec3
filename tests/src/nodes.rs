//! A deployment of several relay nodes over one PostgreSQL database, behind
//! a real HAProxy: what the tests of issue 18's failure rows start.
//!
//! PostgreSQL comes from the relay's own harness
//! (`twinline_relay::store::postgres::cluster`): one throwaway server per
//! test binary and a fresh database per deployment, or a server of the
//! test's own when the test stops it. HAProxy is Debian's, started here in
//! the foreground with a config written to a temporary folder: plain `mode
//! http` (WebSockets pass through), a health check on `/v1/health?node` every
//! second and 200 ms apart once one failed, so a node that is killed,
//! draining or cut from its database (each refuses or answers 503 at once)
//! is out of rotation within about 1.2 s, and `option redispatch` so a
//! connection refused by a dead node meanwhile is tried on another at once.
//! A check may take 2 s (`timeout check`; its connect, `inter`): HAProxy
//! otherwise allows only `inter`, and with checks every 200 ms a node
//! answering slower than that while it took over a dead node's clients
//! (measured: up to 1.2 s on the loaded 2-core machine) was called down
//! too, leaving the balancer with no server (every client and the
//! moderator then got 503, and the moderator failed the deployment over).

use crate::process::{RelayOptions, RelayProcess, TempDir, UNLIMITED_CLIENTS, free_port};
use std::ffi::OsStr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use twinline_relay::store::postgres::cluster::Cluster;

/// The HAProxy binary: `TWINLINE_HAPROXY`, else `haproxy` on PATH (or
/// /usr/sbin, where Debian puts it).
pub fn haproxy_binary() -> String {
    if let Ok(path) = std::env::var("TWINLINE_HAPROXY") {
        return path;
    }
    if std::path::Path::new("/usr/sbin/haproxy").exists() {
        return "/usr/sbin/haproxy".into();
    }
    "haproxy".into()
}

/// A running HAProxy in front of some relay nodes.
#[derive(Debug)]
pub struct Haproxy {
    dir: TempDir,
    port: u16,
    child: Child,
}

impl Haproxy {
    /// Starts HAProxy on `port`, balancing over the nodes on `backends`
    /// (loopback ports), and waits until it answers.
    pub fn start_on(port: u16, backends: &[u16]) -> Haproxy {
        let dir = TempDir::new("haproxy");
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(&config, config_text(port, backends)).expect("writing haproxy.cfg");
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("haproxy's log");
        let child = Command::new(haproxy_binary())
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting haproxy (scripts/ensure-toolchain.sh installs it)");
        let mut haproxy = Haproxy { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                panic!("haproxy exited ({status}): {}", haproxy.log());
            }
            assert!(Instant::now() < deadline, "haproxy never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        haproxy
    }

    /// What HAProxy wrote on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The deployment's one URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/v1/ws", self.port)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration: one frontend, one backend of `backends`.
fn config_text(port: u16, backends: &[u16]) -> String {
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, backend)| format!("    server node-{} 127.0.0.1:{backend} check\n", i + 1))
        .collect();
    format!(
        "global\n    maxconn 4096\n\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 1h\n\
         \x20   timeout server 1h\n    timeout tunnel 1h\n    timeout http-request 10s\n\
         \x20   option redispatch\n    retries 3\n\n\
         frontend twinline\n    bind 127.0.0.1:{port}\n    default_backend nodes\n\n\
         backend nodes\n    balance roundrobin\n    option httpchk GET /v1/health?node\n\
         \x20   http-check expect status 200\n    timeout check 2s\n\
         \x20   default-server inter 1s fastinter 200ms downinter 200ms fall 2 rise 1\n\
         {servers}"
    )
}

/// A deployment: relay nodes on one database, HAProxy in front.
pub struct Deployment {
    /// The deployment's database.
    pub database_url: String,
    /// Its nodes, `node-1`, `node-2`, ….
    pub nodes: Vec<RelayProcess>,
    /// The load balancer, the deployment's one URL.
    pub balancer: Haproxy,
}

impl Deployment {
    /// Starts `count` nodes of the deployment `options` describes (its
    /// name, role, peer, flags) on `database_url`, and HAProxy in front on
    /// a free port.
    pub fn start(database_url: &str, options: RelayOptions, count: usize) -> Deployment {
        Deployment::start_on(database_url, options, count, free_port())
    }

    /// [`Deployment::start`] with the balancer on `port` (reserved
    /// beforehand, so a peer can be told the URL before it runs).
    pub fn start_on(
        database_url: &str,
        options: RelayOptions,
        count: usize,
        port: u16,
    ) -> Deployment {
        let nodes: Vec<RelayProcess> = (1..=count)
            .map(|n| RelayProcess::start(node_options(&options, database_url, n)))
            .collect();
        let ports: Vec<u16> = nodes.iter().map(RelayProcess::port).collect();
        Deployment {
            database_url: database_url.to_string(),
            nodes,
            balancer: Haproxy::start_on(port, &ports),
        }
    }

    /// The deployment's URL (the balancer's).
    pub fn url(&self) -> String {
        self.balancer.url()
    }

    /// The deployment's WebSocket URL (the balancer's).
    pub fn ws_url(&self) -> String {
        self.balancer.ws_url()
    }

    /// The store flags every operator subcommand takes for this deployment.
    pub fn store_flags(&self) -> [&OsStr; 2] {
        ["--database-url".as_ref(), self.database_url.as_ref()]
    }

    /// Adds an operator account through `operator add --database-url`.
    pub fn add_operator(&self, username: &str, name: &str, password: &str) {
        crate::process::add_operator_on(&self.store_flags(), username, name, password);
    }
}

/// The options of node `n` of a deployment.
pub fn node_options(deployment: &RelayOptions, database_url: &str, n: usize) -> RelayOptions {
    let mut options = deployment.clone();
    options.extra.extend([
        "--database-url".to_string(),
        database_url.to_string(),
        "--node".to_string(),
        format!("node-{n}"),
    ]);
    options
}

/// A fresh database on this test binary's shared PostgreSQL server.
pub fn fresh_database(label: &str) -> String {
    let server = twinline_relay::store::postgres::cluster::shared()
        .unwrap_or_else(|error| panic!("a PostgreSQL server for the tests: {error}"));
    database_on(server, label)
}

/// A fresh database on `server`. The blocking client it uses starts a
/// runtime of its own, so it runs on a thread of its own: callable from
/// async tests.
pub fn database_on(server: &Cluster, label: &str) -> String {
    std::thread::scope(|scope| {
        scope
            .spawn(|| server.database(label))
            .join()
            .expect("the thread creating a database")
    })
    .unwrap_or_else(|error| panic!("creating a database: {error}"))
}

/// Which node answered a request to `base` (its `X-Twinline-Node`).
pub async fn answering_node(base: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    response
        .headers()
        .get("x-twinline-node")?
        .to_str()
        .ok()
        .map(str::to_string)
}

/// Options of a deployment whose clients all come from 127.0.0.1 (through
/// HAProxy, too): no per-client limit in the way.
pub fn unlimited(options: RelayOptions) -> RelayOptions {
    let mut extra: Vec<String> = UNLIMITED_CLIENTS.iter().map(|s| s.to_string()).collect();
    extra.extend(["--frame-rate".to_string(), "0".to_string()]);
    RelayOptions { extra, ..options }
}

/// A primary of `nodes` nodes on `database_url` behind HAProxy, and a
/// redundant deployment on SQLite, replicating to each other.
pub fn primary_on_postgres_and_redundant(
    database_url: &str,
    nodes: usize,
) -> (Deployment, RelayProcess) {
    let balancer_port = free_port();
    let redundant_port = free_port();
    let primary = Deployment::start_on(
        database_url,
        RelayOptions {
            peer: Some((
                format!("http://127.0.0.1:{redundant_port}"),
                "redundant".into(),
            )),
            ..unlimited(RelayOptions::primary())
        },
        nodes,
        balancer_port,
    );
    let redundant = RelayProcess::start_on(
        RelayOptions {
            peer: Some((
                format!("http://127.0.0.1:{balancer_port}"),
                "primary".into(),
            )),
            ..unlimited(RelayOptions::redundant())
        },
        redundant_port,
    );
    (primary, redundant)
}

/// The WebSocket connections a node holds (its `twinline_connections`).
pub async fn connections(node: &RelayProcess) -> u64 {
    crate::client::metrics(&node.url())
        .await
        .lines()
        .find(|line| line.starts_with("twinline_connections{"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The node of `deployment` holding the most WebSocket connections.
pub async fn busiest_node(deployment: &Deployment) -> usize {
    let mut busiest = (0, 0);
    for (i, node) in deployment.nodes.iter().enumerate() {
        let held = connections(node).await;
        if held > busiest.1 {
            busiest = (i, held);
        }
    }
    busiest.0
}

/// An admin call to one node (`GET` or `POST`), with the admin token; its
/// JSON answer.
pub async fn node_admin(request: reqwest::RequestBuilder) -> serde_json::Value {
    let response = request
        .bearer_auth(crate::ADMIN_TOKEN)
        .send()
        .await
        .expect("an admin call");
    assert!(
        response.status().is_success(),
        "admin: {}",
        response.status()
    );
    response.json().await.expect("an admin answer")
}

/// Whether the balancer at `url` sends any of a few requests to node
/// `name` (round robin: a few reach every node in rotation).
pub async fn reaches(url: &str, name: &str) -> bool {
    for _ in 0..6 {
        if answering_node(url).await.as_deref() == Some(name) {
            return true;
        }
    }
    false
}

/// Notes every deployment the moderator names, every 25 ms, until
/// `watching` ends: what happens to one node must stay inside the
/// deployment, so a run that sees anything but the primary failed over.
pub fn watch_moderator(
    moderator: std::sync::Arc<crate::moderator::ModeratorProcess>,
    watching: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<std::collections::BTreeSet<String>> {
    tokio::spawn(async move {
        let mut named = std::collections::BTreeSet::new();
        while watching.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(active) = moderator.active().await {
                named.insert(active.active);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        named
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_is_a_checked_server_of_the_backend() {
        let text = config_text(8000, &[9001, 9002]);
        assert!(text.contains("bind 127.0.0.1:8000"));
        assert!(text.contains("server node-1 127.0.0.1:9001 check"));
        assert!(text.contains("server node-2 127.0.0.1:9002 check"));
        assert!(text.contains("option httpchk GET /v1/health?node"));
        assert!(
            text.contains("timeout check 2s"),
            "a busy node gets the moderator's probe timeout, not `inter`"
        );
    }

    /// The demo's balancer (`npm start -- --nodes 2`, scripts/lib/nodes.mjs)
    /// and the README's example are configured as the tests' one: what the
    /// benchmarks measure is what the demo runs and what the README says.
    #[test]
    fn the_demo_and_the_readme_balancers_have_the_same_settings() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |file: &str| {
            std::fs::read_to_string(root.join(file))
                .unwrap_or_else(|error| panic!("reading {file}: {error}"))
        };
        let text = config_text(8000, &[9001]);
        let settings = |from: &str| -> Vec<String> {
            text.lines()
                .map(str::trim)
                .skip_while(|line| *line != from)
                .filter(|line| {
                    !line.is_empty() && !line.starts_with("bind ") && !line.starts_with("server ")
                })
                .map(str::to_string)
                .collect()
        };
        // The demo's template literal opens on its first line: `return `global`.
        for (file, from) in [
            ("scripts/lib/nodes.mjs", "global"),
            ("README.md", "defaults"),
        ] {
            let other = read(file);
            let lines: Vec<&str> = other
                .lines()
                .map(|line| line.trim().trim_start_matches("return `"))
                .collect();
            for line in settings(from) {
                assert!(
                    lines.contains(&line.as_str()),
                    "{file} lacks `{line}` (keep the balancers the same)"
                );
            }
        }
    }
}
