//! SigV4 verification for the JSON APIs on this endpoint (KMS, CloudTrail). `s3s` verifies
//! S3's signatures but only knows the `s3` scope; here `aws-sigv4` (the SDKs' own signer)
//! recomputes the signature over exactly the headers the client signed, and the two are
//! compared in constant time.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use coffer_s3::{User, UserDirectory};
use subtle::ConstantTimeEq;

/// A JSON-protocol error (`{"__type", "message"}`), as AWS's JSON services answer.
#[derive(Debug, Clone)]
pub struct JsonError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl JsonError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            status: 400,
            message: message.into(),
        }
    }
}

/// How far a request's time may be from ours, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Option<Authorization<'_>> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=')? {
            ("Credential", v) => credential = Some(v),
            ("SignedHeaders", v) => signed = Some(v),
            ("Signature", v) => signature = Some(v),
            _ => {}
        }
    }
    let scope: Vec<&str> = credential?.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope[..] else {
        return None;
    };
    Some(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    })
}

fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(s, format).ok()?.assume_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.unix_timestamp()).ok()?))
}

/// Verifies a request signed for `service` in `region`; returns the signing user.
pub fn verify(
    parts: &http::request::Parts,
    body: &[u8],
    users: &UserDirectory,
    region: &str,
    service: &str,
) -> Result<User, JsonError> {
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            JsonError::new(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )
        })?;
    let auth = parse_authorization(header).ok_or_else(|| {
        JsonError::new(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
        )
    })?;
    if auth.service != service || auth.region != region {
        return Err(JsonError::new(
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to correct service and region: '{service}' in '{region}'."
            ),
        ));
    }
    let user = users.by_access_key(auth.access_key).ok_or_else(|| {
        JsonError::new(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    })?;
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            JsonError::new(
                "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        })?;
    let when = parse_amz_date(amz_date)
        .filter(|_| amz_date.starts_with(auth.date))
        .ok_or_else(|| {
            JsonError::new(
                "IncompleteSignatureException",
                "Date must be in ISO-8601 'basic format'.",
            )
        })?;
    let now = SystemTime::now();
    let skew = now
        .duration_since(when)
        .or_else(|_| when.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(JsonError::new(
            "InvalidSignatureException",
            format!(
                "Signature expired: {amz_date} is now earlier or later than the allowed 15 minutes."
            ),
        ));
    }

    // The operation and the endpoint must be under the signature, or a captured request
    // could be replayed as another operation.
    for required in ["host", "x-amz-date", "x-amz-target"] {
        if !auth.signed_headers.contains(&required) {
            return Err(JsonError::new(
                "IncompleteSignatureException",
                format!("The request signature must cover the {required} header."),
            ));
        }
    }
    // Exactly the headers the client signed, nothing added but what SigV4 itself adds.
    let mut signed = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let values: Vec<&str> = parts
            .headers
            .get_all(*name)
            .iter()
            // UTF-8, not just visible ASCII (`to_str`): the SDKs sign such values as they are,
            // and refusing them would refuse correctly signed requests.
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .collect();
        if values.is_empty() {
            return Err(mismatch());
        }
        signed.push((name.to_string(), values.join(",")));
    }
    let host = signed
        .iter()
        .find(|(n, _)| n == "host")
        .map(|(_, v)| v.clone())
        .ok_or_else(mismatch)?;
    let uri = format!(
        "http://{host}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(Vec::new());
    let identity = aws_credential_types::Credentials::new(
        auth.access_key,
        user.expose_secret(),
        None,
        None,
        "coffer",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(when)
        .settings(settings)
        .build()
        .map_err(|_| mismatch())?
        .into();
    let signable = SignableRequest::new(
        parts.method.as_str(),
        uri,
        signed.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|_| mismatch())?;
    let (_, expected) = sign(signable, &params)
        .map_err(|_| mismatch())?
        .into_parts();
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(user.clone())
    } else {
        Err(mismatch())
    }
}

fn mismatch() -> JsonError {
    JsonError::new(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCESS_KEY: &str = "AKIATEST000000000001";
    const SECRET: &str = "test-secret-0000000000000000000000000001";

    /// A request signed by `aws-sigv4`, as an SDK would send it.
    fn signed_request(headers: &[(&str, &str)], body: &[u8]) -> http::request::Parts {
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let identity =
            aws_credential_types::Credentials::new(ACCESS_KEY, SECRET, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:9000/",
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        for (k, v) in instructions.headers() {
            headers.push((k.to_owned(), v.to_owned()));
        }
        let mut request = http::Request::builder().method("POST").uri("/");
        for (k, v) in &headers {
            request = request.header(k.as_str(), v.as_str());
        }
        request.body(()).unwrap().into_parts().0
    }

    fn users() -> UserDirectory {
        UserDirectory::new([User::new(
            "test".into(),
            ACCESS_KEY.into(),
            SECRET.into(),
            false,
        )])
    }

    #[test]
    fn a_signed_header_with_a_utf8_value_verifies() {
        // Found by the sigv4 fuzz target: a non-ASCII value was dropped before recomputing
        // the signature, so a correctly signed request was refused as a mismatch.
        let parts = signed_request(
            &[
                ("host", "127.0.0.1:9000"),
                ("x-amz-target", "TrentService.ListKeys"),
                ("x-note", "caf\u{e9}"),
            ],
            b"{}",
        );
        let user = verify(&parts, b"{}", &users(), "us-east-1", "kms").unwrap();
        assert_eq!(user.access_key, ACCESS_KEY);
        assert!(verify(&parts, b"{ }", &users(), "us-east-1", "kms").is_err());
    }
}
