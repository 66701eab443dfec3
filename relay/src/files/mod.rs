//! Attached files over HTTP (issue 21, docs/PROTOCOL.md "Files"): the
//! upload in chunks (`upload.rs`), the download (`download.rs`) and who
//! may do either (`access.rs`). The records and where the bytes are kept
//! are `store/files.rs`; the rules (limits, types, chunks) are the core's
//! `twinline_core::files`.

pub mod access;
pub mod download;
#[cfg(test)]
mod router_tests;
pub mod upload;

use crate::state::Shared;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

/// The file routes (CORS is the caller's: the widget's and the console's
/// origins).
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/files/{id}", get(download::download))
        .route("/v1/files/{id}/upload", get(upload::upload_status))
        .route("/v1/files/{id}/complete", post(upload::complete))
        .route(
            "/v1/files/{id}/chunks/{index}",
            post(upload::put_chunk).layer(DefaultBodyLimit::max(
                twinline_core::files::CHUNK_BYTES as usize + 1,
            )),
        )
}

#[cfg(test)]
mod tests {
    use crate::limits::defaults::{
        UPLOAD_CHUNKS_BURST, UPLOAD_CHUNKS_BURST_PER_IP, UPLOAD_CHUNKS_RATE,
        UPLOAD_CHUNKS_RATE_PER_IP,
    };
    use twinline_core::files::{
        CHUNK_BYTES, MAX_CHAT_FILE_BYTES, MAX_FILE_BYTES, MAX_FILES_PER_CHAT,
    };

    /// docs/PROTOCOL.md's limits rows give the values the core enforces.
    #[test]
    fn the_protocol_gives_the_file_limits_the_code_enforces() {
        let doc = include_str!("../../../docs/PROTOCOL.md");
        let thousands = |n: u64| {
            let digits = n.to_string();
            let mut out = String::new();
            for (i, digit) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(digit);
            }
            out
        };
        for row in [
            format!(
                "| a file | 1 byte to {} MiB ({} bytes)",
                MAX_FILE_BYTES >> 20,
                thousands(MAX_FILE_BYTES)
            ),
            format!("| a file's chunk | {} bytes", thousands(CHUNK_BYTES)),
            format!(
                "(a chunk the relay holds already is free) | {} ({} MiB), then {}/s ({} KiB/s)",
                thousands(UPLOAD_CHUNKS_BURST_PER_IP.into()),
                (u64::from(UPLOAD_CHUNKS_BURST_PER_IP) * CHUNK_BYTES) >> 20,
                UPLOAD_CHUNKS_RATE_PER_IP,
                (u64::from(UPLOAD_CHUNKS_RATE_PER_IP) * CHUNK_BYTES) >> 10,
            ),
            format!(
                "| file chunks visitors upload, whole relay | {} ({} GiB), then {}/s ({} MiB/s)",
                thousands(UPLOAD_CHUNKS_BURST.into()),
                (u64::from(UPLOAD_CHUNKS_BURST) * CHUNK_BYTES) >> 30,
                UPLOAD_CHUNKS_RATE,
                (u64::from(UPLOAD_CHUNKS_RATE) * CHUNK_BYTES) >> 20,
            ),
            format!("| files per chat (complete or being uploaded) | {MAX_FILES_PER_CHAT} |"),
            format!(
                "| bytes of a chat's files together | {} MiB ({} bytes)",
                MAX_CHAT_FILE_BYTES >> 20,
                thousands(MAX_CHAT_FILE_BYTES)
            ),
        ] {
            assert!(doc.contains(&row), "docs/PROTOCOL.md lacks {row}");
        }
    }
}
