//! The static files' caching rules as plain decisions: which names are
//! immutable, what each response says about caching, and when a client's
//! copy is current. No I/O: [`super`] carries them out.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// How many hex digits of SHA-256 a content-hashed name carries, as
/// scripts/lib/pack.mjs writes them (`NAME.<16 hex>.EXT`).
pub const HASH_DIGITS: usize = 16;

/// `Cache-Control` of a content-hashed name: its bytes never change, so a
/// browser keeps it a year and never asks again, not even on a reload.
pub const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");

/// `Cache-Control` of every other name (the loader, the bundles' entries,
/// pages): fresh for a minute, then asked again with its validators, so
/// a new version is seen within a minute of being installed.
pub const REVALIDATE: HeaderValue = HeaderValue::from_static("public, max-age=60, must-revalidate");

/// `Cache-Control` of an error or a redirect: nothing keeps it (the file
/// may be there a moment later, as during an upgrade).
pub const NOT_STORED: HeaderValue = HeaderValue::from_static("no-store");

/// The largest file under a fixed name whose `ETag` is computed (by
/// reading it whole); larger ones are served with `Last-Modified` only.
/// The fixed names are the small ones (the loader, entries of a few
/// hundred bytes, the console's page); the bundles are hashed.
pub const MAX_TAGGED_BYTES: usize = 1 << 20;

/// What a request path's name says about the bytes behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `NAME.<16 lowercase hex>.EXT`: named by its content, never changes.
    Hashed,
    /// Any other name: what it holds changes with each build.
    Fixed,
}

impl Naming {
    /// The naming of the last segment of `path` (as requested, not decoded:
    /// a hashed name needs no escapes, and a spelling with escapes is merely
    /// revalidated).
    pub fn of(path: &str) -> Naming {
        let name = path.rsplit('/').next().unwrap_or_default();
        let mut parts = name.rsplitn(3, '.');
        let (Some(extension), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next())
        else {
            return Naming::Fixed;
        };
        let hashed = !stem.is_empty()
            && !extension.is_empty()
            && extension.bytes().all(|b| b.is_ascii_alphanumeric())
            && hash.len() == HASH_DIGITS
            && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if hashed {
            Naming::Hashed
        } else {
            Naming::Fixed
        }
    }

    /// The `Cache-Control` of a response with `status` for a name of this
    /// kind.
    pub fn cache_control(self, status: StatusCode) -> HeaderValue {
        let stored = matches!(
            status,
            StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
        );
        match (stored, self) {
            (false, _) => NOT_STORED,
            (true, Naming::Hashed) => IMMUTABLE,
            (true, Naming::Fixed) => REVALIDATE,
        }
    }
}

/// A strong `ETag` for `body`, the bytes of one representation (so the
/// brotli, gzip and plain forms of a file each have their own): 128 bits of
/// its SHA-256, in hex.
pub fn etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::try_from(format!("\"{hex}\"")).expect("hex in quotes is a header value")
}

/// The validators a request for a file under a fixed name came with
/// (`If-None-Match`, `If-Modified-Since`), taken off it so the file service
/// always answers with the whole file, whose `ETag` is then known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    none_match: Option<String>,
    modified_since: Option<SystemTime>,
}

impl Conditions {
    /// Removes the validators from `headers` (and `Range`: a small file is
    /// sent whole, and a range of it would have no `ETag` to resume by).
    pub fn take(headers: &mut HeaderMap) -> Conditions {
        // Several If-None-Match lines are one list.
        let none_match: Vec<String> = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok().map(str::to_string))
            .collect();
        let modified_since = headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| httpdate::parse_http_date(text).ok());
        for name in [
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::RANGE,
            header::IF_RANGE,
        ] {
            headers.remove(name);
        }
        Conditions {
            none_match: (!none_match.is_empty()).then(|| none_match.join(", ")),
            modified_since,
        }
    }

    /// True when the client's copy is the one it would get (answer 304),
    /// as RFC 9110 section 13.2.2 orders it: `If-None-Match` (weak
    /// comparison, `*` matches anything), and only without it
    /// `If-Modified-Since` (at the second, as `Last-Modified` is written).
    pub fn current(&self, etag: &HeaderValue, last_modified: Option<SystemTime>) -> bool {
        if let Some(list) = &self.none_match {
            let ours = etag.to_str().unwrap_or_default();
            return list
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours);
        }
        match (self.modified_since, last_modified) {
            (Some(since), Some(modified)) => seconds(modified) <= seconds(since),
            _ => false,
        }
    }
}

/// True when a precompressed variant modified at `variant` is older than
/// its file, modified at `file`: a source edited since the last build,
/// whose variant must not be served in its place.
pub fn stale(file: Option<SystemTime>, variant: Option<SystemTime>) -> bool {
    match (file, variant) {
        (Some(file), Some(variant)) => seconds(file) > seconds(variant),
        _ => false,
    }
}

/// A header's `Last-Modified` (or any HTTP date).
pub fn http_date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    let text = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(text).ok()
}

/// Whole seconds since the epoch: HTTP dates have no finer resolution.
fn seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "caching_tests.rs"]
mod tests;
