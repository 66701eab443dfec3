//! A small real filesystem a test mounts (tmpfs of a few megabytes) to put a
//! relay's data directory on, and fills to the last byte: the disk-full
//! tests run SQLite against a real `ENOSPC`, not an injected error.
//!
//! Mounting needs root (CAP_SYS_ADMIN); [`SmallFs::mount`] says why it could
//! not and returns `None`, and the test that needs it says it skipped.

use crate::process::TempDir;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted when dropped.
#[derive(Debug)]
pub struct SmallFs {
    dir: TempDir,
    filler: PathBuf,
}

impl SmallFs {
    /// Mounts a tmpfs of `megabytes` on a fresh directory; `None` (with the
    /// reason on stderr) where this process may not mount.
    pub fn mount(megabytes: u32) -> Option<SmallFs> {
        let dir = TempDir::new("small-fs");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match output {
            Ok(output) if output.status.success() => Some(SmallFs {
                filler: dir.path().join("filler"),
                dir,
            }),
            Ok(output) => {
                eprintln!(
                    "cannot mount a tmpfs here: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(error) => {
                eprintln!("cannot run mount: {error}");
                None
            }
        }
    }

    /// A directory on it for a relay's data.
    pub fn data_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("data");
        std::fs::create_dir_all(&dir).expect("a data directory on the small filesystem");
        dir
    }

    /// Its mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the filesystem refuses a single byte
    /// more; returns the bytes written.
    pub fn fill(&self) -> u64 {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)
            .expect("creating the filler");
        let block = vec![0x5a_u8; 64 * 1024];
        let mut written = 0;
        for size in [block.len(), 4096, 1] {
            while file.write_all(&block[..size]).is_ok() {
                written += size as u64;
            }
        }
        let _ = file.sync_all();
        written
    }

    /// Removes the filler: the space is back.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).expect("removing the filler");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazy: a relay still holding files there lets go when it exits.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
