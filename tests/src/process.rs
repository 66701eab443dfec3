//! Real relay processes for tests.
//!
//! Each relay gets its own temporary data directory and a port chosen by the
//! OS on first start; a restart reuses both, so clients find it where it
//! was. `kill9` is a real SIGKILL: no destructor, no flush, exactly what a
//! data center losing power looks like to the process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory under the system temp dir.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "twinline-test-{label}-{}-{n}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&path).expect("creating a temp dir");
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The relay binary built for these tests: `TWINLINE_RELAY_BIN`, or the
/// `relay-under-test` binary cargo builds in this package. Test executables
/// live in `target/<profile>/deps/`, binaries such as the benchmark in
/// `target/<profile>/`, so both places are searched.
pub fn relay_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TWINLINE_RELAY_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the executable's path");
    let name = format!("relay-under-test{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| {
            panic!("relay-under-test is missing: build the twinline-tests package with cargo")
        })
}

/// Flags that turn off every per-client limit: benchmarks and the soak run
/// thousands of clients from the test's one address, and their figures are
/// about the relay, not about its limits. Per-connection frame limits stay.
pub const UNLIMITED_CLIENTS: &[&str] = &[
    "--ip-rate",
    "0",
    "--visitor-rate",
    "0",
    "--global-rate",
    "0",
    "--max-connections-per-ip",
    "0",
    "--waiting-per-ip",
    "0",
];

/// Settings of a test relay.
#[derive(Clone, Debug)]
pub struct RelayOptions {
    /// Deployment name.
    pub name: String,
    /// primary or redundant.
    pub role: String,
    /// Peer URL and name, if any.
    pub peer: Option<(String, String)>,
    /// Extra flags.
    pub extra: Vec<String>,
    /// Start it under this descriptor limit: `(soft, hard)`, hard `None`
    /// to leave it as it is (the shell's `ulimit` before the exec).
    pub fd_limit: Option<(u64, Option<u64>)>,
}

impl RelayOptions {
    /// A primary with no peer.
    pub fn primary() -> RelayOptions {
        RelayOptions {
            name: "primary".into(),
            role: "primary".into(),
            peer: None,
            extra: Vec::new(),
            fd_limit: None,
        }
    }

    /// A redundant deployment with no peer.
    pub fn redundant() -> RelayOptions {
        RelayOptions {
            name: "redundant".into(),
            role: "redundant".into(),
            ..RelayOptions::primary()
        }
    }
}

/// A running (or stopped) relay process.
#[derive(Debug)]
pub struct RelayProcess {
    options: RelayOptions,
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl RelayProcess {
    /// Starts a relay on a free port.
    pub fn start(options: RelayOptions) -> RelayProcess {
        let dir = TempDir::new(&options.name);
        let mut relay = RelayProcess {
            options,
            dir,
            port: 0,
            child: None,
        };
        relay.spawn();
        relay
    }

    /// Starts a relay on a port reserved beforehand (so two relays can name
    /// each other as peers before either runs).
    pub fn start_on(options: RelayOptions, port: u16) -> RelayProcess {
        let dir = TempDir::new(&options.name);
        let mut relay = RelayProcess {
            options,
            dir,
            port,
            child: None,
        };
        relay.spawn();
        relay
    }

    fn spawn(&mut self) {
        let mut command = match self.options.fd_limit {
            None => Command::new(relay_binary()),
            Some((soft, hard)) => {
                // `ulimit` in a shell that then becomes the relay: the limit
                // is the one the relay starts with.
                // Soft first: a hard limit below the current soft one is
                // refused.
                let hard = hard
                    .map(|hard| format!("ulimit -Hn {hard} && "))
                    .unwrap_or_default();
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -Sn {soft} && {hard}exec \"$0\" \"$@\""))
                    .arg(relay_binary());
                shell
            }
        };
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--name")
            .arg(&self.options.name)
            .arg("--role")
            .arg(&self.options.role)
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg("--secret")
            .arg(crate::SECRET)
            .arg("--admin-token")
            .arg(crate::ADMIN_TOKEN)
            .arg("--site")
            .arg(format!("{}={}", crate::SITE, crate::SITE_ORIGIN))
            .arg("--www")
            .arg(self.dir.path().join("www"))
            .args(&self.options.extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((url, name)) = &self.options.peer {
            command.arg("--peer").arg(url).arg("--peer-name").arg(name);
        }
        let mut child = command.spawn().expect("starting the relay");
        self.port = listening_port(
            &mut child,
            "twinline-relay listening on http://",
            &self.options.name,
        );
        self.child = Some(child);
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/v1/ws", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its deployment name.
    pub fn name(&self) -> &str {
        &self.options.name
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and wait (at most 10 s) for a clean exit; returns its status
    /// code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.kill9();
        wait_until_free(self.port);
        self.spawn();
    }

    /// Adds an operator account with `operator add`: an agent of
    /// [`crate::SITE`].
    pub fn add_operator(&self, username: &str, name: &str, password: &str) {
        add_operator(self.dir.path(), username, name, password);
    }

    /// Runs `operator <args>` against this relay's data directory (`add`
    /// with `--site`/`--role`, `passwd`, `remove`), the password on stdin;
    /// returns whether it succeeded.
    pub fn operator_cli(&self, args: &[&str], password: &str) -> bool {
        operator_cli(self.dir.path(), args, password)
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `operator add` against a data directory: an agent of
/// [`crate::SITE`].
pub fn add_operator(data_dir: &Path, username: &str, name: &str, password: &str) {
    add_operator_on(
        &["--data-dir".as_ref(), data_dir.as_os_str()],
        username,
        name,
        password,
    );
}

/// Runs `operator add <store>`: an agent of [`crate::SITE`] (see
/// [`operator_cli_on`]).
pub fn add_operator_on(store: &[&std::ffi::OsStr], username: &str, name: &str, password: &str) {
    let added = operator_cli_on(
        store,
        &[
            "add",
            "--username",
            username,
            "--name",
            name,
            "--site",
            crate::SITE,
            "--password-stdin",
        ],
        password,
    );
    assert!(added, "operator add failed");
}

/// Runs `operator <args> --data-dir DIR` with `password` on stdin.
pub fn operator_cli(data_dir: &Path, args: &[&str], password: &str) -> bool {
    operator_cli_on(
        &["--data-dir".as_ref(), data_dir.as_os_str()],
        args,
        password,
    )
}

/// Runs `operator <args> <store>` with `password` on stdin, where `store`
/// names the deployment's store (`--data-dir DIR` or `--database-url URL`).
pub fn operator_cli_on(store: &[&std::ffi::OsStr], args: &[&str], password: &str) -> bool {
    use std::io::Write;
    let (command, rest) = args.split_first().expect("an operator subcommand");
    let mut child = Command::new(relay_binary())
        .args(["operator", command])
        .args(store)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("running operator");
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes());
    child.wait().expect("operator").success()
}

/// Runs `serve` with the test secret, a fresh data directory and `args`;
/// returns what it printed on stderr if it exits instead of listening
/// (`None` if it started, in which case it is killed).
pub fn serve_refusal(args: &[&str]) -> Option<String> {
    let dir = TempDir::new("refusal");
    let mut child = Command::new(relay_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--secret", crate::SECRET])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the relay");
    let stdout = child.stdout.take().expect("relay stdout");
    let started = BufReader::new(stdout)
        .lines()
        .next()
        .and_then(Result::ok)
        .is_some_and(|line| line.starts_with("twinline-relay listening"));
    if started {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let output = child.wait_with_output().expect("the relay's exit");
    Some(String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The peak resident memory of a process, in MB (Linux).
pub fn peak_memory_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Reads a server's first stdout line, `<prefix>HOST:PORT`, and returns the
/// port; keeps draining stdout afterwards so the server never blocks on a
/// full pipe. Panics (naming `what`) if the server exits first.
pub fn listening_port(child: &mut Child, prefix: &str, what: &str) -> u16 {
    let stdout = child.stdout.take().expect("the server's stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("{what} exited before listening"));
    let address = line
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("unexpected first line from {what}: {line}"));
    let port = address
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("a port in the listening line");
    std::thread::spawn(move || for _ in lines {});
    port
}

/// Waits (at most 5 s) until `port` on loopback can be bound again, after a
/// process that held it was killed.
pub fn wait_until_free(port: u16) {
    for _ in 0..50 {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The ports [`free_port`] draws from: below Linux's ephemeral range
/// (32768-60999), so no outgoing connection of another test can take a port
/// between the moment it is picked and the moment a server binds it.
const TEST_PORTS: std::ops::Range<u16> = 12_000..32_000;

/// A free TCP port on loopback (bound and released), never the same twice
/// in one test process. Picked at random below the ephemeral range: a port
/// the kernel hands out for `bind(0)` is one it may hand to the next
/// outgoing connection too, which made a relay restarted "on the same port"
/// fail to bind now and then.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let seed = RandomState::new();
    let span = u64::from(TEST_PORTS.end - TEST_PORTS.start);
    for attempt in 0u64..10_000 {
        let offset = u16::try_from(seed.hash_one(attempt) % span).expect("within the span");
        let port = TEST_PORTS.start + offset;
        let mut given = GIVEN.lock().expect("the port list is never poisoned");
        if given.contains(&port) || std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        given.push(port);
        return port;
    }
    panic!("no free port in {TEST_PORTS:?}");
}
