//! Uploading a file: chunks by id and index, what is held (for resuming),
//! and the completion that checks the bytes and stores the file's record.
//!
//! Every step can be repeated, here or on the other deployment: a chunk
//! merges by (file, index), a completion by the file's id, so a client
//! that does not know whether a request arrived sends it again. The limits
//! (docs/PROTOCOL.md "Files") are checked before each chunk is stored,
//! against what this deployment holds of the chat; a visitor's new chunk
//! is also charged to its client address and to the relay
//! ([`crate::limits::Rates::uploads`]), so one address cannot fill the
//! database by opening chat after chat.

use super::access::{Caller, caller, not_found};
use crate::http::ApiError;
use crate::net::ClientIp;
use crate::state::Shared;
use crate::store::files::{Chunk, HeldChunk, StoredFile};
use crate::store::reads;
use crate::store::records::{Record, Refusal};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use twinline_core::files::{
    self, CompleteRequest, FileError, FileMeta, MAX_CHAT_FILE_BYTES, MAX_FILES_PER_CHAT,
    UploadStatus,
};
use twinline_core::{ChatId, FileId};

/// The query of the upload endpoints: the chat the file is sent in, and
/// (for a chunk) the file's whole size.
#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    /// The chat.
    pub chat: ChatId,
    /// The whole file's size (chunk uploads).
    #[serde(default)]
    pub size: Option<u64>,
}

fn refused(error: FileError) -> ApiError {
    let (status, code) = match error {
        FileError::Size(_) => (StatusCode::PAYLOAD_TOO_LARGE, "file_too_large"),
        FileError::Type => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "file_type_not_allowed"),
        FileError::Name | FileError::Hash | FileError::Chat | FileError::Chunk { .. } => {
            (StatusCode::BAD_REQUEST, "bad_request")
        }
    };
    ApiError::new(status, code, error.to_string())
}

fn parse_id(id: &str) -> Result<FileId, ApiError> {
    id.parse().map_err(|_| not_found())
}

/// The site of `chat` if the caller reaches it: a visitor's own chat, or a
/// chat whose header this relay holds on a site the operator serves.
async fn chat_site(state: &Shared, who: &Caller, chat: ChatId) -> Result<String, ApiError> {
    if let Caller::Visitor { site, chat: mine } = who {
        return if *mine == chat {
            Ok(site.clone())
        } else {
            Err(not_found())
        };
    }
    let header = state
        .store
        .read(move |conn| reads::chat_in(conn, chat))
        .await
        .map_err(ApiError::unavailable)?;
    match header {
        Some(header) if who.reaches(chat, &header.site) => Ok(header.site),
        _ => Err(not_found()),
    }
}

/// What this relay holds of a file: its chunks, and its record once
/// complete. Chunks stored under another chat are someone else's file.
async fn holding(
    state: &Shared,
    id: FileId,
    chat: ChatId,
) -> Result<(Vec<HeldChunk>, Option<StoredFile>), ApiError> {
    let (held, file) = state
        .store
        .read(move |conn| {
            let files = conn.files();
            Ok((files.held_chunks(id)?, files.file(id)?))
        })
        .await
        .map_err(ApiError::unavailable)?;
    let other_chat =
        held.iter().any(|h| h.chat != chat) || file.as_ref().is_some_and(|f| f.meta.chat != chat);
    if other_chat {
        return Err(not_found());
    }
    Ok((held, file))
}

fn status_of(id: FileId, held: &[HeldChunk], file: Option<StoredFile>) -> UploadStatus {
    UploadStatus {
        id,
        chunks: held.iter().map(|h| h.index).collect(),
        file: file.map(|f| f.meta),
    }
}

fn store_refusal(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::IdTaken(_) => ApiError::new(
            StatusCode::CONFLICT,
            "id_taken",
            "other bytes are stored under this file id and chunk: choose a new file id",
        ),
        Refusal::Erased => ApiError::new(StatusCode::GONE, "erased", "the chat was erased"),
        Refusal::Invalid(error) => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
        }
    }
}

/// `POST /v1/files/{id}/chunks/{index}?chat=C&size=N`, the chunk's bytes
/// as the body: stores one chunk (again: harmless). Chunk 0 decides the
/// type: content no relay accepts is refused before anything is stored.
pub async fn put_chunk(
    State(state): State<Shared>,
    Path((id, index)): Path<(String, u64)>,
    Query(query): Query<UploadQuery>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<UploadStatus>, ApiError> {
    let who = caller(&state, &headers).await?;
    let id = parse_id(&id)?;
    let site = chat_site(&state, &who, query.chat).await?;
    let size = query.size.unwrap_or(0);
    files::check_size(size).map_err(refused)?;
    files::check_chunk(size, index, body.len() as u64).map_err(refused)?;
    if index == 0 && files::sniff(&body).is_none() {
        return Err(refused(FileError::Type));
    }
    let (held, file) = holding(&state, id, query.chat).await?;
    if file.is_some() || held.iter().any(|h| h.index == index) {
        // Held already (a retry): the merge would say so too, without the
        // limits counting it twice.
        let chunk = Chunk::new(id, query.chat, &site, index, &body);
        let applied = state
            .store
            .apply(Record::FileChunk(chunk), &state.config.name)
            .await
            .map_err(ApiError::unavailable)?;
        if let Some(refusal) = applied.refused {
            return Err(store_refusal(refusal));
        }
        return Ok(Json(status_of(id, &held, file)));
    }
    if matches!(who, Caller::Visitor { .. }) {
        state
            .uploads
            .by_address(ip, Instant::now())
            .map_err(|limited| {
                state.metrics.rate_limited.fetch_add(1, Relaxed);
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "too many file bytes uploaded from this {}; send the chunk again later",
                        limited.scope
                    ),
                )
                .retry_after(Duration::from_secs(limited.retry_after_secs))
            })?;
    }
    let chat = query.chat;
    let (count, bytes) = state
        .store
        .read(move |conn| conn.files().chat_usage(chat))
        .await
        .map_err(ApiError::unavailable)?;
    if held.is_empty() && count >= MAX_FILES_PER_CHAT {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_files",
            format!("a chat holds at most {MAX_FILES_PER_CHAT} files"),
        ));
    }
    if bytes + body.len() as u64 > MAX_CHAT_FILE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "chat_files_too_large",
            format!("the files of a chat hold at most {MAX_CHAT_FILE_BYTES} bytes together"),
        ));
    }
    let chunk = Chunk::new(id, chat, &site, index, &body);
    let applied = state
        .store
        .apply(Record::FileChunk(chunk), &state.config.name)
        .await
        .map_err(ApiError::unavailable)?;
    if let Some(refusal) = applied.refused {
        return Err(store_refusal(refusal));
    }
    let mut held = held;
    held.push(HeldChunk {
        index,
        chat,
        bytes: body.len() as u64,
    });
    held.sort_by_key(|h| h.index);
    Ok(Json(status_of(id, &held, None)))
}

/// `GET /v1/files/{id}/upload?chat=C`: the chunks held and, once complete,
/// the file (what a client resuming after a failover asks first).
pub async fn upload_status(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
) -> Result<Json<UploadStatus>, ApiError> {
    let who = caller(&state, &headers).await?;
    let id = parse_id(&id)?;
    chat_site(&state, &who, query.chat).await?;
    let (held, file) = holding(&state, id, query.chat).await?;
    Ok(Json(status_of(id, &held, file)))
}

/// `POST /v1/files/{id}/complete?chat=C` with a [`CompleteRequest`]: checks
/// that the chunks held are the whole file (every one there, of its
/// length), that their SHA-256 is the one declared, and that the first
/// bytes are of an accepted type; then stores the file's record.
pub async fn complete(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    Json(request): Json<CompleteRequest>,
) -> Result<Json<FileMeta>, ApiError> {
    let who = caller(&state, &headers).await?;
    let id = parse_id(&id)?;
    let site = chat_site(&state, &who, query.chat).await?;
    files::check_name(&request.name).map_err(refused)?;
    files::check_size(request.size).map_err(refused)?;
    files::check_hash(&request.sha256).map_err(refused)?;
    let (_, stored) = holding(&state, id, query.chat).await?;
    let chunks = state
        .store
        .read(move |conn| conn.files().chunks(id))
        .await
        .map_err(ApiError::unavailable)?;
    let meta = check_whole(id, query.chat, &request, &chunks)?;
    if let Some(stored) = stored {
        // Completed before (a retry, or on the other deployment): the same
        // declaration gets the same answer, another one a conflict.
        return if stored.meta == meta {
            Ok(Json(stored.meta))
        } else {
            Err(store_refusal(Refusal::IdTaken("file")))
        };
    }
    let record = StoredFile {
        meta: meta.clone(),
        site,
        at: crate::clock::now(),
    };
    let applied = state
        .store
        .apply(Record::File(record), &state.config.name)
        .await
        .map_err(ApiError::unavailable)?;
    if let Some(refusal) = applied.refused {
        return Err(store_refusal(refusal));
    }
    tracing::info!(file = %id, chat = %query.chat, size = meta.size, kind = meta.kind.mime(), "file stored");
    Ok(Json(meta))
}

/// The file the chunks make, if they are the whole of what `request`
/// declares.
fn check_whole(
    id: FileId,
    chat: ChatId,
    request: &CompleteRequest,
    chunks: &[Chunk],
) -> Result<FileMeta, ApiError> {
    let missing: Vec<u64> = files::missing(
        request.size,
        &chunks.iter().map(|c| c.index).collect::<Vec<_>>(),
    );
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "incomplete",
            format!(
                "{} of {} chunks are missing (first: {}); send them, then complete again",
                missing.len(),
                files::chunk_count(request.size),
                missing[0]
            ),
        ));
    }
    let mut hash = Sha256::new();
    let mut first = Vec::new();
    for chunk in chunks {
        let Some(bytes) = chunk.bytes() else {
            return Err(ApiError::unavailable("a stored chunk does not decode"));
        };
        files::check_chunk(request.size, chunk.index, bytes.len() as u64).map_err(refused)?;
        if chunk.index == 0 {
            first = bytes.iter().take(16).copied().collect();
        }
        hash.update(&bytes);
    }
    let digest: String = hash
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if digest != request.sha256 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "hash_mismatch",
            format!("the chunks held hash to {digest}, not the sha256 declared"),
        ));
    }
    let kind = files::sniff(&first).ok_or_else(|| refused(FileError::Type))?;
    Ok(FileMeta {
        id,
        chat,
        name: request.name.clone(),
        size: request.size,
        kind,
        sha256: digest,
    })
}
