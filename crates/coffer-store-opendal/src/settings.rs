//! Where the blobs go, and the credentials to get there.

use std::fmt;

use zeroize::Zeroize;

/// A credential: never printed (`Debug` shows `<redacted>`), and wiped from memory when
/// dropped, so it cannot leak through a log line or linger in a freed page. No `PartialEq`:
/// nothing here compares secrets, and a plain comparison would not be constant-time.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must hand it on (the S3 signer's
    /// configuration).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// An S3-compatible store (Ceph RGW, AWS S3, MinIO, Garage, ...).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// `http(s)://host:port`; `None` means AWS S3 itself (`https://s3.<region>.amazonaws.com`).
    pub endpoint: Option<String>,
    pub bucket: String,
    /// Blobs live under `<prefix>/blobs/`, so several Coffer deployments (or test runs) can
    /// share a bucket. Empty means the bucket's top.
    pub prefix: String,
    /// `None` means `us-east-1`, which S3-compatible stores other than AWS accept whatever
    /// they call their region.
    pub region: Option<String>,
    /// `None` for both keys means the standard AWS environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, ...) and profile files.
    pub access_key: Option<String>,
    pub secret_key: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret_key() {
        let s = S3Settings {
            bucket: "b".into(),
            access_key: Some("AKIDEXAMPLE".into()),
            secret_key: Some(Secret::new("wJalrXUtnFEMI/K7MDENG")),
            ..Default::default()
        };
        let printed = format!("{s:?}");
        assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }
}
