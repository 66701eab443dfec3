//! The operator console's page: `/console/config.json`, written from this
//! relay's own configuration, and the security headers on everything under
//! `/console/`.
//!
//! The console takes an operator's password and then holds a session token
//! both deployments accept, so where it connects is the installation's
//! decision, never that of whoever writes a link. The relay knows the
//! installation: itself (the page's own origin), its peer (`--peer`) and the
//! moderator (`--moderator-url`). It tells the console those in
//! `config.json` (a file of that name in `--www` is never served in its
//! place), and tells the browser the same in a Content-Security-Policy whose
//! `connect-src` names exactly those origins, so even a console script that
//! was given another address could not reach it. The page cannot be framed
//! (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), sends no referrer,
//! runs only its own scripts (plus `'wasm-unsafe-eval'`, which compiling its
//! WebAssembly needs), and is in a browsing context group of its own
//! (`Cross-Origin-Opener-Policy`), so a page that opened it cannot reach it.
//! Images may also come from `blob:` URLs: the previews of a chat's image
//! files, fetched with the session's token and shown through an object URL
//! (the bytes are the relay's own, served sniffed and sandboxed).
//!
//! Which requests are the console's is decided on the path as the static
//! file service resolves it (percent-decoded, empty and `.` segments
//! dropped): `/%63onsole/` serves the console's files, so it gets its headers
//! and its `config.json` too.

use crate::config::Config;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use std::sync::Arc;
use twinline_core::protocol::{ConsoleConfig, ConsolePeer};

/// Why an address cannot name a deployment or the moderator.
#[derive(Debug, thiserror::Error)]
#[error("{url:?} cannot name a deployment or the moderator: {reason}")]
pub struct UrlError {
    url: String,
    reason: &'static str,
}

/// The scheme, host and port of an `http(s)://` base URL, checked to hold
/// only what a host name, an IP literal and a port may (so it can go into
/// a header as it is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebOrigin {
    secure: bool,
    /// `host` or `host:port`, lowercase.
    authority: String,
}

impl WebOrigin {
    /// Parses a base URL (a path after the origin is allowed and ignored).
    pub fn parse(url: &str) -> Result<WebOrigin, UrlError> {
        let refuse = |reason| UrlError {
            url: url.to_string(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|_| refuse("not a URL"))?;
        let secure = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(refuse("the scheme must be http or https")),
        };
        let authority = uri.authority().ok_or_else(|| refuse("no host"))?;
        if authority.as_str().contains('@') {
            return Err(refuse("a user name or password in the URL"));
        }
        let host = authority.host();
        let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(ip6) => ip6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.'),
            None => host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
        };
        if host.is_empty() || !host_ok {
            return Err(refuse("the host must be a name or an IP address"));
        }
        Ok(WebOrigin {
            secure,
            authority: authority.as_str().to_ascii_lowercase(),
        })
    }

    /// `http://authority` or `https://authority`.
    pub fn http(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }

    /// The WebSocket origin of the same host: `ws://` or `wss://`.
    pub fn ws(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}", self.authority)
    }
}

/// What the relay answers for the console, built once at start.
#[derive(Clone, Debug)]
pub struct ConsolePage {
    config_json: String,
    headers: HeaderMap,
}

impl ConsolePage {
    /// The console's configuration and headers for this relay.
    pub fn new(config: &Config) -> Result<ConsolePage, UrlError> {
        let peer = config
            .peer
            .as_ref()
            .map(|peer| WebOrigin::parse(&peer.url))
            .transpose()?;
        let moderator = config
            .moderator_url
            .as_deref()
            .map(WebOrigin::parse)
            .transpose()?;
        let body = ConsoleConfig {
            role: config.role,
            name: config.name.clone(),
            peer: config.peer.as_ref().map(|peer| ConsolePeer {
                name: peer.name.clone(),
                url: peer.url.clone(),
            }),
            moderator: config.moderator_url.clone(),
        };
        // 'self' is this relay (its WebSockets included, CSP level 3).
        let mut connect = vec!["'self'".to_string()];
        if let Some(peer) = &peer {
            connect.extend([peer.http(), peer.ws()]);
        }
        if let Some(moderator) = &moderator {
            connect.push(moderator.http());
        }
        let policy = format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data: blob:; connect-src {}; frame-ancestors 'none'; base-uri 'none'; \
             form-action 'none'; object-src 'none'",
            connect.join(" ")
        );
        let policy = HeaderValue::try_from(policy).map_err(|_| UrlError {
            url: connect.join(" "),
            reason: "not allowed in a header",
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        );
        Ok(ConsolePage {
            // Strings and an enum: serialising cannot fail.
            config_json: serde_json::to_string(&body).expect("a ConsoleConfig serialises"),
            headers,
        })
    }

    /// The body of `/console/config.json`.
    pub fn config_json(&self) -> &str {
        &self.config_json
    }

    /// The headers every console response carries.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn config_response(&self) -> Response {
        (
            [
                (header::CONTENT_TYPE, "application/json"),
                // Read at every page load: a changed installation is seen
                // at once, and no cache keeps an old one.
                (header::CACHE_CONTROL, "no-store"),
            ],
            self.config_json.clone(),
        )
            .into_response()
    }
}

/// Puts the console's `config.json` and headers around the static files.
pub fn wrap<S: Clone + Send + Sync + 'static>(assets: Router<S>, page: ConsolePage) -> Router<S> {
    assets.layer(axum::middleware::from_fn_with_state(Arc::new(page), guard))
}

async fn guard(State(page): State<Arc<ConsolePage>>, request: Request, next: Next) -> Response {
    let mut response = match console_path(request.uri().path()) {
        ConsolePath::Outside => return next.run(request).await,
        ConsolePath::Config if matches!(*request.method(), Method::GET | Method::HEAD) => {
            page.config_response()
        }
        ConsolePath::Config | ConsolePath::Inside => next.run(request).await,
    };
    for (name, value) in page.headers() {
        response.headers_mut().insert(name, value.clone());
    }
    response
}

/// Where a request path falls, as the static file service resolves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConsolePath {
    /// Not the console's.
    Outside,
    /// `/console/config.json`.
    Config,
    /// Any other path under `/console`.
    Inside,
}

fn console_path(path: &str) -> ConsolePath {
    // Not UTF-8 once decoded: the file service refuses it too.
    let Ok(decoded) = percent_decode_str(path).decode_utf8() else {
        return ConsolePath::Outside;
    };
    let mut segments = decoded.split('/').filter(|s| !s.is_empty() && *s != ".");
    if segments.next() != Some("console") {
        return ConsolePath::Outside;
    }
    match (segments.next(), segments.next()) {
        (Some("config.json"), None) => ConsolePath::Config,
        _ => ConsolePath::Inside,
    }
}

#[cfg(test)]
#[path = "console_page_tests.rs"]
mod tests;
