//! The operator's uploads (issue 21): a file sent in a chat goes up in
//! chunks to the deployment the session is on, and is then carried by a
//! message (`Session::send_file_with_id`). What to do next is decided here,
//! from what the relay answered and where the session is now, so a failover
//! mid-upload resumes on the other deployment by itself: a relay we have
//! not asked yet is first asked what it holds (`GET .../upload`), and only
//! the chunks it lacks are sent (`twinline_core::files::missing`).
//!
//! # Driving it
//! 1. [`Uploads::add`] with the file's client-made id, the id of the
//!    message that will carry it, its name, size and SHA-256 (the page
//!    hashes with `crypto.subtle`). Name and size are checked here, before
//!    any byte is sent; the type is the relay's to decide.
//! 2. Loop on [`Uploads::next`]`(id, on)` with the deployment the session
//!    is on now, and carry the [`Step`] out; feed the answer back with
//!    [`Uploads::held`] (a status, or a chunk's answer: both say what is
//!    held), [`Uploads::completed`], [`Uploads::refused`] (a 4xx: the
//!    relay's message is shown as it is) or [`Uploads::sent`].
//! 3. A request that got no answer is simply tried again (after a pause):
//!    every step is idempotent on both deployments.
//!
//! The bytes are the shell's (kept in memory by the upload's task): a
//! reload forgets an unfinished upload, and the page shows it no more.

use serde::Serialize;
use twinline_core::files::{self, FileError, FileMeta, MAX_FILES_PER_CHAT, UploadStatus};
use twinline_core::protocol::DeploymentRole;
use twinline_core::{ChatId, FileId, MessageId};

/// What the upload of one file needs next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Ask the deployment what it holds of the file.
    Ask,
    /// Send chunk `index`.
    Chunk(u64),
    /// Every chunk is held: declare name, size and hash.
    Complete,
    /// The file is complete: send the message carrying it.
    Send(FileMeta),
    /// Finished (the message is in the session) or refused.
    Stop,
}

/// One file being uploaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The file's client-made id.
    pub id: FileId,
    /// The chat it is sent in.
    pub chat: ChatId,
    /// The id of the message that carries it.
    pub message: MessageId,
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, 64 lowercase hex digits.
    pub sha256: String,
    /// What a deployment said it holds, and which one said it.
    held: Option<(DeploymentRole, Vec<u64>)>,
    /// The record a relay completed.
    file: Option<FileMeta>,
    /// The relay's refusal, shown as it is.
    error: Option<String>,
    /// The message carrying it is in the session.
    sent: bool,
}

/// An upload as the page shows it (progress, or why it was refused).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UploadView {
    /// The file's id.
    pub id: String,
    /// The chat.
    pub chat: String,
    /// The file's name, shown as text.
    pub name: String,
    /// Bytes the deployment holds.
    pub sent: u64,
    /// The file's size.
    pub size: u64,
    /// The relay's refusal (or the client's, before sending), as text.
    pub error: Option<String>,
}

/// Every upload of the console.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uploads {
    list: Vec<Upload>,
}

impl Uploads {
    /// Queues a file. Refused at once, with the message to show, when its
    /// name or size breaks the limits every relay enforces, or when the
    /// chat already has as many uploads here as a chat may hold files.
    pub fn add(
        &mut self,
        chat: ChatId,
        id: FileId,
        message: MessageId,
        name: &str,
        size: u64,
        sha256: &str,
    ) -> Result<(), String> {
        files::check_name(name)
            .and_then(|()| files::check_size(size))
            .and_then(|()| files::check_hash(sha256))
            .map_err(|e: FileError| e.to_string())?;
        if self.list.iter().any(|u| u.id == id) {
            return Err("this file is already being sent".into());
        }
        let in_chat = self.list.iter().filter(|u| u.chat == chat).count() as u64;
        if in_chat >= MAX_FILES_PER_CHAT {
            return Err(format!("a chat holds at most {MAX_FILES_PER_CHAT} files"));
        }
        self.list.push(Upload {
            id,
            chat,
            message,
            name: name.to_string(),
            size,
            sha256: sha256.to_string(),
            held: None,
            file: None,
            error: None,
            sent: false,
        });
        Ok(())
    }

    /// The upload `id`, if queued.
    pub fn get(&self, id: FileId) -> Option<&Upload> {
        self.list.iter().find(|u| u.id == id)
    }

    fn get_mut(&mut self, id: FileId) -> Option<&mut Upload> {
        self.list.iter_mut().find(|u| u.id == id)
    }

    /// What upload `id` needs next, with the session on deployment `on`
    /// (`None`: not connected yet; ask the primary).
    pub fn next(&self, id: FileId, on: Option<DeploymentRole>) -> Step {
        let on = on.unwrap_or(DeploymentRole::Primary);
        let Some(upload) = self.get(id) else {
            return Step::Stop;
        };
        if upload.error.is_some() || upload.sent {
            return Step::Stop;
        }
        if let Some(file) = &upload.file {
            return Step::Send(file.clone());
        }
        match &upload.held {
            Some((there, held)) if *there == on => {
                match files::missing(upload.size, held).first() {
                    Some(index) => Step::Chunk(*index),
                    None => Step::Complete,
                }
            }
            // Never asked, or asked another deployment: this one may hold
            // more (replicated) or less (a failover before replication).
            _ => Step::Ask,
        }
    }

    /// What deployment `on` said it holds (a status, or a chunk's answer).
    pub fn held(&mut self, id: FileId, on: Option<DeploymentRole>, status: UploadStatus) {
        let on = on.unwrap_or(DeploymentRole::Primary);
        if let Some(upload) = self.get_mut(id) {
            if let Some(file) = status.file {
                upload.file = Some(file);
            }
            upload.held = Some((on, status.chunks));
        }
    }

    /// A relay completed the file.
    pub fn completed(&mut self, id: FileId, file: FileMeta) {
        if let Some(upload) = self.get_mut(id) {
            upload.file = Some(file);
        }
    }

    /// A relay refused a step (4xx): the upload stops, showing `message`.
    pub fn refused(&mut self, id: FileId, message: String) {
        if let Some(upload) = self.get_mut(id) {
            upload.error = Some(message);
        }
    }

    /// The message carrying the file is in the session (which sends and
    /// replays it): the upload is done and leaves the list.
    pub fn sent(&mut self, id: FileId) {
        self.list.retain(|u| u.id != id);
    }

    /// Drops a refused upload the operator dismissed.
    pub fn dismiss(&mut self, id: FileId) {
        self.list.retain(|u| u.id != id || u.error.is_none());
    }

    /// What the page shows.
    pub fn views(&self) -> Vec<UploadView> {
        self.list
            .iter()
            .map(|u| UploadView {
                id: u.id.to_string(),
                chat: u.chat.to_string(),
                name: u.name.clone(),
                sent: match (&u.file, &u.held) {
                    (Some(_), _) => u.size,
                    (None, Some((_, held))) => held
                        .iter()
                        .filter_map(|i| files::chunk_len(u.size, *i))
                        .sum(),
                    (None, None) => 0,
                },
                size: u.size,
                error: u.error.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::files::{CHUNK_BYTES, FileType};
    use twinline_core::{Millis, Ulid};

    const P: Option<DeploymentRole> = Some(DeploymentRole::Primary);
    const R: Option<DeploymentRole> = Some(DeploymentRole::Redundant);

    fn chat() -> ChatId {
        ChatId(Ulid::new(Millis(1_000), 7))
    }

    fn file() -> FileId {
        FileId(Ulid::new(Millis(2_000), 3))
    }

    fn hash() -> String {
        "ab".repeat(32)
    }

    fn meta(size: u64) -> FileMeta {
        FileMeta {
            id: file(),
            chat: chat(),
            name: "shot.png".into(),
            size,
            kind: FileType::Png,
            sha256: hash(),
        }
    }

    fn status(chunks: &[u64], file: Option<FileMeta>) -> UploadStatus {
        UploadStatus {
            id: self::file(),
            chunks: chunks.to_vec(),
            file,
        }
    }

    fn queued(size: u64) -> Uploads {
        let mut uploads = Uploads::default();
        let message = MessageId(Ulid::new(Millis(2_000), 4));
        uploads
            .add(chat(), file(), message, "shot.png", size, &hash())
            .unwrap();
        uploads
    }

    #[test]
    fn an_upload_asks_sends_each_chunk_completes_then_sends_its_message() {
        let size = 2 * CHUNK_BYTES + 10;
        let mut uploads = queued(size);
        assert_eq!(uploads.next(file(), P), Step::Ask);
        uploads.held(file(), P, status(&[], None));
        assert_eq!(uploads.next(file(), P), Step::Chunk(0));
        uploads.held(file(), P, status(&[0], None));
        assert_eq!(uploads.next(file(), P), Step::Chunk(1));
        assert_eq!(uploads.views()[0].sent, CHUNK_BYTES);
        uploads.held(file(), P, status(&[0, 1, 2], None));
        assert_eq!(uploads.next(file(), P), Step::Complete);
        assert_eq!(uploads.views()[0].sent, size);
        uploads.completed(file(), meta(size));
        assert_eq!(uploads.next(file(), P), Step::Send(meta(size)));
        uploads.sent(file());
        assert_eq!(uploads.next(file(), P), Step::Stop);
        assert!(uploads.views().is_empty());
    }

    #[test]
    fn after_a_failover_the_other_deployment_is_asked_and_gets_only_what_it_lacks() {
        let size = 3 * CHUNK_BYTES;
        let mut uploads = queued(size);
        uploads.held(file(), P, status(&[0, 1], None));
        assert_eq!(uploads.next(file(), P), Step::Chunk(2));
        // The session moved to the redundant deployment: ask it first.
        assert_eq!(uploads.next(file(), R), Step::Ask);
        // It has chunk 0 only (1 had not replicated yet).
        uploads.held(file(), R, status(&[0], None));
        assert_eq!(uploads.next(file(), R), Step::Chunk(1));
        uploads.held(file(), R, status(&[0, 1], None));
        assert_eq!(uploads.next(file(), R), Step::Chunk(2));
        // A deployment that already completed it (replicated): send.
        uploads.held(file(), R, status(&[0, 1, 2], Some(meta(size))));
        assert_eq!(uploads.next(file(), R), Step::Send(meta(size)));
        assert_eq!(uploads.next(file(), P), Step::Send(meta(size)));
    }

    #[test]
    fn a_refusal_stops_the_upload_and_is_shown_until_dismissed() {
        let mut uploads = queued(100);
        uploads.held(file(), P, status(&[], None));
        let refusal = "this type of file is not accepted <b>";
        uploads.refused(file(), refusal.into());
        assert_eq!(uploads.next(file(), P), Step::Stop);
        assert_eq!(uploads.views()[0].error.as_deref(), Some(refusal));
        uploads.dismiss(file());
        assert!(uploads.views().is_empty());
    }

    #[test]
    fn names_sizes_and_counts_are_refused_before_any_byte_is_sent() {
        let mut uploads = Uploads::default();
        let m = MessageId(Ulid::new(Millis(2_000), 4));
        let f = |n: u128| FileId(Ulid::new(Millis(2_000), n));
        let too_big = files::MAX_FILE_BYTES + 1;
        let error = uploads
            .add(chat(), f(1), m, "big.png", too_big, &hash())
            .unwrap_err();
        assert!(error.contains("10485760"), "{error}");
        assert!(uploads.add(chat(), f(1), m, "", 10, &hash()).is_err());
        assert!(
            uploads
                .add(chat(), f(1), m, "a\u{202e}b", 10, &hash())
                .is_err()
        );
        assert!(uploads.add(chat(), f(1), m, "a.png", 0, &hash()).is_err());
        assert!(uploads.add(chat(), f(1), m, "a.png", 10, "AB").is_err());
        for n in 0..MAX_FILES_PER_CHAT {
            uploads
                .add(chat(), f(10 + n as u128), m, "a.png", 10, &hash())
                .unwrap();
        }
        let error = uploads
            .add(chat(), f(99), m, "a.png", 10, &hash())
            .unwrap_err();
        assert!(error.contains("at most 20 files"), "{error}");
        assert!(uploads.add(chat(), f(10), m, "a.png", 10, &hash()).is_err());
        let other = ChatId(Ulid::new(Millis(1_000), 8));
        assert!(uploads.add(other, f(99), m, "a.png", 10, &hash()).is_ok());
        assert!(
            uploads
                .views()
                .iter()
                .all(|v| v.sent == 0 && v.error.is_none())
        );
    }
}
