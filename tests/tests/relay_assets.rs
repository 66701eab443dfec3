//! The static files as a real relay process sends them over HTTP: the
//! precompressed variant the request's Accept-Encoding picks, with its own
//! length and `Vary`; content-hashed names immutable; fixed names with an
//! ETag that a revalidation answers with 304 and no body; the console's
//! security headers still on its page. The variants hold marker bytes (the
//! relay serves them as they are; the browser test decodes real ones).

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use std::path::Path;
use twinline_tests::process::{RelayOptions, RelayProcess};

fn write(www: &Path, path: &str, bytes: &str) {
    let file = www.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, bytes).unwrap();
}

/// Writes `path` with brotli and gzip variants of its own.
fn write_with_variants(www: &Path, path: &str) {
    write(www, path, &format!("the plain bytes of {path}"));
    write(www, &format!("{path}.br"), "br bytes");
    write(www, &format!("{path}.gz"), "gzip bytes");
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

async fn get(url: &str, headers: &[(header::HeaderName, &str)]) -> Answer {
    // reqwest here has no decompression features: it neither asks for an
    // encoding nor decodes one, so the body is the bytes on the wire.
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

const BROWSER: &str = "gzip, deflate, br, zstd";

#[tokio::test]
async fn a_relay_serves_static_files_compressed_and_cached_by_name() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let www = relay.data_dir().join("www");
    write_with_variants(&www, "pkg/twinline_chat.js");
    write_with_variants(&www, "pkg/twinline_chat_bg.0123456789abcdef.wasm");
    write_with_variants(&www, "console/index.html");
    let base = relay.url();

    // The entry: brotli for a browser, gzip for a client without brotli,
    // the plain file for one that asks for neither.
    let entry = format!("{base}/pkg/twinline_chat.js");
    for (accept, encoding, body) in [
        (Some(BROWSER), "br", "br bytes".to_string()),
        (Some("gzip"), "gzip", "gzip bytes".to_string()),
        (
            None,
            "",
            "the plain bytes of pkg/twinline_chat.js".to_string(),
        ),
    ] {
        let headers: Vec<_> = accept
            .map(|a| (header::ACCEPT_ENCODING, a))
            .into_iter()
            .collect();
        let answer = get(&entry, &headers).await;
        assert_eq!(answer.status, StatusCode::OK, "{accept:?}");
        assert_eq!(answer.body, body.as_bytes(), "{accept:?}");
        assert_eq!(
            answer.header(header::CONTENT_ENCODING),
            encoding,
            "{accept:?}"
        );
        assert_eq!(
            answer.header(header::CONTENT_LENGTH),
            body.len().to_string()
        );
        assert_eq!(answer.header(header::VARY), "accept-encoding");
        assert_eq!(
            answer.header(header::CACHE_CONTROL),
            "public, max-age=60, must-revalidate"
        );
        assert_eq!(answer.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
        assert!(!answer.header(header::ETAG).is_empty(), "{accept:?}");
    }

    // A returning browser revalidates the entry: 304, nothing in the body.
    let first = get(&entry, &[(header::ACCEPT_ENCODING, BROWSER)]).await;
    let again = get(
        &entry,
        &[
            (header::ACCEPT_ENCODING, BROWSER),
            (header::IF_NONE_MATCH, first.header(header::ETAG)),
            (
                header::IF_MODIFIED_SINCE,
                first.header(header::LAST_MODIFIED),
            ),
        ],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header(header::ETAG), first.header(header::ETAG));
    assert_eq!(again.header(header::VARY), "accept-encoding");

    // A new build: the same request gets the new file.
    write(&www, "pkg/twinline_chat.js.br", "new br bytes");
    let changed = get(
        &entry,
        &[
            (header::ACCEPT_ENCODING, BROWSER),
            (header::IF_NONE_MATCH, first.header(header::ETAG)),
        ],
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.body, b"new br bytes");

    // Content-hashed: kept a year, never asked again.
    let wasm = get(
        &format!("{base}/pkg/twinline_chat_bg.0123456789abcdef.wasm"),
        &[(header::ACCEPT_ENCODING, BROWSER)],
    )
    .await;
    assert_eq!(wasm.status, StatusCode::OK);
    assert_eq!(wasm.body, b"br bytes");
    assert_eq!(wasm.header(header::CONTENT_TYPE), "application/wasm");
    assert_eq!(
        wasm.header(header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(wasm.header(header::VARY), "accept-encoding");

    // The console's page: compressed and revalidated, and still under its
    // security headers.
    let console = get(
        &format!("{base}/console/"),
        &[(header::ACCEPT_ENCODING, BROWSER)],
    )
    .await;
    assert_eq!(console.status, StatusCode::OK);
    assert_eq!(console.body, b"br bytes");
    assert_eq!(console.header(header::CONTENT_ENCODING), "br");
    assert_eq!(console.header(header::X_FRAME_OPTIONS), "DENY");
    assert!(
        console
            .header(header::CONTENT_SECURITY_POLICY)
            .contains("frame-ancestors 'none'")
    );

    // Missing files are not kept by any cache.
    let missing = get(
        &format!("{base}/pkg/twinline_chat.0123456789abcdef.js"),
        &[],
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header(header::CACHE_CONTROL), "no-store");
}
