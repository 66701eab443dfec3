//! A throwaway PostgreSQL server in a temporary folder, for tests and
//! benchmarks: `initdb`, then `pg_ctl start` on a free loopback port with
//! its socket in the same folder (Debian's packaged server, nothing to set
//! up). As root, the server runs as the `postgres` user, since `initdb`
//! refuses root.
//!
//! A test binary starts one server ([`shared`]) and gives each test a fresh
//! database ([`Cluster::database`]): a database takes milliseconds, a server
//! a second or two. A watchdog shell stops the server and removes its
//! folder once the process that started it is gone, however it ended.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// How a server is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `fsync` on, as in production: benchmarks.
    Durable,
    /// `fsync` off: every commit still goes through the WAL and
    /// `synchronous_commit`, but skips the disk flush (tests: faster, and
    /// nothing they check depends on surviving a machine crash).
    Fast,
}

/// A running server (or a stopped one that can be started again).
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    next_db: AtomicU32,
}

/// Why a server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No PostgreSQL binaries found.
    #[error(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; \
         scripts/ensure-toolchain.sh --servers installs it, or set TWINLINE_PG_BIN)"
    )]
    NotInstalled,
    /// A command failed.
    #[error("{0}")]
    Command(String),
    /// Connecting or creating a database failed.
    #[error("database: {0}")]
    Database(#[from] postgres::Error),
}

/// The folder holding `initdb` and `pg_ctl`: `TWINLINE_PG_BIN`, else the
/// newest /usr/lib/postgresql/N/bin.
pub fn binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TWINLINE_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|error| ClusterError::Command(format!("finding a free port: {error}")))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|error| ClusterError::Command(error.to_string()))
}

impl Cluster {
    /// Creates and starts a server in a new temporary folder.
    pub fn start(label: &str, durability: Durability) -> Result<Cluster, ClusterError> {
        let bin = binaries().ok_or(ClusterError::NotInstalled)?;
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "twinline-pg-{label}-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|error| ClusterError::Command(format!("{}: {error}", dir.display())))?;
        let cluster = Cluster {
            port: free_port()?,
            as_postgres: is_root(),
            dir,
            bin,
            next_db: AtomicU32::new(0),
        };
        if cluster.as_postgres {
            check(Command::new("chown").arg("postgres").arg(&cluster.dir))?;
        }
        check(
            cluster
                .as_owner(&cluster.bin.join("initdb"))
                .arg("-D")
                .arg(cluster.data())
                .args(["-A", "trust", "-U", "twinline", "-E", "UTF8", "--no-locale"])
                .args(["--no-sync", "--no-instructions"]),
        )?;
        let mut settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             max_connections = 200\nshared_buffers = 128MB\n",
            cluster.port,
            cluster.dir.display()
        );
        if durability == Durability::Fast {
            settings.push_str("fsync = off\nfull_page_writes = off\n");
        }
        let conf = cluster.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)
            .map_err(|error| ClusterError::Command(format!("{}: {error}", conf.display())))?;
        text.push_str(&settings);
        std::fs::write(&conf, text)
            .map_err(|error| ClusterError::Command(format!("{}: {error}", conf.display())))?;
        cluster.start_server()?;
        cluster.watch();
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command run as the server's user: `postgres` when this process
    /// is root, else this user.
    fn as_owner(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl(&self) -> Command {
        let mut command = self.as_owner(&self.bin.join("pg_ctl"));
        command.arg("-D").arg(self.data());
        command
    }

    fn start_server(&self) -> Result<(), ClusterError> {
        check(
            self.pg_ctl()
                .arg("-l")
                .arg(self.dir.join("log"))
                .args(["-w", "-t", "60", "start"]),
        )
    }

    /// Stops the server at once (`-m immediate`: like a crash, nothing
    /// flushed that was not committed).
    pub fn stop(&self) -> Result<(), ClusterError> {
        check(self.pg_ctl().args(["-m", "immediate", "-w", "stop"]))
    }

    /// Starts a stopped server again, on the same port.
    pub fn restart(&self) -> Result<(), ClusterError> {
        self.start_server()
    }

    /// Stops the server and removes the folder once this process is gone.
    fn watch(&self) {
        let stop = format!(
            "{}'{}' -D '{}' -m immediate stop",
            if self.as_postgres {
                "runuser -u postgres -- "
            } else {
                ""
            },
            self.bin.join("pg_ctl").display(),
            self.data().display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder the server lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://twinline@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn database(&self, label: &str) -> Result<String, ClusterError> {
        let name = format!(
            "{}_{}",
            label
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
                .to_lowercase(),
            self.next_db.fetch_add(1, Relaxed)
        );
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)?;
        client.batch_execute(&format!("CREATE DATABASE \"{name}\""))?;
        Ok(self.url(&name))
    }
}

/// Runs a command to its end; its output is the error if it fails.
fn check(command: &mut Command) -> Result<(), ClusterError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| ClusterError::Command(format!("{command:?}: {error}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(ClusterError::Command(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

/// This process's shared server (fast, see [`Durability::Fast`]), started
/// on first use.
pub fn shared() -> Result<&'static Cluster, &'static ClusterError> {
    static SHARED: OnceLock<Result<Cluster, ClusterError>> = OnceLock::new();
    SHARED
        .get_or_init(|| Cluster::start("shared", Durability::Fast))
        .as_ref()
}
