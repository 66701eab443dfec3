//! Attached files (issue 21): what a file is on the wire, its limits, the
//! types a relay accepts, and how an upload is cut into chunks.
//!
//! A file is uploaded in chunks of [`CHUNK_BYTES`] addressed by the file's
//! client-made id and the chunk's index (its offset over [`CHUNK_BYTES`]),
//! so sending a chunk twice, or to the other deployment, is harmless: every
//! store merges chunks by (file, index). Once every chunk is in, the upload
//! is completed: the relay checks the size and the SHA-256 the client
//! declared against the bytes it holds, and decides the type from the
//! first bytes ([`sniff`]), never from the name or from what the client
//! says. The rules live here, so relays and clients apply the same ones;
//! hashing is the relay's (and the browser's `crypto.subtle`), not the
//! core's.
//!
//! Only types that can never be active content in a browser are accepted:
//! PNG, JPEG, GIF and WebP images, PDF and ZIP (which office documents
//! are). SVG and HTML have no magic bytes and are refused like any other
//! unknown content; and whatever is stored is served as an attachment or
//! an image under a CSP sandbox with `nosniff` (relay/src/files/).

use crate::id::{ChatId, FileId};
use crate::model::check_field;
use serde::{Deserialize, Serialize};

/// Bytes in every chunk but the last (which holds the rest, 1 to
/// `CHUNK_BYTES`). 64 KiB: a chunk is one HTTP request and one stored
/// row; its record (base64 in JSON) is about 87 KB.
pub const CHUNK_BYTES: u64 = 64 * 1024;
/// Largest file: 10 MiB.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Most files one chat holds (complete or being uploaded).
pub const MAX_FILES_PER_CHAT: u64 = 20;
/// Most bytes the files of one chat hold together: 50 MiB.
pub const MAX_CHAT_FILE_BYTES: u64 = 50 * 1024 * 1024;

/// A type a relay accepts, decided from the first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FileType {
    /// `image/png`.
    #[serde(rename = "image/png")]
    Png,
    /// `image/jpeg`.
    #[serde(rename = "image/jpeg")]
    Jpeg,
    /// `image/gif`.
    #[serde(rename = "image/gif")]
    Gif,
    /// `image/webp`.
    #[serde(rename = "image/webp")]
    Webp,
    /// `application/pdf`.
    #[serde(rename = "application/pdf")]
    Pdf,
    /// `application/zip` (also docx, xlsx, odt: ZIP containers).
    #[serde(rename = "application/zip")]
    Zip,
}

impl FileType {
    /// The media type it is served as.
    pub fn mime(self) -> &'static str {
        match self {
            FileType::Png => "image/png",
            FileType::Jpeg => "image/jpeg",
            FileType::Gif => "image/gif",
            FileType::Webp => "image/webp",
            FileType::Pdf => "application/pdf",
            FileType::Zip => "application/zip",
        }
    }

    /// Whether it is shown as a preview (an image) rather than a named
    /// download.
    pub fn is_image(self) -> bool {
        matches!(
            self,
            FileType::Png | FileType::Jpeg | FileType::Gif | FileType::Webp
        )
    }
}

/// The type of a file from its first bytes (at least the first 12 are
/// needed), or `None` for anything not accepted: SVG, HTML, scripts,
/// executables, text.
pub fn sniff(first: &[u8]) -> Option<FileType> {
    if first.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(FileType::Png)
    } else if first.starts_with(b"\xff\xd8\xff") {
        Some(FileType::Jpeg)
    } else if first.starts_with(b"GIF87a") || first.starts_with(b"GIF89a") {
        Some(FileType::Gif)
    } else if first.len() >= 12 && first.starts_with(b"RIFF") && &first[8..12] == b"WEBP" {
        Some(FileType::Webp)
    } else if first.starts_with(b"%PDF-") {
        Some(FileType::Pdf)
    } else if first.starts_with(b"PK\x03\x04") {
        Some(FileType::Zip)
    } else {
        None
    }
}

/// How many chunks a file of `size` bytes has.
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_BYTES)
}

/// How many bytes chunk `index` of a file of `size` bytes holds, or
/// `None` past its end.
pub fn chunk_len(size: u64, index: u64) -> Option<u64> {
    let start = index.checked_mul(CHUNK_BYTES)?;
    (start < size).then(|| (size - start).min(CHUNK_BYTES))
}

/// The chunks an upload still has to send, in order, given those a relay
/// says it holds (in any order, repeats and indexes past the end ignored):
/// what the uploading client decides after a failover.
pub fn missing(size: u64, held: &[u64]) -> Vec<u64> {
    (0..chunk_count(size))
        .filter(|index| !held.contains(index))
        .collect()
}

/// A file as messages and transcripts carry it once its upload is
/// complete: what the relay checked and decided.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileMeta {
    /// The uploader's id for it.
    pub id: FileId,
    /// The chat it was sent in.
    pub chat: ChatId,
    /// Its name as the uploader gave it (shown as text, never a path).
    pub name: String,
    /// Its length in bytes.
    pub size: u64,
    /// Its type, from its first bytes.
    #[serde(rename = "type")]
    pub kind: FileType,
    /// The SHA-256 of its bytes, 64 lowercase hex digits.
    pub sha256: String,
}

/// `GET /v1/files/{id}/upload`: what a relay holds of an upload, so a
/// client (after a failover, a reload) sends only the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus {
    /// The file.
    pub id: FileId,
    /// The indexes of the chunks held, ascending.
    pub chunks: Vec<u64>,
    /// The file, once its upload is complete here.
    pub file: Option<FileMeta>,
}

/// `POST /v1/files/{id}/complete`: what the uploader declares, checked
/// against the chunks held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteRequest {
    /// The file's name.
    pub name: String,
    /// Its length in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, 64 lowercase hex digits.
    pub sha256: String,
}

/// Why a file or a chunk is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// Empty, or larger than [`MAX_FILE_BYTES`].
    #[error("a file holds 1 to {MAX_FILE_BYTES} bytes; this one has {0}")]
    Size(u64),
    /// The name is empty, too long or has control characters.
    #[error("the file name is empty, longer than 200 characters or has control characters")]
    Name,
    /// Not 64 lowercase hex digits.
    #[error("sha256 must be 64 lowercase hex digits")]
    Hash,
    /// The first bytes are not of an accepted type.
    #[error(
        "this type of file is not accepted (by its content: PNG, JPEG, GIF, WebP, PDF and ZIP are)"
    )]
    Type,
    /// A message's file of another chat.
    #[error("the file was sent in another chat")]
    Chat,
    /// A chunk index past the file's end, or a chunk of the wrong length.
    #[error("chunk {index} of a file of {size} bytes must hold {expected} bytes")]
    Chunk {
        /// The chunk's index.
        index: u64,
        /// The file's declared size.
        size: u64,
        /// What that chunk must hold (0: there is no such chunk).
        expected: u64,
    },
}

/// The bidirectional formatting characters (U+202A..U+202E, U+2066..U+2069,
/// U+200E, U+200F, U+061C): in a file name they make "invoice\u{202e}fdp.exe"
/// show as "invoiceexe.pdf", in the chat and in a browser's download bar.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// Checks a declared name: not blank, bounded, no control characters and
/// no bidirectional formatting characters (a name that shows as another).
pub fn check_name(name: &str) -> Result<(), FileError> {
    if name.trim().is_empty()
        || check_field(name).is_err()
        || name.chars().any(|c| c.is_control() || is_bidi_control(c))
    {
        return Err(FileError::Name);
    }
    Ok(())
}

/// Checks a declared size.
pub fn check_size(size: u64) -> Result<(), FileError> {
    if size == 0 || size > MAX_FILE_BYTES {
        return Err(FileError::Size(size));
    }
    Ok(())
}

/// Checks a declared hash.
pub fn check_hash(sha256: &str) -> Result<(), FileError> {
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if sha256.len() != 64 || !sha256.bytes().all(hex) {
        return Err(FileError::Hash);
    }
    Ok(())
}

/// Checks that `len` bytes are what chunk `index` of a `size`-byte file
/// holds.
pub fn check_chunk(size: u64, index: u64, len: u64) -> Result<(), FileError> {
    check_size(size)?;
    let expected = chunk_len(size, index).unwrap_or(0);
    if expected == 0 || len != expected {
        return Err(FileError::Chunk {
            index,
            size,
            expected,
        });
    }
    Ok(())
}

impl FileMeta {
    /// What every relay checks before storing a file's record, whoever
    /// sent it (a peer's copy too): the same rules as an upload's.
    pub fn check(&self) -> Result<(), FileError> {
        check_name(&self.name)?;
        check_size(self.size)?;
        check_hash(&self.sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_first_bytes_and_svg_html_and_text_are_refused() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(FileType::Png));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), Some(FileType::Jpeg));
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some(FileType::Gif));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(FileType::Webp));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(FileType::Pdf));
        assert_eq!(sniff(b"PK\x03\x04\x14\0"), Some(FileType::Zip));
        for active in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"[..],
            b"<?xml version='1.0'?><svg/>",
            b"<!DOCTYPE html><script>alert(1)</script>",
            b"<html>",
            b"hello",
            b"RIFF\x24\0\0\0WAVE",
            b"\x89PN",
            b"",
        ] {
            assert_eq!(sniff(active), None, "{:?}", String::from_utf8_lossy(active));
        }
        assert!(FileType::Webp.is_image() && !FileType::Pdf.is_image());
        assert_eq!(
            serde_json::to_string(&FileType::Pdf).unwrap(),
            "\"application/pdf\""
        );
    }

    #[test]
    fn chunks_cover_the_file_and_only_the_last_is_short() {
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_BYTES), 1);
        assert_eq!(chunk_count(CHUNK_BYTES + 1), 2);
        assert_eq!(chunk_count(MAX_FILE_BYTES), 160);
        assert_eq!(chunk_len(CHUNK_BYTES + 1, 0), Some(CHUNK_BYTES));
        assert_eq!(chunk_len(CHUNK_BYTES + 1, 1), Some(1));
        assert_eq!(chunk_len(CHUNK_BYTES + 1, 2), None);
        assert_eq!(chunk_len(10, u64::MAX), None);
        assert!(check_chunk(CHUNK_BYTES + 1, 1, 1).is_ok());
        assert!(check_chunk(CHUNK_BYTES + 1, 1, 2).is_err());
        assert!(check_chunk(CHUNK_BYTES + 1, 2, 0).is_err());
        assert!(check_chunk(MAX_FILE_BYTES + 1, 0, CHUNK_BYTES).is_err());
    }

    #[test]
    fn an_upload_resumes_with_what_the_relay_lacks() {
        let size = 3 * CHUNK_BYTES + 5;
        assert_eq!(missing(size, &[]), vec![0, 1, 2, 3]);
        assert_eq!(missing(size, &[2, 0, 0, 99]), vec![1, 3]);
        assert!(missing(size, &[3, 2, 1, 0]).is_empty());
    }

    #[test]
    fn a_message_carries_a_file_of_its_own_chat_and_may_then_have_no_text() {
        use crate::model::{Author, Message, RecordError, Role};
        use crate::{Lamport, MessageId, Millis, Ulid};
        let chat = ChatId(Ulid(1));
        let file = FileMeta {
            id: FileId(Ulid(7)),
            chat,
            name: "a.pdf".into(),
            size: 10,
            kind: FileType::Pdf,
            sha256: "ab".repeat(32),
        };
        let mut msg = Message {
            lamport: Lamport(1),
            author: Author {
                role: Role::Visitor,
                id: "v".into(),
                name: String::new(),
            },
            id: MessageId(Ulid(2)),
            chat,
            text: String::new(),
            at: Millis(1),
            file: Some(file.clone()),
        };
        assert_eq!(msg.check(), Ok(()));
        let mut other = msg.clone();
        other.file.as_mut().unwrap().chat = ChatId(Ulid(9));
        assert_eq!(other.check(), Err(RecordError::File(FileError::Chat)));
        other.file.as_mut().unwrap().chat = chat;
        other.file.as_mut().unwrap().size = 0;
        assert!(other.check().is_err());
        assert!(!msg.same_as(&other));
        msg.file = None;
        assert!(msg.check().is_err(), "no file, no text");
    }

    #[test]
    fn declared_names_sizes_and_hashes_are_bounded() {
        assert!(check_name("photo.png").is_ok());
        assert_eq!(check_name(""), Err(FileError::Name));
        assert_eq!(check_name("  "), Err(FileError::Name));
        assert_eq!(check_name("a\u{0}b"), Err(FileError::Name));
        // Shown as "invoiceexe.pdf": a name that pretends to be another.
        assert_eq!(check_name("invoice\u{202e}fdp.exe"), Err(FileError::Name));
        assert_eq!(check_name("a\u{2067}b.png"), Err(FileError::Name));
        assert!(check_name("facture-été.pdf").is_ok());
        assert_eq!(check_name(&"x".repeat(201)), Err(FileError::Name));
        assert_eq!(check_size(0), Err(FileError::Size(0)));
        assert!(check_size(MAX_FILE_BYTES).is_ok());
        assert!(check_hash(&"ab".repeat(32)).is_ok());
        assert_eq!(check_hash(&"AB".repeat(32)), Err(FileError::Hash));
        assert_eq!(check_hash("ab"), Err(FileError::Hash));
    }
}
