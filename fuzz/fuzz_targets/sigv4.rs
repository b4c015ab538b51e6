//! SigV4 verification of the KMS and CloudTrail JSON APIs (the binary's `sigv4.rs`, compiled
//! in from its source file). Two modes, by the first byte's low bit:
//! - junk: the input as request headers (`name: value` lines, `NOW`/`TODAY` standing for the
//!   current time and date so the fuzzer gets past the clock check). Verification must fail,
//!   with one of the four documented exceptions, and never panic.
//! - signed: a request made of the input (path and query, X-Amz-Target, an extra header, body)
//!   and signed by `aws-sigv4`, the SDKs' own signer. It must verify as its user; then one
//!   change (body, target, method, path, signature, or the secret) must make it fail. This is
//!   "the signature covers what it says it covers": a captured request cannot be replayed as
//!   another operation, on another resource, or with another body.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/coffer/src/sigv4.rs"]
mod sigv4;

use std::sync::OnceLock;
use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use coffer_s3::{User, UserDirectory};
use libfuzzer_sys::fuzz_target;

const ACCESS_KEY: &str = "AKIAFUZZ000000000001";
const SECRET: &str = "fuzz-secret-000000000000000000000000001";
const HOST: &str = "127.0.0.1:9000";
const REGION: &str = "us-east-1";
const SERVICE: &str = "kms";

fn users(secret: &str) -> UserDirectory {
    UserDirectory::new([User::new(
        "fuzz".into(),
        ACCESS_KEY.into(),
        secret.into(),
        false,
    )])
}

fn directories() -> &'static (UserDirectory, UserDirectory) {
    static USERS: OnceLock<(UserDirectory, UserDirectory)> = OnceLock::new();
    USERS.get_or_init(|| {
        (
            users(SECRET),
            users("another-secret-0000000000000000000000001"),
        )
    })
}

fn amz_now() -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = now.format(format).unwrap();
    (stamp.clone(), stamp[..8].to_owned())
}

fn parts(
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
) -> Option<http::request::Parts> {
    let mut builder = http::Request::builder().method(method).uri(path_and_query);
    for (k, v) in headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    Some(builder.body(()).ok()?.into_parts().0)
}

fn junk(data: &[u8]) {
    let (now, today) = amz_now();
    let text = String::from_utf8_lossy(data)
        .replace("NOW", &now)
        .replace("TODAY", &today);
    let mut lines = text.split('\n');
    let path = lines.next().unwrap_or("/");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let Some(parts) = parts("POST", path, &headers) else {
        return;
    };
    let denied = sigv4::verify(&parts, data, &directories().0, REGION, SERVICE)
        .expect_err("an unsigned request verified");
    assert!(
        matches!(
            denied.code,
            "MissingAuthenticationTokenException"
                | "IncompleteSignatureException"
                | "InvalidSignatureException"
                | "UnrecognizedClientException"
        ),
        "unexpected error {denied:?}"
    );
}

/// Headers a client cannot set beside the signer's own, or that must appear once.
const RESERVED: &[&str] = &[
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-target",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

fn signed(control: u8, data: &[u8]) {
    let mut fields = data.splitn(5, |b| *b == 0);
    let mut text = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let path_and_query = format!("/{}", text());
    let target = text();
    let extra_name = text().to_ascii_lowercase();
    let extra_value = text();
    let body = fields.next().unwrap_or_default();

    let mut headers = vec![
        ("host".to_owned(), HOST.to_owned()),
        ("x-amz-target".to_owned(), target),
    ];
    if !extra_name.is_empty() && !RESERVED.contains(&extra_name.as_str()) {
        headers.push((extra_name, extra_value));
    }
    // Only requests a client can send: valid header names and values, a parseable URI.
    if headers.iter().any(|(k, v)| {
        http::HeaderName::from_bytes(k.as_bytes()).is_err()
            || http::HeaderValue::from_str(v).is_err()
    }) || parts("POST", &path_and_query, &headers).is_none()
    {
        return;
    }

    let identity =
        aws_credential_types::Credentials::new(ACCESS_KEY, SECRET, None, None, "fuzz").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let Ok(signable) = SignableRequest::new(
        "POST",
        format!("http://{HOST}{path_and_query}"),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    ) else {
        return;
    };
    let Ok(output) = sign(signable, &params) else {
        return;
    };
    let (instructions, _) = output.into_parts();
    for (k, v) in instructions.headers() {
        headers.push((k.to_owned(), v.to_owned()));
    }
    let (users, strangers) = directories();
    let request = parts("POST", &path_and_query, &headers).unwrap();
    match sigv4::verify(&request, body, users, REGION, SERVICE) {
        Ok(user) => assert_eq!(user.access_key, ACCESS_KEY),
        Err(e) => panic!("a correctly signed request was refused: {e:?}\n{headers:?}"),
    }

    // One change the signature must catch.
    let mut method = "POST";
    let mut path_and_query = path_and_query;
    let mut body = body.to_vec();
    let mut users = users;
    let what = match (control >> 1) % 6 {
        0 => {
            match body.last_mut() {
                Some(b) => *b ^= 1,
                None => body.push(b'{'),
            }
            "body"
        }
        1 => {
            headers[1].1.push('x');
            "X-Amz-Target"
        }
        2 => {
            method = "PUT";
            "method"
        }
        3 => {
            let before = parts(method, &path_and_query, &headers).map(|p| p.uri);
            path_and_query.push('x');
            // A fragment is not sent: the request the server sees must actually differ.
            let after = parts(method, &path_and_query, &headers).map(|p| p.uri);
            if after.is_none() || after == before {
                return;
            }
            "path or query"
        }
        4 => {
            let auth = headers
                .iter_mut()
                .find(|(k, _)| k == "authorization")
                .unwrap();
            let last = auth.1.pop().unwrap();
            auth.1.push(if last == '0' { '1' } else { '0' });
            "signature"
        }
        _ => {
            users = strangers;
            "secret key"
        }
    };
    let request = parts(method, &path_and_query, &headers).unwrap();
    let refused = sigv4::verify(&request, &body, users, REGION, SERVICE);
    assert!(
        refused.is_err(),
        "a request with another {what} verified: {headers:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    if control & 1 == 0 {
        junk(data);
    } else {
        signed(control, data);
    }
});
