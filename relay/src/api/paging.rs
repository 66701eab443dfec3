//! Page sizes and cursors of the list endpoints, as plain decisions.
//!
//! A cursor is the id of the last item of the page before, opaque to
//! callers. Ids are made by clients and are the same on both deployments,
//! so a cursor from one deployment goes on at the other after a failover
//! (a page ordered by a relay's own arrival time would not).

use crate::http::ApiError;
use axum::http::StatusCode;
use serde::Deserialize;

/// Items in a page when the request does not say.
pub const DEFAULT_LIMIT: usize = 50;
/// Most items in one page.
pub const MAX_LIMIT: usize = 200;

/// The query of a list endpoint: `?limit=&cursor=` (and `state=` for
/// chats).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// Items wanted, 1 to [`MAX_LIMIT`].
    pub limit: Option<usize>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// Only chats in this state: waiting, active or closed.
    pub state: Option<String>,
}

/// The page size asked for, or a `bad_request`.
pub fn limit(asked: Option<usize>) -> Result<usize, ApiError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("limit is {n}; it must be 1 to {MAX_LIMIT}"),
        )),
    }
}

/// The cursor as an id of type `T`, or a `bad_cursor`.
pub fn cursor<T: std::str::FromStr>(cursor: Option<&str>) -> Result<Option<T>, ApiError> {
    cursor
        .map(|text| text.parse().map_err(|_| bad_cursor()))
        .transpose()
}

/// 400 `bad_cursor`: not a cursor a page of this list returned.
pub fn bad_cursor() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad_cursor",
        "the cursor is not one a page of this list returned",
    )
}

/// The next cursor of a page of `limit` items asked for: the last item's
/// id when the page is full (there may be more), else none.
pub fn next_cursor<T>(page: &[T], limit: usize, id: impl Fn(&T) -> String) -> Option<String> {
    (page.len() == limit).then(|| page.last().map(id)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::{ChatId, Ulid};

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(1)).unwrap(), 1);
        assert_eq!(limit(Some(MAX_LIMIT)).unwrap(), MAX_LIMIT);
        for bad in [0, MAX_LIMIT + 1, usize::MAX] {
            let error = limit(Some(bad)).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn a_cursor_is_an_id_and_anything_else_is_refused() {
        let id = ChatId(Ulid(42));
        let text = id.to_string();
        assert_eq!(cursor::<ChatId>(Some(&text)).unwrap(), Some(id));
        assert_eq!(cursor::<ChatId>(None).unwrap(), None);
        for bad in ["", "not-an-id", "' OR 1=1 --"] {
            assert!(cursor::<ChatId>(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_a_full_page_has_a_next_cursor() {
        let items = [1, 2, 3];
        assert_eq!(next_cursor(&items, 3, |n| n.to_string()), Some("3".into()));
        assert_eq!(next_cursor(&items, 4, |n| n.to_string()), None);
        assert_eq!(next_cursor::<u8>(&[], 1, |n| n.to_string()), None);
    }
}
