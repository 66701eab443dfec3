//! Serving a file: only to its chat's visitor and its site's operators,
//! and never as active content.
//!
//! The type is the one sniffed at completion (an image, PDF or ZIP: no
//! type that runs script is ever stored). On top of that every answer says
//! `X-Content-Type-Options: nosniff` (a browser may not take it for
//! another type), `Content-Security-Policy: sandbox; default-src 'none'`
//! (opened as a page, it runs nothing and loads nothing, in a unique
//! origin), `Cross-Origin-Resource-Policy: same-origin` (no other site
//! embeds it) and, for anything but an image, `Content-Disposition:
//! attachment`, so it is saved, not shown. Clients fetch it with the token
//! in `Authorization` and show it through an object URL.

use super::access::{caller, not_found};
use crate::http::ApiError;
use crate::state::Shared;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use twinline_core::FileId;

/// The CSP of every file answer.
pub const FILE_CSP: &str = "sandbox; default-src 'none'";

/// `Content-Disposition` for a file: `attachment` unless it is an image,
/// with the name in ASCII (anything else, and quotes and backslashes, as
/// `_`) and in full as RFC 8187 `filename*`.
pub fn disposition(name: &str, image: bool) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let kind = if image { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /v1/files/{id}`: the bytes of a complete file.
pub async fn download(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers).await?;
    let id: FileId = id.parse().map_err(|_| not_found())?;
    let file = state
        .store
        .read(move |conn| conn.files().file(id))
        .await
        .map_err(ApiError::unavailable)?
        .filter(|file| who.reaches(file.meta.chat, &file.site))
        .ok_or_else(not_found)?;
    let chunks = state
        .store
        .read(move |conn| conn.files().chunks(id))
        .await
        .map_err(ApiError::unavailable)?;
    let mut bytes = Vec::with_capacity(file.meta.size as usize);
    for chunk in &chunks {
        bytes.extend(
            chunk
                .bytes()
                .ok_or_else(|| ApiError::unavailable("a stored chunk does not decode"))?,
        );
    }
    if bytes.len() as u64 != file.meta.size {
        // Its chunks went (an erasure committing beside this read).
        return Err(not_found());
    }
    let mut response = Response::new(Body::from(bytes));
    let set = response.headers_mut();
    set.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.meta.kind.mime()),
    );
    set.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    set.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FILE_CSP),
    );
    set.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    set.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(value) =
        HeaderValue::from_str(&disposition(&file.meta.name, file.meta.kind.is_image()))
    {
        set.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disposition_never_breaks_out_of_its_quotes() {
        assert_eq!(
            disposition("report.pdf", false),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        assert_eq!(
            disposition("a\"b\\c\r\nd é.png", true),
            "inline; filename=\"a_b_c__d _.png\"; filename*=UTF-8''a%22b%5Cc%0D%0Ad%20%C3%A9.png"
        );
        assert!(HeaderValue::from_str(&disposition("x\u{0}\u{7f}y", false)).is_ok());
    }
}
