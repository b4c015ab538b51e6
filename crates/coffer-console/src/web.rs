//! The plumbing of a page: answers (HTML, redirects, files), query strings and forms.

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use s3s::Body;

/// A form posted by a browser is small (a policy is at most 20 KiB); uploads are multipart
/// and streamed, never read whole.
const MAX_FORM: usize = 256 * 1024;

/// Headers every console answer carries: no caching of pages that show a user's data, no
/// framing, no sniffing, and a policy that only lets the page load what it serves itself.
pub fn harden(resp: &mut Response<Body>) {
    let h = resp.headers_mut();
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    // Not `no-referrer`: browsers then send `Origin: null` with every form, and the origin
    // is what sign-in checks.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
}

pub fn html(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    harden(&mut resp);
    resp
}

pub fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_owned()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    harden(&mut resp);
    resp
}

/// A static file compiled into the binary.
pub fn asset(content_type: &'static str, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_owned()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    resp.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `303 See Other` to `location` (after a form: the browser GETs the result).
pub fn redirect(location: &str) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    harden(&mut resp);
    resp
}

/// The decoded pairs of a query string or an urlencoded form (the last of a name wins).
pub fn pairs(raw: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(raw).into_owned().collect()
}

pub fn query(uri: &http::Uri) -> HashMap<String, String> {
    pairs(uri.query().unwrap_or_default().as_bytes())
}

/// An urlencoded form's fields; `None` if it is too large or not a form.
pub async fn read_form(headers: &http::HeaderMap, body: Body) -> Option<HashMap<String, String>> {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return None;
    }
    let bytes: Bytes = http_body_util::Limited::new(body, MAX_FORM)
        .collect()
        .await
        .ok()?
        .to_bytes();
    Some(pairs(&bytes))
}

/// Percent-encodes one path segment or query value (an object key, a bucket name).
pub fn enc(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// An object key in a URL path: each segment encoded, slashes kept (as S3 signs them).
pub fn enc_key(key: &str) -> String {
    key.split('/').map(enc).collect::<Vec<_>>().join("/")
}

/// Bytes as people read them.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A time in milliseconds or seconds since the epoch, as `2026-11-29 12:00:00 UTC`.
pub fn date_from_seconds(seconds: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds as i64)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_keep_their_slashes_and_lose_the_rest() {
        assert_eq!(super::enc_key("a b/<script>.txt"), "a%20b/%3Cscript%3E.txt");
        assert_eq!(super::size(1536), "1.5 KiB");
        assert_eq!(super::size(12), "12 B");
    }
}
