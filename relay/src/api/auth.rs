//! Who is calling: `Authorization: Bearer twl_<id>_<secret>`, checked
//! against the stored hash in constant time, then the endpoint's scope.
//!
//! Wrong keys are throttled per client address before any lookup (the
//! admin tokens' budget, [`crate::throttle::ADDRESS_ADMIN_FAILURES`]: 10
//! back to back, then one a minute); while an address is throttled even a
//! right key waits, so guessing gains nothing. A missing scope is a 403
//! and is not counted: the key was right.

use crate::http::{ApiError, bearer};
use crate::net::admission::AddrKey;
use crate::state::Shared;
use crate::store::api_keys::{ApiKey, Scope};
use crate::store::reads;
use axum::http::{HeaderMap, StatusCode};
use std::net::IpAddr;
use std::time::Instant;

/// The key of a request that may do `scope`, or the refusal.
pub async fn caller(
    state: &Shared,
    headers: &HeaderMap,
    ip: IpAddr,
    scope: Scope,
) -> Result<ApiKey, ApiError> {
    let address = AddrKey::of(ip);
    let now = Instant::now();
    if let Err(wait) = state.api_key_throttle.check(address, now) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many wrong API keys from this address; retry later",
        )
        .retry_after(wait));
    }
    let key = match crate::apikeys::parse(bearer(headers)) {
        Some(presented) => {
            let id = presented.id.to_string();
            let stored = state
                .store
                .read(move |conn| reads::api_key(conn, &id))
                .await
                .map_err(ApiError::unavailable)?;
            stored.filter(|stored| crate::apikeys::opens(stored, presented))
        }
        None => None,
    };
    let Some(key) = key else {
        state.api_key_throttle.fail(address, now);
        tracing::warn!(%address, "API request with a wrong, revoked or missing key");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_key",
            "a valid API key is required: Authorization: Bearer twl_...",
        ));
    };
    if !key.allows(scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this API key lacks the scope {}", scope.as_str()),
        ));
    }
    Ok(key)
}
