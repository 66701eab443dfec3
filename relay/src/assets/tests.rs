//! The static file service through its router, over files in a temporary
//! `--www`. The variants hold marker bytes, not real brotli or gzip: which
//! file is sent is what is tested here (the browser test decodes real ones).

use super::*;
use http_body_util::BodyExt;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const ENTRY: &str = "/pkg/app.js";
const HASHED: &str = "/pkg/app.0123456789abcdef.js";

/// A www with a fixed-name entry and a hashed file (each with brotli and
/// gzip variants), and a loader with none.
struct Www(PathBuf);

impl Www {
    fn new() -> Www {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("twinline-assets-{}-{n}", std::process::id()));
        fs::create_dir_all(dir.join("pkg")).unwrap();
        let www = Www(dir);
        for path in [ENTRY, HASHED] {
            www.write(path, "plain text of the file, long enough");
            www.write(&format!("{path}.br"), "brotli");
            www.write(&format!("{path}.gz"), "gzip!");
        }
        www.write("/loader.js", "// loader");
        www
    }

    fn write(&self, path: &str, text: &str) {
        fs::write(self.0.join(&path[1..]), text).unwrap();
    }

    fn touch(&self, path: &str, time: SystemTime) {
        fs::File::options()
            .write(true)
            .open(self.0.join(&path[1..]))
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    fn router(&self) -> Router {
        router(&self.0)
    }
}

impl Drop for Www {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

async fn send(
    router: &Router,
    method: Method,
    path: &str,
    pairs: &[(header::HeaderName, &str)],
) -> Answer {
    let mut request = Request::new(Body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = path.parse().unwrap();
    for (name, value) in pairs {
        request
            .headers_mut()
            .append(name, HeaderValue::from_str(value).unwrap());
    }
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get(router: &Router, path: &str, pairs: &[(header::HeaderName, &str)]) -> Answer {
    send(router, Method::GET, path, pairs).await
}

#[tokio::test]
async fn the_variant_is_picked_by_accept_encoding_with_its_own_length() {
    let www = Www::new();
    let router = www.router();
    for path in [ENTRY, HASHED] {
        for (accept, encoding, body) in [
            ("gzip, deflate, br, zstd", "br", "brotli"),
            ("gzip, deflate", "gzip", "gzip!"),
            ("br;q=0.5, gzip", "gzip", "gzip!"),
            ("", "", "plain text of the file, long enough"),
            ("identity", "", "plain text of the file, long enough"),
            ("deflate", "", "plain text of the file, long enough"),
        ] {
            let pairs: &[_] = if accept.is_empty() {
                &[]
            } else {
                &[(header::ACCEPT_ENCODING, accept)]
            };
            let answer = get(&router, path, pairs).await;
            assert_eq!(answer.status, StatusCode::OK, "{path} {accept}");
            assert_eq!(answer.body, body, "{path} {accept}");
            assert_eq!(
                answer.header(header::CONTENT_ENCODING),
                encoding,
                "{path} {accept}"
            );
            assert_eq!(
                answer.header(header::CONTENT_LENGTH),
                body.len().to_string(),
                "{path} {accept}"
            );
            assert_eq!(
                answer.header(header::VARY),
                "accept-encoding",
                "{path} {accept}"
            );
            assert_eq!(
                answer.header(header::CONTENT_TYPE),
                "text/javascript",
                "{path} {accept}"
            );
            assert_eq!(answer.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
            assert_eq!(answer.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        }
    }
    // A file without variants is served as it is, whatever is accepted.
    let answer = get(
        &router,
        "/loader.js",
        &[(header::ACCEPT_ENCODING, "br, gzip")],
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "// loader")
    );
    assert_eq!(answer.header(header::CONTENT_ENCODING), "");
}

#[tokio::test]
async fn hashed_names_are_immutable_and_fixed_ones_revalidate_by_etag() {
    let www = Www::new();
    let router = www.router();
    let hashed = get(&router, HASHED, &[(header::ACCEPT_ENCODING, "br")]).await;
    assert_eq!(
        hashed.header(header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    let entry = get(&router, ENTRY, &[(header::ACCEPT_ENCODING, "br")]).await;
    assert_eq!(
        entry.header(header::CACHE_CONTROL),
        "public, max-age=60, must-revalidate"
    );
    let etag = entry.header(header::ETAG).to_string();
    assert_eq!(etag, caching::etag(b"brotli"));
    let last_modified = entry.header(header::LAST_MODIFIED).to_string();
    assert!(!last_modified.is_empty());

    // Each representation has its own tag.
    let plain = get(&router, ENTRY, &[]).await;
    assert_ne!(plain.header(header::ETAG), etag);

    // The browser's revalidation: both validators.
    let again = get(
        &router,
        ENTRY,
        &[
            (header::ACCEPT_ENCODING, "br"),
            (header::IF_NONE_MATCH, &etag),
            (header::IF_MODIFIED_SINCE, &last_modified),
        ],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.body, "");
    assert_eq!(again.header(header::ETAG), etag);
    assert_eq!(
        again.header(header::CACHE_CONTROL),
        "public, max-age=60, must-revalidate"
    );
    assert_eq!(again.header(header::VARY), "accept-encoding");
    assert_eq!(again.header(header::CONTENT_ENCODING), "");

    // A copy of another build: the tag decides, not the date.
    let changed = get(
        &router,
        ENTRY,
        &[
            (header::ACCEPT_ENCODING, "br"),
            (header::IF_NONE_MATCH, "\"0123\""),
            (header::IF_MODIFIED_SINCE, &last_modified),
        ],
    )
    .await;
    assert_eq!(
        (changed.status, changed.body.as_str()),
        (StatusCode::OK, "brotli")
    );

    // A client with the date only.
    let dated = get(
        &router,
        ENTRY,
        &[(header::IF_MODIFIED_SINCE, &last_modified)],
    )
    .await;
    assert_eq!(dated.status, StatusCode::NOT_MODIFIED);

    // A range of a fixed name gets the whole file (and its tag).
    let ranged = get(&router, ENTRY, &[(header::RANGE, "bytes=0-4")]).await;
    assert_eq!(ranged.status, StatusCode::OK);
    assert_eq!(ranged.body, "plain text of the file, long enough");
}

#[tokio::test]
async fn head_says_what_get_would_without_the_body() {
    let www = Www::new();
    let router = www.router();
    for path in [ENTRY, HASHED] {
        let accept = [(header::ACCEPT_ENCODING, "gzip")];
        let full = get(&router, path, &accept).await;
        let head = send(&router, Method::HEAD, path, &accept).await;
        assert_eq!(head.status, StatusCode::OK, "{path}");
        assert_eq!(head.body, "", "{path}");
        for name in [
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
            header::CONTENT_TYPE,
            header::ETAG,
            header::CACHE_CONTROL,
            header::VARY,
        ] {
            assert_eq!(
                head.header(name.clone()),
                full.header(name.clone()),
                "{path} {name}"
            );
        }
    }
}

#[tokio::test]
async fn errors_are_not_stored() {
    let www = Www::new();
    let router = www.router();
    for path in ["/missing.js", "/pkg/missing.0123456789abcdef.wasm"] {
        let answer = get(&router, path, &[]).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.header(header::CACHE_CONTROL), "no-store", "{path}");
    }
    let posted = send(&router, Method::POST, ENTRY, &[]).await;
    assert_eq!(posted.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(posted.header(header::CACHE_CONTROL), "no-store");
    // A directory without its slash is redirected, and that is not kept.
    let redirect = get(&router, "/pkg", &[]).await;
    assert_eq!(redirect.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(redirect.header(header::CACHE_CONTROL), "no-store");
}

#[tokio::test]
async fn a_variant_older_than_its_file_is_not_served() {
    let www = Www::new();
    let router = www.router();
    let now = SystemTime::now();
    // The source was edited after the last build.
    www.write(ENTRY, "edited since the build");
    www.touch(ENTRY, now);
    www.touch(&format!("{ENTRY}.br"), now - Duration::from_secs(60));
    let answer = get(&router, ENTRY, &[(header::ACCEPT_ENCODING, "br, gzip")]).await;
    // ServeDir picks brotli, which is stale: the file itself goes out.
    assert_eq!(answer.body, "edited since the build");
    assert_eq!(answer.header(header::CONTENT_ENCODING), "");
    assert_eq!(
        answer.header(header::ETAG),
        caching::etag(b"edited since the build")
    );
    // A fresh variant is served again once the build has run.
    www.touch(&format!("{ENTRY}.br"), now + Duration::from_secs(1));
    let answer = get(&router, ENTRY, &[(header::ACCEPT_ENCODING, "br, gzip")]).await;
    assert_eq!(answer.body, "brotli");
}
