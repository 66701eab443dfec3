//! The attached files' reads on SQLite (`store/files.rs`).

use super::reads::bodies;
use crate::store::StoreError;
use crate::store::files::{Chunk, FileReads, HeldChunk, StoredFile, held_chunk};
use rusqlite::Connection;
use twinline_core::{ChatId, FileId};

impl FileReads for Connection {
    fn file(&mut self, id: FileId) -> Result<Option<StoredFile>, StoreError> {
        Ok(bodies(
            self,
            "SELECT body FROM files WHERE id = ?1",
            [id.to_string()],
        )?
        .pop())
    }

    fn held_chunks(&mut self, id: FileId) -> Result<Vec<HeldChunk>, StoreError> {
        let mut stmt = self.prepare_cached(
            "SELECT key, chat, bytes FROM file_chunks WHERE file = ?1 ORDER BY key",
        )?;
        let rows = stmt.query_map([id.to_string()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        let mut held = Vec::new();
        for row in rows {
            let (key, chat, bytes) = row?;
            held.extend(held_chunk(&key, &chat, bytes));
        }
        Ok(held)
    }

    fn chunks(&mut self, id: FileId) -> Result<Vec<Chunk>, StoreError> {
        bodies(
            self,
            "SELECT body FROM file_chunks WHERE file = ?1 ORDER BY key",
            [id.to_string()],
        )
    }

    fn chat_usage(&mut self, chat: ChatId) -> Result<(u64, u64), StoreError> {
        Ok(self
            .prepare_cached(
                "SELECT COUNT(DISTINCT file), COALESCE(SUM(bytes), 0) FROM file_chunks
                 WHERE chat = ?1",
            )?
            .query_row([chat.to_string()], |row| {
                Ok((
                    row.get::<_, i64>(0)?.max(0) as u64,
                    row.get::<_, i64>(1)?.max(0) as u64,
                ))
            })?)
    }

    fn chat_files(&mut self, chat: ChatId) -> Result<Vec<StoredFile>, StoreError> {
        bodies(
            self,
            "SELECT body FROM files WHERE chat = ?1 ORDER BY id",
            [chat.to_string()],
        )
    }
}
