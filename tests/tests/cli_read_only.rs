//! The CLI's read-only commands (`operator list`, `apikey list`) on a real
//! relay's store: they write nothing (no boot epoch bump, no migration
//! write, no WAL checkpoint), so a `list` beside a live relay under write
//! load cannot take the database lock from its writer and fail a commit.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use twinline_tests::client::Visitor;
use twinline_tests::pair::{eventually, messages_of};
use twinline_tests::process::{
    RelayOptions, RelayProcess, UNLIMITED_CLIENTS, relay_binary, wait_until_free,
};

/// Runs `<what> list --data-dir <dir>`: its stdout, or a panic.
fn list(what: &str, data_dir: &Path) -> String {
    let output = Command::new(relay_binary())
        .args([what, "list", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("running list");
    assert!(
        output.status.success(),
        "{what} list: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `apikey add` for site demo on the store in `data_dir`: succeeds.
fn add_key(data_dir: &Path) {
    let status = Command::new(relay_binary())
        .args([
            "apikey",
            "add",
            "--site",
            "demo",
            "--name",
            "crm",
            "--scope",
            "chats:read",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("running apikey add");
    assert!(status.success(), "apikey add");
}

/// Every file in `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("the data directory")
        .map(|entry| {
            let entry = entry.expect("an entry");
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

#[test]
fn list_commands_leave_the_store_byte_identical() {
    let mut relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ann", "Ann", "correct horse battery");
    add_key(relay.data_dir());
    // Stopped cleanly: the WAL is folded back and nothing else writes.
    relay.terminate();
    wait_until_free(relay.port());
    let before = snapshot(relay.data_dir());
    assert!(!before.is_empty(), "the relay left a store");

    let operators = list("operator", relay.data_dir());
    assert!(operators.starts_with("ann\tAnn\tagent\t"), "{operators}");
    let keys = list("apikey", relay.data_dir());
    assert!(keys.contains("\tdemo\tchats:read\tcrm\tactive"), "{keys}");

    let after = snapshot(relay.data_dir());
    for (name, bytes) in &before {
        assert!(
            after.get(name) == Some(bytes),
            "list changed {name} (an epoch bump or a migration write)"
        );
    }
    // A read-only reader of a WAL database may leave SQLite's shared
    // index (`-shm`) and an empty log beside it: no data in either.
    for (name, bytes) in after.iter().filter(|(name, _)| !before.contains_key(*name)) {
        assert!(
            name.ends_with("-shm") || (name.ends_with("-wal") && bytes.is_empty()),
            "list left {name} with {} bytes",
            bytes.len()
        );
    }
}

#[test]
fn list_of_a_missing_store_says_so_and_creates_nothing() {
    let dir = twinline_tests::process::TempDir::new("no-store");
    let missing = dir.path().join("nothing-here");
    let output = Command::new(relay_binary())
        .args(["operator", "list", "--data-dir"])
        .arg(&missing)
        .output()
        .expect("running list");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no store at"), "{stderr}");
    assert!(!missing.exists(), "list created a store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_beside_a_live_relay_under_write_load_fails_no_commit() {
    let relay = RelayProcess::start(RelayOptions {
        extra: UNLIMITED_CLIENTS.iter().map(|s| s.to_string()).collect(),
        ..RelayOptions::primary()
    });
    relay.add_operator("ann", "Ann", "correct horse battery");
    add_key(relay.data_dir());
    let data_dir = relay.data_dir().to_path_buf();

    // Lists, back to back, on threads of their own while messages commit.
    let listing = std::thread::spawn(move || {
        for _ in 0..15 {
            assert!(list("operator", &data_dir).starts_with("ann\t"));
            assert!(list("apikey", &data_dir).contains("\tactive"));
        }
    });
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let mut sent = 0;
    // Every message is acked (a failed commit answers with an error
    // instead, and `say` waits for the ack) while the lists run.
    while !listing.is_finished() || sent < 40 {
        visitor.say(&format!("message {sent}")).await;
        sent += 1;
    }
    listing.join().expect("every list succeeded");
    eventually(
        Duration::from_secs(10),
        "every acked message is stored",
        || async { messages_of(&relay).await.len() == sent },
    )
    .await;
}
