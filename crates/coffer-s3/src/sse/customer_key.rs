//! SSE-C: the customer's key arrives with every request that touches the object, is checked
//! against its MD5, used to seal or open the object's data key, and forgotten. Nothing about
//! it reaches a log, an error message or the disk: errors name the rule that failed, never the
//! value, and the decoded key lives in a buffer that is wiped on drop.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use s3s::{S3Error, S3Result, s3_error};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::error::custom;

/// The only algorithm SSE-C takes.
pub(crate) const CUSTOMER_ALGORITHM: &str = "AES256";

/// A validated customer key.
pub(crate) struct CustomerKey {
    key: Zeroizing<[u8; 32]>,
    /// Base64 MD5 of the key, as the client sent it: S3 echoes it back.
    md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKey(<redacted>)")
    }
}

impl CustomerKey {
    pub(crate) fn expose_secret(&self) -> &[u8; 32] {
        &self.key
    }

    pub(crate) fn md5(&self) -> &str {
        &self.md5
    }
}

/// What a request does with the key: a write takes it to seal a new object; a read presents
/// it to open one, and S3 answers a read's unusable key as a wrong key (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Write,
    Read,
}

/// The three `x-amz-[copy-source-]server-side-encryption-customer-*` values of a request.
/// Owns the key text so it is wiped once parsed.
#[derive(Default)]
pub(crate) struct CustomerHeaders {
    pub algorithm: Option<String>,
    pub key: Option<Zeroizing<String>>,
    pub key_md5: Option<String>,
}

impl CustomerHeaders {
    pub(crate) fn new(
        algorithm: Option<String>,
        key: Option<String>,
        key_md5: Option<String>,
    ) -> Self {
        Self {
            algorithm,
            key: key.map(Zeroizing::new),
            key_md5,
        }
    }

    pub(crate) fn is_present(&self) -> bool {
        self.algorithm.is_some() || self.key.is_some() || self.key_md5.is_some()
    }

    /// Validates the headers in S3's order (SPEC §2.2): algorithm present, key present,
    /// algorithm AES256, key of 256 bits, MD5 matching. `None` when none was sent.
    pub(crate) fn parse(self, purpose: Purpose) -> S3Result<Option<CustomerKey>> {
        if !self.is_present() {
            return Ok(None);
        }
        let Some(algorithm) = self.algorithm else {
            return Err(s3_error!(
                InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
            ));
        };
        let Some(key_text) = self.key else {
            return Err(s3_error!(
                InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
            ));
        };
        if algorithm != CUSTOMER_ALGORITHM {
            return Err(custom(
                "InvalidEncryptionAlgorithmError",
                http::StatusCode::BAD_REQUEST,
                "The Encryption request you specified is not valid. Supported value: AES256.",
            ));
        }
        let decoded = Zeroizing::new(B64.decode(key_text.as_bytes()).unwrap_or_default());
        let Ok(raw) = <[u8; 32]>::try_from(decoded.as_slice()) else {
            return Err(match purpose {
                Purpose::Write => s3_error!(
                    InvalidArgument,
                    "The secret key was invalid for the specified algorithm."
                ),
                Purpose::Read => wrong_key(),
            });
        };
        let key = Zeroizing::new(raw);
        let Some(md5_text) = self.key_md5 else {
            return Err(match purpose {
                Purpose::Write => s3_error!(
                    InvalidArgument,
                    "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key."
                ),
                Purpose::Read => wrong_key(),
            });
        };
        let computed = coffer_md5::Md5::digest(key.as_slice());
        let matches = B64
            .decode(md5_text.as_bytes())
            .is_ok_and(|sent| bool::from(sent.as_slice().ct_eq(computed.as_slice())));
        if !matches {
            return Err(s3_error!(
                InvalidArgument,
                "The calculated MD5 hash of the key did not match the hash that was provided."
            ));
        }
        Ok(Some(CustomerKey { key, md5: md5_text }))
    }
}

/// The SSE-C headers of an `s3s` input (every input type names them alike), taken out of
/// it so the key text is wiped once parsed; `copy_source` takes the copy-source trio.
macro_rules! take_customer_headers {
    ($input:expr) => {
        $crate::sse::customer_key::CustomerHeaders::new(
            $input.sse_customer_algorithm.take(),
            $input.sse_customer_key.take(),
            $input.sse_customer_key_md5.take(),
        )
    };
    (copy_source $input:expr) => {
        $crate::sse::customer_key::CustomerHeaders::new(
            $input.copy_source_sse_customer_algorithm.take(),
            $input.copy_source_sse_customer_key.take(),
            $input.copy_source_sse_customer_key_md5.take(),
        )
    };
}
pub(crate) use take_customer_headers;

/// A read with a key that does not open the object (403; HEAD carries no body).
pub(crate) fn wrong_key() -> S3Error {
    s3_error!(
        AccessDenied,
        "Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key."
    )
}

/// A read of an SSE-C object without its key.
pub(crate) fn key_required() -> S3Error {
    s3_error!(
        InvalidRequest,
        "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
    )
}

/// SSE-C headers on a read of an object that is not SSE-C.
pub(crate) fn not_applicable() -> S3Error {
    s3_error!(
        InvalidRequest,
        "The encryption parameters are not applicable to this object."
    )
}

/// SSE-C over plain HTTP, where the key would cross the network in the clear.
pub(crate) fn insecure() -> S3Error {
    s3_error!(
        InvalidRequest,
        "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
    )
}

/// An SSE-C write into a bucket that blocks SSE-C (`BlockedEncryptionTypes`).
pub(crate) fn blocked(user_arn: &str, action: &str, object_arn: &str) -> S3Error {
    let mut e = S3Error::with_message(
        s3s::S3ErrorCode::AccessDenied,
        format!(
            "User: {user_arn} is not authorized to perform: {action} on resource: \"{object_arn}\" because this bucket has blocked upload requests that specify Server Side Encryption with Customer provided keys (SSE-C). Please specify a different server-side encryption type"
        ),
    );
    e.set_status_code(http::StatusCode::FORBIDDEN);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(alg: Option<&str>, key: Option<&str>, md5: Option<&str>) -> CustomerHeaders {
        CustomerHeaders::new(
            alg.map(str::to_owned),
            key.map(str::to_owned),
            md5.map(str::to_owned),
        )
    }

    fn code(r: S3Result<Option<CustomerKey>>) -> String {
        r.unwrap_err().code().as_str().to_owned()
    }

    // SPEC §1.1 test vectors.
    const KEY_A: &str = "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=";
    const MD5_A: &str = "DWygnHRtgiJ77HCm+1rvHw==";
    const MD5_B: &str = "arxBvwY2V4SiOne6yppVPQ==";

    #[test]
    fn the_spec_vectors_validate_and_errors_follow_s3s_order() {
        let k = headers(Some("AES256"), Some(KEY_A), Some(MD5_A))
            .parse(Purpose::Write)
            .unwrap()
            .unwrap();
        assert_eq!(k.md5(), MD5_A);
        assert_eq!(B64.encode(k.expose_secret()), KEY_A);
        assert!(!format!("{k:?}").contains(KEY_A));

        assert!(
            headers(None, None, None)
                .parse(Purpose::Write)
                .unwrap()
                .is_none()
        );
        let w = Purpose::Write;
        assert_eq!(
            code(headers(None, Some(KEY_A), Some(MD5_A)).parse(w)),
            "InvalidArgument"
        );
        assert_eq!(
            code(headers(None, None, Some(MD5_A)).parse(w)),
            "InvalidArgument"
        );
        assert_eq!(
            code(headers(Some("AES256"), None, None).parse(w)),
            "InvalidArgument"
        );
        assert_eq!(
            code(headers(Some("KMS"), Some(KEY_A), Some(MD5_A)).parse(w)),
            "InvalidEncryptionAlgorithmError"
        );
        assert_eq!(
            code(headers(Some("AES256"), Some("c2hvcnQ="), Some(MD5_A)).parse(w)),
            "InvalidArgument"
        );
        assert_eq!(
            code(headers(Some("AES256"), Some("c2hvcnQ="), Some(MD5_A)).parse(Purpose::Read)),
            "AccessDenied"
        );
        assert_eq!(
            code(headers(Some("AES256"), Some(KEY_A), Some(MD5_B)).parse(w)),
            "InvalidArgument"
        );
        assert_eq!(
            code(headers(Some("AES256"), Some(KEY_A), None).parse(w)),
            "InvalidArgument"
        );
        assert_eq!(
            code(headers(Some("AES256"), Some("%%%"), Some(MD5_A)).parse(w)),
            "InvalidArgument"
        );
    }
}
