//! Attached files as replicated records (issue 21): a file's chunks and,
//! once every chunk is in and checked, the file's record.
//!
//! **Where the bytes live: in the database, on both engines.** A
//! deployment may be many stateless relay nodes over one PostgreSQL
//! (issue 18), and nothing a second node needs may live only in one
//! node's `--data-dir`; a file on disk beside SQLite would also need its
//! own replication, durability and erasure. So a file is rows like every
//! other record: a chunk of [`CHUNK_BYTES`] is one row of `file_chunks`
//! (its bytes as base64 in the JSON body, about 87 KB), written by the same
//! writer, committed before it is acknowledged, carried in the change feed
//! (a feed page is bounded in bytes, so a page of chunks stays a sane
//! frame: `replication/feed.rs`) and deleted by the one erase primitive.
//! Base64 costs a third more space than a BLOB column; it keeps one code
//! path for every record, which is worth more at these sizes.
//!
//! **A chunk** (`<file>/<index>`) is immutable and merges by key: the same
//! bytes again are a duplicate (a retry, or the other deployment's copy),
//! other bytes under the key are refused. An upload cut by a failover
//! resumes on the other deployment from what that one holds.
//!
//! **A file** (its id) is the record of a complete, checked upload: name,
//! size, sniffed type and SHA-256, which both deployments compute the same
//! from the same bytes, so two completions of one upload (one on each
//! deployment) merge as duplicates; another file under a taken id is
//! refused. It is written only after every chunk is stored.
//!
//! Both belong to a chat: an erasure of the chat deletes them and refuses
//! copies arriving later, like its messages.

use super::StoreError;
use super::backend::{Cell, ColumnType, Table};
use super::kinds::{ChatClock, Kind, Outcome};
use super::records::{Record, Refusal};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use twinline_core::files::{CHUNK_BYTES, FileMeta, MAX_FILE_BYTES, chunk_count};
use twinline_core::model::{RecordError, TextError, check_field, check_number};
use twinline_core::{ChatId, FileId, Millis};

/// A complete file: what the relay checked, the site, when it was stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Name, size, type, hash, chat.
    #[serde(flatten)]
    pub meta: FileMeta,
    /// The chat's site.
    pub site: String,
    /// When it was completed (the earliest copy's time is kept).
    pub at: Millis,
}

/// One chunk of a file being (or having been) uploaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The file.
    pub file: FileId,
    /// Its chat.
    pub chat: ChatId,
    /// The chat's site.
    pub site: String,
    /// The chunk's index: its offset over [`CHUNK_BYTES`].
    pub index: u64,
    /// Its bytes, base64 (standard alphabet, padded).
    pub data: String,
}

impl Chunk {
    /// A chunk of `bytes`.
    pub fn new(file: FileId, chat: ChatId, site: &str, index: u64, bytes: &[u8]) -> Chunk {
        Chunk {
            file,
            chat,
            site: site.to_string(),
            index,
            data: STANDARD.encode(bytes),
        }
    }

    /// Its key: `<file>/<index>`, the index zero-padded so keys sort in
    /// file order.
    pub fn key_of(file: FileId, index: u64) -> String {
        format!("{file}/{index:04}")
    }

    /// Its bytes (`None` if `data` is not base64).
    pub fn bytes(&self) -> Option<Vec<u8>> {
        STANDARD.decode(&self.data).ok()
    }

    /// How many bytes it holds, from the length of its base64.
    pub fn len(&self) -> u64 {
        let padding = self.data.bytes().rev().take_while(|b| *b == b'=').count();
        ((self.data.len() / 4 * 3).saturating_sub(padding)) as u64
    }

    /// Whether it holds nothing (never admitted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a relay holds of one chunk (without its bytes): what the resume
/// endpoint lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldChunk {
    /// The chunk's index.
    pub index: u64,
    /// Its chat.
    pub chat: ChatId,
    /// Its length in bytes.
    pub bytes: u64,
}

/// Complete files: `files (id, chat, site, body)`.
pub static FILES: Table = Table {
    name: "files",
    key: "id",
    columns: &[("chat", ColumnType::Text), ("site", ColumnType::Text)],
};

/// Chunks: `file_chunks (key, file, chat, bytes, body)`: the limits count
/// a chat's chunks by `chat`, the resume endpoint lists a file's by `file`.
pub static FILE_CHUNKS: Table = Table {
    name: "file_chunks",
    key: "key",
    columns: &[
        ("file", ColumnType::Text),
        ("chat", ColumnType::Text),
        ("bytes", ColumnType::Int),
    ],
};

fn text(value: impl Into<String>) -> Cell {
    Cell::Text(Some(value.into()))
}

fn invalid(field: &'static str, value: u64) -> RecordError {
    RecordError::OutOfRange { field, value }
}

impl Kind for StoredFile {
    const TABLE: &'static Table = &FILES;

    fn key(&self) -> String {
        self.meta.id.to_string()
    }

    fn cells(&self) -> Vec<Cell> {
        vec![text(self.meta.chat.to_string()), text(self.site.clone())]
    }

    fn admit(&self, _chats: &dyn ChatClock) -> Result<(), RecordError> {
        check_field(&self.site).map_err(|error| RecordError::Text("site", error))?;
        check_number("at", self.at.0)?;
        self.meta
            .check()
            .map_err(|_| invalid("file", self.meta.size))
    }

    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        match stored {
            None => Outcome::Changed(incoming),
            Some(stored) if stored.meta != incoming.meta || stored.site != incoming.site => {
                Outcome::Refused(incoming, Refusal::IdTaken("file"))
            }
            Some(stored) if incoming.at < stored.at => Outcome::Rewritten(incoming),
            Some(stored) => Outcome::Unchanged(stored.clone()),
        }
    }

    fn into_record(self) -> Record {
        Record::File(self)
    }
}

impl Kind for Chunk {
    const TABLE: &'static Table = &FILE_CHUNKS;

    fn key(&self) -> String {
        Chunk::key_of(self.file, self.index)
    }

    fn cells(&self) -> Vec<Cell> {
        vec![
            text(self.file.to_string()),
            text(self.chat.to_string()),
            Cell::Int(Some(self.len() as i64)),
        ]
    }

    /// 1 to [`CHUNK_BYTES`] bytes of valid base64, at an index inside the
    /// largest file.
    fn admit(&self, _chats: &dyn ChatClock) -> Result<(), RecordError> {
        check_field(&self.site).map_err(|error| RecordError::Text("site", error))?;
        if self.index >= chunk_count(MAX_FILE_BYTES) {
            return Err(invalid("index", self.index));
        }
        let bytes = self.bytes().map(|b| b.len() as u64);
        match bytes {
            Some(len) if (1..=CHUNK_BYTES).contains(&len) => Ok(()),
            _ => Err(RecordError::Text(
                "data",
                TextError::TooLong {
                    chars: self.data.len(),
                    limit: STANDARD.encode(vec![0; CHUNK_BYTES as usize]).len(),
                },
            )),
        }
    }

    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        match stored {
            None => Outcome::Changed(incoming),
            Some(stored) if stored == &incoming => Outcome::Unchanged(stored.clone()),
            Some(_) => Outcome::Refused(incoming, Refusal::IdTaken("file chunk")),
        }
    }

    fn into_record(self) -> Record {
        Record::FileChunk(self)
    }
}

/// A `file_chunks` row's columns as a [`HeldChunk`] (a row whose key or
/// chat does not parse is left out, as if absent: it is sent again).
pub fn held_chunk(key: &str, chat: &str, bytes: i64) -> Option<HeldChunk> {
    Some(HeldChunk {
        index: key.rsplit_once('/')?.1.parse().ok()?,
        chat: chat.parse().ok()?,
        bytes: bytes.max(0) as u64,
    })
}

/// The file reads, one query each, on either engine (reached through
/// [`super::backend::Reads::files`]).
pub trait FileReads {
    /// A complete file's record.
    fn file(&mut self, id: FileId) -> Result<Option<StoredFile>, StoreError>;
    /// The chunks held of a file, by index, without their bytes.
    fn held_chunks(&mut self, id: FileId) -> Result<Vec<HeldChunk>, StoreError>;
    /// The chunks held of a file with their bytes, by index.
    fn chunks(&mut self, id: FileId) -> Result<Vec<Chunk>, StoreError>;
    /// How many files a chat has chunks of, and how many bytes they hold
    /// together (what the limits count).
    fn chat_usage(&mut self, chat: ChatId) -> Result<(u64, u64), StoreError>;
    /// A chat's complete files, by id.
    fn chat_files(&mut self, chat: ChatId) -> Result<Vec<StoredFile>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::Ulid;
    use twinline_core::files::FileType;

    struct NoClock;
    impl ChatClock for NoClock {
        fn highest(&self, _chat: ChatId) -> twinline_core::Lamport {
            twinline_core::Lamport(0)
        }
    }

    fn chunk(index: u64, bytes: &[u8]) -> Chunk {
        Chunk::new(FileId(Ulid(7)), ChatId(Ulid(1)), "demo", index, bytes)
    }

    fn file(at: u64) -> StoredFile {
        StoredFile {
            meta: FileMeta {
                id: FileId(Ulid(7)),
                chat: ChatId(Ulid(1)),
                name: "a.png".into(),
                size: 3,
                kind: FileType::Png,
                sha256: "ab".repeat(32),
            },
            site: "demo".into(),
            at: Millis(at),
        }
    }

    #[test]
    fn a_chunk_again_is_a_duplicate_and_other_bytes_are_refused() {
        let stored = chunk(0, b"abc");
        assert_eq!(stored.len(), 3);
        assert_eq!(chunk(0, b"ab").len(), 2);
        assert_eq!(chunk(0, b"a").len(), 1);
        assert_eq!(
            Chunk::merge(None, stored.clone()),
            Outcome::Changed(stored.clone())
        );
        assert_eq!(
            Chunk::merge(Some(&stored), stored.clone()),
            Outcome::Unchanged(stored.clone())
        );
        assert_eq!(
            Chunk::merge(Some(&stored), chunk(0, b"abd")),
            Outcome::Refused(chunk(0, b"abd"), Refusal::IdTaken("file chunk"))
        );
        assert_eq!(
            Chunk::key_of(stored.file, 12),
            format!("{}/0012", stored.file)
        );
    }

    #[test]
    fn chunks_out_of_bounds_are_not_admitted() {
        assert!(
            chunk(159, &[1; CHUNK_BYTES as usize])
                .admit(&NoClock)
                .is_ok()
        );
        assert!(chunk(160, b"x").admit(&NoClock).is_err());
        assert!(
            chunk(0, &[1; CHUNK_BYTES as usize + 1])
                .admit(&NoClock)
                .is_err()
        );
        assert!(chunk(0, b"").admit(&NoClock).is_err());
        let mut garbage = chunk(0, b"abc");
        garbage.data = "not base64!".into();
        assert!(garbage.admit(&NoClock).is_err());
    }

    #[test]
    fn two_completions_of_one_upload_merge_and_another_file_is_refused() {
        let first = file(10);
        assert_eq!(
            StoredFile::merge(Some(&first), file(20)),
            Outcome::Unchanged(first.clone())
        );
        assert_eq!(
            StoredFile::merge(Some(&file(20)), first.clone()),
            Outcome::Rewritten(first.clone())
        );
        let mut other = file(10);
        other.meta.name = "b.png".into();
        assert_eq!(
            StoredFile::merge(Some(&first), other.clone()),
            Outcome::Refused(other, Refusal::IdTaken("file"))
        );
        let mut bad = file(10);
        bad.meta.sha256 = "x".into();
        assert!(bad.admit(&NoClock).is_err());
    }
}
