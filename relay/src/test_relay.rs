//! A relay's state on a fresh SQLite store in a temp folder, for the
//! crate's in-process tests (router, WebSocket connections): the real
//! store and writer thread, no listener; and the log they write.

use crate::accounts::{AccountSpec, new_account};
use crate::config::{Config, ServeArgs};
use crate::net::Caps;
use crate::state::{AppState, Shared};
use crate::store::records::{Account, OperatorRole, Record};
use crate::store::{Store, WriterThread};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use tracing_subscriber::fmt::MakeWriter;

/// The admin token the test relay is configured with.
pub const ADMIN_TOKEN: &str = "admin-token-0123456789";

/// A running relay state; [`TestRelay::stop`] closes its store.
pub struct TestRelay {
    /// The shared state, as handlers get it.
    pub state: Shared,
    dir: PathBuf,
    writer: WriterThread,
}

impl TestRelay {
    /// A relay serving site `demo` for `http://site.test`, with
    /// [`ADMIN_TOKEN`], on a new store.
    pub fn start() -> TestRelay {
        TestRelay::with(ServeArgs::default())
    }

    /// Like [`TestRelay::start`], with other flags on top.
    pub fn with(args: ServeArgs) -> TestRelay {
        let dir = std::env::temp_dir().join(format!(
            "twinline-relay-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let config = Config::from_args(ServeArgs {
            secret: Some("0123456789abcdef0123".into()),
            admin_token: Some(ADMIN_TOKEN.into()),
            data_dir: Some(dir.clone()),
            sites: vec!["demo=http://site.test".into()],
            ..args
        })
        .expect("a config");
        let (store, writer) = Store::open(&dir).expect("a store");
        let caps = Caps {
            total: 100,
            per_ip: 100,
        };
        TestRelay {
            state: Arc::new(AppState::new(config, store, caps)),
            dir,
            writer,
        }
    }

    /// Stores an agent account of site `demo`.
    pub async fn add_operator(&self, username: &str, password: &str) -> Account {
        let spec = AccountSpec {
            username,
            name: "",
            password,
            role: OperatorRole::Agent,
            sites: &["demo".to_string()],
        };
        let account = new_account(&spec, None, crate::clock::now(), 1).expect("an account");
        self.state
            .store
            .apply(Record::Account(account.clone()), &self.state.config.name)
            .await
            .expect("stored");
        account
    }

    /// Closes the store (every other handle on the state must be gone) and
    /// removes the folder.
    pub async fn stop(self) {
        let TestRelay { state, dir, writer } = self;
        drop(state);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .expect("the writer thread ends");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The log as text, for the subscriber to write into.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The log of `twinline_relay::ws`, `twinline_relay::replication` and
/// `twinline_relay::hub` at debug, as the relay formats it, since the first call.
///
/// It is the process's global subscriber (installed once): a thread's own
/// default would miss the lines of callsites another test's thread met
/// first without one, since tracing caches whether a callsite is wanted.
/// Every test's lines land in it, so a test looks for its own by what only
/// it logs.
pub fn captured_log() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_env_filter("twinline_relay::ws=debug,twinline_relay::replication=debug,twinline_relay::hub=debug")
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other test of this crate installs a global subscriber");
        logs
    })
}
