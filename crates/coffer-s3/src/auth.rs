//! Users, signature keys and who may do what.
//!
//! Secret keys are held in zeroizing buffers and never printed; `s3s` verifies signatures
//! against them and compares signatures in constant time.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use zeroize::Zeroizing;

/// One configured user.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub access_key: String,
    secret_key: Arc<Zeroizing<String>>,
    pub admin: bool,
}

impl User {
    pub fn new(name: String, access_key: String, secret_key: String, admin: bool) -> Self {
        Self {
            name,
            access_key,
            secret_key: Arc::new(Zeroizing::new(secret_key)),
            admin,
        }
    }

    /// The secret key, for verifying signatures of the APIs `s3s` does not serve (KMS,
    /// CloudTrail). Never log or print it.
    pub fn expose_secret(&self) -> &str {
        self.secret_key.as_str()
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("admin", &self.admin)
            .finish()
    }
}

/// All users, by access key.
#[derive(Debug, Clone, Default)]
pub struct UserDirectory {
    by_access_key: HashMap<String, User>,
}

impl UserDirectory {
    pub fn new(users: impl IntoIterator<Item = User>) -> Self {
        Self {
            by_access_key: users
                .into_iter()
                .map(|u| (u.access_key.clone(), u))
                .collect(),
        }
    }

    pub fn by_access_key(&self, access_key: &str) -> Option<&User> {
        self.by_access_key.get(access_key)
    }
}

#[async_trait::async_trait]
impl S3Auth for UserDirectory {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.by_access_key(access_key) {
            Some(u) => Ok(SecretKey::from(u.secret_key.as_str())),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

/// Request-level gate run by `s3s` after the signature check: every request must be signed,
/// and with Signature Version 4 (SigV2 is accepted only inside browser POST forms, where
/// clients still use it).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequireSigV4;

#[async_trait::async_trait]
impl S3Access for RequireSigV4 {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        metrics::counter!("coffer_s3_operations_total", "op" => cx.s3_op().name().to_owned())
            .increment(1);
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        check_presigned_lifetime(cx.uri())?;
        refuse_empty_content_md5(cx.headers())?;
        let header_v2 = cx
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("AWS "));
        let query_v2 = cx
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("AWSAccessKeyId=")));
        if header_v2 || query_v2 {
            return Err(s3_error!(
                InvalidRequest,
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
            ));
        }
        Ok(())
    }
}

/// The longest a presigned URL may live, as on S3: seven days.
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 604_800;

/// Refuses a presigned URL that asks to live longer than S3 allows. `s3s` accepts any
/// `X-Amz-Expires` that fits a u32, so a ten-year URL would otherwise work for ten years.
/// Called for every signed request, typed operations and custom routes alike.
pub fn check_presigned_lifetime(uri: &http::Uri) -> S3Result<()> {
    let Some(query) = uri.query() else {
        return Ok(());
    };
    for pair in query.split('&') {
        let Some(value) = pair.strip_prefix("X-Amz-Expires=") else {
            continue;
        };
        let Ok(secs) = value.parse::<u64>() else {
            return Err(s3_error!(
                AuthorizationQueryParametersError,
                "X-Amz-Expires should be a number"
            ));
        };
        if secs > MAX_PRESIGNED_EXPIRES_SECS {
            return Err(s3_error!(
                AuthorizationQueryParametersError,
                "X-Amz-Expires must be less than a week (in seconds) that is 604800"
            ));
        }
    }
    Ok(())
}

/// An empty `Content-MD5` is a bad digest, as on S3 (`s3s` reads it as absent, so the body
/// would go unchecked).
pub fn refuse_empty_content_md5(headers: &http::HeaderMap) -> S3Result<()> {
    match headers.get("content-md5") {
        Some(v) if v.as_bytes().iter().all(u8::is_ascii_whitespace) => Err(s3_error!(
            InvalidDigest,
            "The Content-MD5 you specified was invalid."
        )),
        _ => Ok(()),
    }
}
