//! The attached files' reads on PostgreSQL (`store/files.rs`).

use super::Conn;
use crate::store::StoreError;
use crate::store::files::{Chunk, FileReads, HeldChunk, StoredFile, held_chunk};
use twinline_core::{ChatId, FileId};

impl FileReads for Conn {
    fn file(&mut self, id: FileId) -> Result<Option<StoredFile>, StoreError> {
        Ok(self
            .bodies("SELECT body FROM files WHERE id = $1", &[&id.to_string()])?
            .pop())
    }

    fn held_chunks(&mut self, id: FileId) -> Result<Vec<HeldChunk>, StoreError> {
        let rows = self.rows(
            "SELECT key, chat, bytes FROM file_chunks WHERE file = $1 ORDER BY key",
            &[&id.to_string()],
        )?;
        Ok(rows
            .iter()
            .filter_map(|row| held_chunk(row.get(0), row.get(1), row.get(2)))
            .collect())
    }

    fn chunks(&mut self, id: FileId) -> Result<Vec<Chunk>, StoreError> {
        self.bodies(
            "SELECT body FROM file_chunks WHERE file = $1 ORDER BY key",
            &[&id.to_string()],
        )
    }

    fn chat_usage(&mut self, chat: ChatId) -> Result<(u64, u64), StoreError> {
        let rows = self.rows(
            "SELECT COUNT(DISTINCT file), COALESCE(SUM(bytes), 0)::BIGINT FROM file_chunks
             WHERE chat = $1",
            &[&chat.to_string()],
        )?;
        Ok((
            rows[0].get::<_, i64>(0).max(0) as u64,
            rows[0].get::<_, i64>(1).max(0) as u64,
        ))
    }

    fn chat_files(&mut self, chat: ChatId) -> Result<Vec<StoredFile>, StoreError> {
        self.bodies(
            "SELECT body FROM files WHERE chat = $1 ORDER BY id",
            &[&chat.to_string()],
        )
    }
}
