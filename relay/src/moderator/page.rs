//! The status page at `/`: what the operator of the service looks at during
//! an incident. The HTML is a skeleton with both deployment names (escaped
//! once at startup); `/status.js` fills in everything else from
//! `/v1/status` every second, with `textContent` only. The page's CSP allows
//! no inline script, so even a name that slipped through could not run.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

const TEMPLATE: &str = include_str!("page/status.html");
const SCRIPT: &str = include_str!("page/status.js");
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
                      connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The rendered page.
#[derive(Clone, Debug)]
pub struct StatusPage(Arc<str>);

impl StatusPage {
    /// Renders the skeleton for these deployment names.
    pub fn new(primary: &str, redundant: &str) -> StatusPage {
        let html = TEMPLATE
            .replace("{{PRIMARY}}", &escape_html(primary))
            .replace("{{REDUNDANT}}", &escape_html(redundant));
        StatusPage(html.into())
    }

    /// `GET /`
    pub async fn serve(State(page): State<StatusPage>) -> Response {
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, POLICY),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            page.0.to_string(),
        )
            .into_response()
    }
}

/// `GET /status.js`
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// Escapes text for HTML element content and quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_into_the_skeleton() {
        let page = StatusPage::new("eu<script>", "us&\"co\"");
        assert!(page.0.contains("eu&lt;script&gt;"));
        assert!(page.0.contains("us&amp;&quot;co&quot;"));
        assert!(!page.0.contains("<script>"));
        assert!(!page.0.contains("{{"));
    }

    #[test]
    fn the_script_never_writes_markup() {
        assert!(!SCRIPT.contains("innerHTML"));
        assert!(!SCRIPT.contains("outerHTML"));
        assert!(!SCRIPT.contains("insertAdjacentHTML"));
    }
}
