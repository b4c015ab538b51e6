//! The encryption of a soak object, the request headers it needs and the response headers
//! that must come back.

use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::copy_object::builders::CopyObjectFluentBuilder;
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::operation::head_object::builders::HeadObjectFluentBuilder;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::sse::CustomerKey;

/// How an object is encrypted at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SSE-S3, asked for explicitly.
    S3,
    /// SSE-S3 through the bucket's default encryption: the PUT names no mode.
    BucketDefault,
    /// SSE-KMS under the AWS-managed key `aws/s3`, with or without a Bucket Key.
    Kms { bucket_key: bool },
    /// SSE-C with one of the run's customer keys.
    Customer(usize),
}

impl Mode {
    /// Every mode, for drawing one at random.
    pub const ALL: [Mode; 6] = [
        Mode::S3,
        Mode::BucketDefault,
        Mode::Kms { bucket_key: false },
        Mode::Kms { bucket_key: true },
        Mode::Customer(0),
        Mode::Customer(1),
    ];

    /// The SSE-C key an object of this mode needs on every read.
    pub fn customer_key<'k>(&self, keys: &'k CustomerKeys) -> Option<&'k CustomerKey> {
        match self {
            Mode::Customer(i) => keys.0.get(*i),
            _ => None,
        }
    }

    /// Whether the ETag of a single-part object must be the MD5 of its content.
    pub fn etag_is_md5(&self) -> bool {
        matches!(self, Mode::S3 | Mode::BucketDefault)
    }
}

/// The customer keys of a run.
pub struct CustomerKeys(pub [CustomerKey; 2]);

impl CustomerKeys {
    pub fn from_seed(seed: u64) -> Result<Self, String> {
        Ok(Self([
            CustomerKey::from_seed(seed)?,
            CustomerKey::from_seed(seed.wrapping_add(1))?,
        ]))
    }
}

/// Adds the SSE-C headers of `key` (if any) to a read or a part upload.
macro_rules! with_customer_key {
    ($req:expr, $key:expr) => {
        match $key {
            Some(k) => $req
                .sse_customer_algorithm("AES256")
                .sse_customer_key(&k.key_b64)
                .sse_customer_key_md5(&k.md5_b64),
            None => $req,
        }
    };
}

/// Adds the headers that ask for `$mode` to a write (PUT, CreateMultipartUpload, copy).
macro_rules! with_mode {
    ($req:expr, $mode:expr, $keys:expr) => {
        match $mode {
            Mode::S3 => $req.server_side_encryption(ServerSideEncryption::Aes256),
            Mode::BucketDefault => $req,
            Mode::Kms { bucket_key } => $req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .bucket_key_enabled(bucket_key),
            Mode::Customer(_) => with_customer_key!($req, $mode.customer_key($keys)),
        }
    };
}

pub fn put(req: PutObjectFluentBuilder, mode: Mode, keys: &CustomerKeys) -> PutObjectFluentBuilder {
    with_mode!(req, mode, keys)
}

pub fn create_multipart(
    req: CreateMultipartUploadFluentBuilder,
    mode: Mode,
    keys: &CustomerKeys,
) -> CreateMultipartUploadFluentBuilder {
    with_mode!(req, mode, keys)
}

pub fn upload_part(
    req: UploadPartFluentBuilder,
    mode: Mode,
    keys: &CustomerKeys,
) -> UploadPartFluentBuilder {
    with_customer_key!(req, mode.customer_key(keys))
}

pub fn get(req: GetObjectFluentBuilder, mode: Mode, keys: &CustomerKeys) -> GetObjectFluentBuilder {
    with_customer_key!(req, mode.customer_key(keys))
}

pub fn head(
    req: HeadObjectFluentBuilder,
    mode: Mode,
    keys: &CustomerKeys,
) -> HeadObjectFluentBuilder {
    with_customer_key!(req, mode.customer_key(keys))
}

/// A copy from an object of mode `from` to a new object of mode `to`.
pub fn copy(
    req: CopyObjectFluentBuilder,
    from: Mode,
    to: Mode,
    keys: &CustomerKeys,
) -> CopyObjectFluentBuilder {
    let req = match from.customer_key(keys) {
        Some(k) => req
            .copy_source_sse_customer_algorithm("AES256")
            .copy_source_sse_customer_key(&k.key_b64)
            .copy_source_sse_customer_key_md5(&k.md5_b64),
        None => req,
    };
    with_mode!(req, to, keys)
}

/// The encryption headers of a response, as the SDK parsed them.
pub struct Echo<'a> {
    pub sse: Option<&'a ServerSideEncryption>,
    pub customer_key_md5: Option<&'a str>,
    pub bucket_key: Option<bool>,
}

/// Checks that a response reports the encryption `mode` asked for.
pub fn check_echo(op: &str, mode: Mode, echo: Echo<'_>, keys: &CustomerKeys) -> Result<(), String> {
    let want_sse = match mode {
        Mode::S3 | Mode::BucketDefault => Some(ServerSideEncryption::Aes256),
        Mode::Kms { .. } => Some(ServerSideEncryption::AwsKms),
        Mode::Customer(_) => None,
    };
    if echo.sse != want_sse.as_ref() {
        return Err(format!(
            "{op}: x-amz-server-side-encryption is {:?}, expected {:?} for {mode:?}",
            echo.sse, want_sse
        ));
    }
    let want_md5 = mode.customer_key(keys).map(|k| k.md5_b64.as_str());
    if echo.customer_key_md5 != want_md5 {
        return Err(format!(
            "{op}: customer key MD5 is {:?}, expected {want_md5:?} for {mode:?}",
            echo.customer_key_md5
        ));
    }
    if mode == (Mode::Kms { bucket_key: true }) && echo.bucket_key != Some(true) {
        return Err(format!(
            "{op}: x-amz-server-side-encryption-bucket-key-enabled is {:?} for a Bucket Key object",
            echo.bucket_key
        ));
    }
    Ok(())
}

/// The echo of a CompleteMultipartUpload response. Its model has no SSE-C members, so the
/// customer key is taken as echoed; the HEAD and GET of the object check it.
pub fn complete_echo<'a>(
    out: &'a CompleteMultipartUploadOutput,
    mode: Mode,
    keys: &'a CustomerKeys,
) -> Echo<'a> {
    Echo {
        sse: out.server_side_encryption(),
        customer_key_md5: mode.customer_key(keys).map(|k| k.md5_b64.as_str()),
        bucket_key: out.bucket_key_enabled(),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::types::ServerSideEncryption;

    use super::{CustomerKeys, Echo, Mode, check_echo};

    fn echo<'a>(sse: Option<&'a ServerSideEncryption>, md5: Option<&'a str>) -> Echo<'a> {
        Echo {
            sse,
            customer_key_md5: md5,
            bucket_key: None,
        }
    }

    #[test]
    fn each_mode_must_be_reported_as_asked() {
        let keys = CustomerKeys::from_seed(1).unwrap();
        let aes = ServerSideEncryption::Aes256;
        let kms = ServerSideEncryption::AwsKms;
        let md5 = [keys.0[0].md5_b64.as_str(), keys.0[1].md5_b64.as_str()];
        assert_ne!(md5[0], md5[1]);

        assert!(check_echo("t", Mode::S3, echo(Some(&aes), None), &keys).is_ok());
        assert!(check_echo("t", Mode::BucketDefault, echo(Some(&aes), None), &keys).is_ok());
        assert!(check_echo("t", Mode::S3, echo(None, None), &keys).is_err());
        assert!(check_echo("t", Mode::S3, echo(Some(&kms), None), &keys).is_err());

        let plain_kms = Mode::Kms { bucket_key: false };
        assert!(check_echo("t", plain_kms, echo(Some(&kms), None), &keys).is_ok());
        let with_bucket_key = Mode::Kms { bucket_key: true };
        assert!(check_echo("t", with_bucket_key, echo(Some(&kms), None), &keys).is_err());
        let mut e = echo(Some(&kms), None);
        e.bucket_key = Some(true);
        assert!(check_echo("t", with_bucket_key, e, &keys).is_ok());

        let c1 = Mode::Customer(1);
        assert!(check_echo("t", c1, echo(None, Some(md5[1])), &keys).is_ok());
        assert!(check_echo("t", c1, echo(None, Some(md5[0])), &keys).is_err());
        assert!(check_echo("t", c1, echo(None, None), &keys).is_err());
        assert!(check_echo("t", c1, echo(Some(&aes), Some(md5[1])), &keys).is_err());
        assert!(check_echo("t", Mode::S3, echo(Some(&aes), Some(md5[0])), &keys).is_err());
    }
}
