//! The clear refusal a client gets when the server is full: HTTP 503 with
//! `Retry-After` and the documented JSON body (`{"error":"busy",…}`).
//!
//! Where the cap is hit at accept, no request has been read yet. A few
//! such connections at a time ([`super::fd_limit::REFUSAL_ROOM`], at most
//! [`REFUSALS_PER_ADDRESS`] from one address) are still read for a moment
//! and answered, so a browser shows "busy, retry" instead of a reset; the
//! rest are closed at once, because answering everyone would spend the
//! very descriptors the cap protects.

use crate::http::ApiError;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Seconds a refused client is asked to wait.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Refusals one address may have in flight at once.
pub const REFUSALS_PER_ADDRESS: usize = 4;

/// How long a refused connection may take to send its request head.
const REFUSAL_HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// `503 busy` with `Retry-After`.
pub fn busy(message: impl Into<String>) -> Response {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
        .retry_after(Duration::from_secs(RETRY_AFTER_SECS))
        .into_response()
}

/// Reads one request head from a connection over the cap and answers it
/// with [`busy`], then closes.
pub async fn answer_busy<I>(io: I, why: String)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| {
        let response: Response<Body> = busy(why.clone());
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_HEAD_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(io), service);
    // The whole exchange is bounded too: a client that reads the answer
    // slowly does not keep its descriptor.
    let _ = tokio::time::timeout(REFUSAL_HEAD_TIMEOUT * 2, connection).await;
}
