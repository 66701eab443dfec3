//! The caching rules, one decision at a time.

use super::*;
use std::time::Duration;

#[test]
fn names_with_sixteen_hex_digits_before_the_extension_are_hashed() {
    for path in [
        "/pkg/twinline_chat.0123456789abcdef.js",
        "/pkg/twinline_chat_bg.fedcba9876543210.wasm",
        "/console/pkg/twinline_console.00000000000000aa.js",
        "a.0123456789abcdef.css",
    ] {
        assert_eq!(Naming::of(path), Naming::Hashed, "{path}");
    }
    for path in [
        "/loader.js",
        "/pkg/twinline_chat.js",
        "/pkg/twinline_widget.js",
        "/console/",
        "/",
        "",
        // Not sixteen lowercase hex digits.
        "/pkg/twinline_chat.0123456789ABCDEF.js",
        "/pkg/twinline_chat.0123456789abcde.js",
        "/pkg/twinline_chat.0123456789abcdef0.js",
        "/pkg/twinline_chat.0123456789abcdeg.js",
        // No stem, no extension, or the hash elsewhere.
        "/pkg/.0123456789abcdef.js",
        "/pkg/x.0123456789abcdef.",
        "/pkg/0123456789abcdef.js",
        "/pkg/x.0123456789abcdef.js.br",
        "/pkg/x.0123456789abcdef.j%73",
        "/0123456789abcdef.x/loader.js",
    ] {
        assert_eq!(Naming::of(path), Naming::Fixed, "{path}");
    }
}

#[test]
fn hashed_names_are_kept_a_year_fixed_ones_a_minute_errors_not_at_all() {
    for status in [
        StatusCode::OK,
        StatusCode::PARTIAL_CONTENT,
        StatusCode::NOT_MODIFIED,
    ] {
        assert_eq!(
            Naming::Hashed.cache_control(status),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            Naming::Fixed.cache_control(status),
            "public, max-age=60, must-revalidate"
        );
    }
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::METHOD_NOT_ALLOWED,
        StatusCode::RANGE_NOT_SATISFIABLE,
        StatusCode::INTERNAL_SERVER_ERROR,
    ] {
        for naming in [Naming::Hashed, Naming::Fixed] {
            assert_eq!(naming.cache_control(status), "no-store", "{status}");
        }
    }
}

#[test]
fn an_etag_is_a_quoted_hash_of_the_bytes() {
    let tag = etag(b"console.log(1)");
    let text = tag.to_str().unwrap();
    assert_eq!(text.len(), 34);
    assert!(text.starts_with('"') && text.ends_with('"'));
    assert!(text[1..33].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(etag(b"console.log(1)"), tag);
    assert_ne!(etag(b"console.log(2)"), tag);
}

fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(name, HeaderValue::from_str(value).unwrap());
    }
    headers
}

const MODIFIED: &str = "Tue, 01 Dec 2026 12:00:00 GMT";

fn at(text: &str) -> SystemTime {
    httpdate::parse_http_date(text).unwrap()
}

#[test]
fn validators_and_ranges_are_taken_off_the_request() {
    let mut request = headers(&[
        (header::IF_NONE_MATCH, "\"a\""),
        (header::IF_NONE_MATCH, "W/\"b\""),
        (header::IF_MODIFIED_SINCE, MODIFIED),
        (header::RANGE, "bytes=0-10"),
        (header::IF_RANGE, "\"a\""),
        (header::ACCEPT_ENCODING, "br"),
    ]);
    let conditions = Conditions::take(&mut request);
    assert_eq!(
        conditions,
        Conditions {
            none_match: Some("\"a\", W/\"b\"".into()),
            modified_since: Some(at(MODIFIED)),
        }
    );
    assert_eq!(request.len(), 1, "{request:?}");
    assert_eq!(request[header::ACCEPT_ENCODING], "br");
}

#[test]
fn if_none_match_decides_when_present_and_if_modified_since_otherwise() {
    let ours = etag(b"x");
    let ours_text = ours.to_str().unwrap().to_string();
    let modified = Some(at(MODIFIED));
    let later = "Tue, 01 Dec 2026 13:00:00 GMT";
    let earlier = "Tue, 01 Dec 2026 11:00:00 GMT";
    let cases: &[(&[(header::HeaderName, &str)], bool)] = &[
        (&[], false),
        (&[(header::IF_NONE_MATCH, &ours_text)], true),
        (&[(header::IF_NONE_MATCH, &format!("W/{ours_text}"))], true),
        (
            &[(header::IF_NONE_MATCH, &format!("\"other\", {ours_text}"))],
            true,
        ),
        (&[(header::IF_NONE_MATCH, "*")], true),
        (&[(header::IF_NONE_MATCH, "\"other\"")], false),
        // A tag that does not match wins over a date that would.
        (
            &[
                (header::IF_NONE_MATCH, "\"other\""),
                (header::IF_MODIFIED_SINCE, later),
            ],
            false,
        ),
        (&[(header::IF_MODIFIED_SINCE, MODIFIED)], true),
        (&[(header::IF_MODIFIED_SINCE, later)], true),
        (&[(header::IF_MODIFIED_SINCE, earlier)], false),
        (&[(header::IF_MODIFIED_SINCE, "yesterday")], false),
    ];
    for (request, current) in cases {
        let conditions = Conditions::take(&mut headers(request));
        assert_eq!(conditions.current(&ours, modified), *current, "{request:?}");
    }
    // Without a Last-Modified, a date proves nothing.
    let conditions = Conditions::take(&mut headers(&[(header::IF_MODIFIED_SINCE, later)]));
    assert!(!conditions.current(&ours, None));
}

#[test]
fn a_variant_is_stale_when_its_file_is_newer_by_a_second() {
    let file = at(MODIFIED);
    let second = Duration::from_secs(1);
    assert!(stale(Some(file + second), Some(file)));
    assert!(!stale(Some(file), Some(file)));
    assert!(!stale(Some(file), Some(file + second)));
    // Sub-second differences are invisible in HTTP dates.
    assert!(!stale(Some(file + Duration::from_millis(400)), Some(file)));
    assert!(!stale(None, Some(file)));
    assert!(!stale(Some(file), None));
}
