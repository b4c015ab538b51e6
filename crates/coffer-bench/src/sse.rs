//! Server-side encryption modes and the request parameters each one adds.

use std::fmt;
use std::str::FromStr;

use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::types::ServerSideEncryption;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};

/// The `--sse` choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseMode {
    /// No encryption headers.
    None,
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    S3,
    /// SSE-KMS: `aws:kms`, optionally with a key id.
    Kms(Option<String>),
    /// SSE-C: a customer-provided key sent with every PUT and GET.
    Customer,
}

impl FromStr for SseMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "s3" => Ok(Self::S3),
            "kms" => Ok(Self::Kms(None)),
            "c" => Ok(Self::Customer),
            _ => match s.strip_prefix("kms:") {
                Some("") => Err("kms: needs a key id after the colon".to_string()),
                Some(key) => Ok(Self::Kms(Some(key.to_string()))),
                None => Err(format!(
                    "unknown SSE mode {s:?} (expected none, s3, kms, kms:KEY or c)"
                )),
            },
        }
    }
}

impl fmt::Display for SseMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::S3 => f.write_str("s3"),
            Self::Kms(None) => f.write_str("kms"),
            Self::Kms(Some(key)) => write!(f, "kms:{key}"),
            Self::Customer => f.write_str("c"),
        }
    }
}

/// An SSE-C key in the form the headers carry it.
#[derive(Clone)]
pub struct CustomerKey {
    /// The key, base64: `x-amz-server-side-encryption-customer-key`.
    pub key_b64: String,
    /// Its MD5, base64: `x-amz-server-side-encryption-customer-key-MD5`.
    pub md5_b64: String,
}

impl CustomerKey {
    /// The 256-bit key that follows from `seed`. (A benchmark key, not a secret.)
    pub fn from_seed(seed: u64) -> Result<Self, String> {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("coffer-bench SSE-C key {seed}").as_bytes(),
        );
        let key: [u8; 32] = digest
            .as_ref()
            .try_into()
            .map_err(|_| "SHA-256 is 32 bytes".to_string())?;
        Ok(Self {
            key_b64: STANDARD.encode(key),
            md5_b64: STANDARD.encode(Md5::digest(key)),
        })
    }
}

/// Ready-to-apply SSE parameters (for SSE-C, including the generated key).
#[derive(Clone)]
pub struct Sse {
    mode: SseMode,
    customer: Option<CustomerKey>,
}

impl Sse {
    /// Prepares `mode`; for SSE-C the 256-bit key follows from `seed`, so a `--skip-put`
    /// run reads back what an earlier run with the same seed wrote. (A benchmark key, not a
    /// secret.)
    pub fn new(mode: SseMode, seed: u64) -> Result<Self, String> {
        let customer = if mode == SseMode::Customer {
            Some(CustomerKey::from_seed(seed)?)
        } else {
            None
        };
        Ok(Self { mode, customer })
    }

    /// Adds this mode's headers to a PUT.
    pub fn put(&self, req: PutObjectFluentBuilder) -> PutObjectFluentBuilder {
        match &self.mode {
            SseMode::None => req,
            SseMode::S3 => req.server_side_encryption(ServerSideEncryption::Aes256),
            SseMode::Kms(key) => req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .set_ssekms_key_id(key.clone()),
            SseMode::Customer => match &self.customer {
                Some(c) => req
                    .sse_customer_algorithm("AES256")
                    .sse_customer_key(&c.key_b64)
                    .sse_customer_key_md5(&c.md5_b64),
                None => req,
            },
        }
    }

    /// Adds this mode's headers to a GET (only SSE-C needs any).
    pub fn get(&self, req: GetObjectFluentBuilder) -> GetObjectFluentBuilder {
        match &self.customer {
            Some(c) => req
                .sse_customer_algorithm("AES256")
                .sse_customer_key(&c.key_b64)
                .sse_customer_key_md5(&c.md5_b64),
            None => req,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SseMode;

    #[test]
    fn parses_modes() {
        assert_eq!("none".parse(), Ok(SseMode::None));
        assert_eq!("s3".parse(), Ok(SseMode::S3));
        assert_eq!("kms".parse(), Ok(SseMode::Kms(None)));
        assert_eq!(
            "kms:alias/x".parse(),
            Ok(SseMode::Kms(Some("alias/x".to_string())))
        );
        assert_eq!("c".parse(), Ok(SseMode::Customer));
        assert!("kms:".parse::<SseMode>().is_err());
        assert!("aes".parse::<SseMode>().is_err());
        assert_eq!(SseMode::Kms(Some("k1".into())).to_string(), "kms:k1");
    }
}
