//! The static files a relay serves from `--www`: the loader, the widget's
//! and the console's bundles, the pages. Either deployment serves all of
//! it, so a page can get the widget from whichever one answers.
//!
//! # Compressed as served
//! Brotli and gzip are made at build time (scripts/pack-www.mjs writes
//! `FILE.br` and `FILE.gz` beside each file). tower-http's `ServeDir` picks
//! the variant by `Accept-Encoding` (highest q-value, brotli before gzip at
//! equal q), sends `Content-Encoding` and the variant's `Content-Length`,
//! and the file itself to a client that accepts neither. It sends no
//! `Vary`, so every response here says `Vary: Accept-Encoding` (a shared
//! cache must not hand brotli to a client that cannot read it). A variant
//! older than its file (a source edited since the last build) is not
//! served: the file is, and a warning says to rebuild.
//!
//! # Cached by name
//! A file named by its content, `NAME.<16 hex>.EXT` (the bundles' glue
//! and wasm), never changes, so it is served `immutable` for a year: a
//! returning visitor downloads nothing. Every other name (the loader
//! customers paste or link, the bundles' entries that pasted loaders ask
//! for, pages) is fresh for a minute and then revalidated: it carries a
//! strong `ETag` (a hash of the bytes sent, computed here: `ServeDir` has
//! only `Last-Modified`, which has one-second resolution and goes backwards
//! when a deployment is rolled back to older files) and `Last-Modified`,
//! and a request whose validators match gets `304 Not Modified`. Errors
//! and redirects are not stored. The rules are [`caching`]'s.
//!
//! # Upgrades
//! An entry names the hashed files of its own build relative to itself,
//! so a page always gets them from the deployment that served it the
//! entry: the two deployments never need each other's files, and can be
//! upgraded in either order, one after the other, while pages keep
//! loading from both. Within one deployment, the build keeps the
//! previous build's hashed files beside the new ones (an entry a browser
//! still holds, for up to the minute above, names them) and writes an
//! entry only after the files it names.

pub mod caching;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use caching::{Conditions, MAX_TAGGED_BYTES, Naming};
use std::convert::Infallible;
use std::path::Path;
use tower::ServiceExt;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// The static file service for `www`, with CORS for every origin (the
/// widget's glue fetches its wasm cross-origin from customers' pages).
pub fn router<S: Clone + Send + Sync + 'static>(www: &Path) -> Router<S> {
    let files = Files {
        dir: ServeDir::new(www)
            .append_index_html_on_directories(true)
            .precompressed_br()
            .precompressed_gzip(),
    };
    Router::new()
        .fallback(move |request: Request| {
            let files = files.clone();
            async move { files.serve(request).await }
        })
        .layer(SetResponseHeaderLayer::overriding(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

#[derive(Clone)]
struct Files {
    dir: ServeDir,
}

impl Files {
    async fn serve(&self, request: Request) -> Response {
        let naming = Naming::of(request.uri().path());
        let fixed =
            naming == Naming::Fixed && matches!(*request.method(), Method::GET | Method::HEAD);
        let mut response = if fixed {
            self.revalidated(request).await
        } else {
            self.call(request).await
        };
        let cache_control = naming.cache_control(response.status());
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, cache_control);
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        response
    }

    /// A file under a fixed name: read whole, tagged, and answered 304 when
    /// the client's validators match.
    async fn revalidated(&self, request: Request) -> Response {
        let head = request.method() == Method::HEAD;
        let uri = request.uri().clone();
        let original = request.headers().clone();
        let mut headers = original.clone();
        let conditions = Conditions::take(&mut headers);
        let response = self.fresh_variant(&uri, &headers).await;
        if response.status() != StatusCode::OK {
            return response;
        }
        let length = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if length.is_none_or(|length| length > MAX_TAGGED_BYTES) {
            // Too large to tag: served as asked, with Last-Modified only.
            return self.call(rebuilt(&uri, &original, head)).await;
        }
        let (mut parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_TAGGED_BYTES).await else {
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        };
        let etag = caching::etag(&bytes);
        let last_modified = caching::http_date(&parts.headers, header::LAST_MODIFIED);
        let current = conditions.current(&etag, last_modified);
        parts.headers.insert(header::ETAG, etag);
        if current {
            parts.status = StatusCode::NOT_MODIFIED;
            for name in [
                header::CONTENT_LENGTH,
                header::CONTENT_TYPE,
                header::CONTENT_ENCODING,
                header::ACCEPT_RANGES,
            ] {
                parts.headers.remove(name);
            }
            return Response::from_parts(parts, Body::empty());
        }
        let body = if head {
            Body::empty()
        } else {
            Body::from(bytes)
        };
        Response::from_parts(parts, body)
    }

    /// A `GET` of `uri` as the client's `Accept-Encoding` picks it, unless
    /// the picked variant is older than its file (then the file itself).
    async fn fresh_variant(&self, uri: &Uri, headers: &HeaderMap) -> Response {
        let response = self.call(rebuilt(uri, headers, false)).await;
        if response.status() != StatusCode::OK
            || !response.headers().contains_key(header::CONTENT_ENCODING)
        {
            return response;
        }
        let mut plain = headers.clone();
        plain.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        let file = self.call(rebuilt(uri, &plain, true)).await;
        let stale = caching::stale(
            caching::http_date(file.headers(), header::LAST_MODIFIED),
            caching::http_date(response.headers(), header::LAST_MODIFIED),
        );
        if !stale {
            return response;
        }
        tracing::warn!(
            path = uri.path(),
            "a precompressed variant is older than its file; serving the file (run scripts/build-widget.sh)"
        );
        self.call(rebuilt(uri, &plain, false)).await
    }

    async fn call(&self, request: Request) -> Response {
        let result: Result<_, Infallible> = self.dir.clone().oneshot(request).await;
        match result {
            Ok(response) => response.map(Body::new),
        }
    }
}

/// A body-less request for `uri` with `headers` (`HEAD` if `head`).
fn rebuilt(uri: &Uri, headers: &HeaderMap, head: bool) -> Request {
    let mut request = Request::new(Body::empty());
    *request.method_mut() = if head { Method::HEAD } else { Method::GET };
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers.clone();
    request
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
