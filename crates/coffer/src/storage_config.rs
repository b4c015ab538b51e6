//! `[metadata]` and `[blobs]`: which backend holds structured state and which holds sealed
//! bytes. Both sections and every key in them are optional; without them Coffer keeps both
//! under its data directory (an embedded database and a folder of files).

use serde::Deserialize;

/// Where buckets, object records, uploads, KMS records and audit state live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataBackend {
    /// redb, in `<data_dir>/meta.redb`: one process at a time.
    #[default]
    Embedded,
    /// A PostgreSQL-protocol database that several gateways share.
    Postgres,
}

/// Where sealed object parts live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// Files under `<data_dir>/objects`.
    #[default]
    Local,
    /// An S3-compatible object store (Ceph RGW, AWS S3, MinIO, Garage).
    S3,
}

/// The `[metadata]` section.
// `url` is parsed now so a file written for the shared backends is accepted as far as
// `open` (which refuses the backend by name); the postgres backend reads it.
#[allow(dead_code)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataSection {
    #[serde(default)]
    pub backend: MetadataBackend,
    /// `postgres://…`, for the postgres backend.
    pub url: Option<String>,
}

/// The `[blobs]` section. The secret key is wiped when the section is dropped and never
/// printed.
// The connection keys are parsed now so a file written for the s3 backend is accepted as
// far as `open` (which refuses the backend by name); the s3 backend reads them.
#[allow(dead_code)]
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobsSection {
    #[serde(default)]
    pub backend: BlobBackend,
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
}

impl Drop for BlobsSection {
    fn drop(&mut self) {
        if let Some(secret) = self.secret_key.as_mut() {
            zeroize::Zeroize::zeroize(secret);
        }
    }
}

impl std::fmt::Debug for BlobsSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobsSection")
            .field("backend", &self.backend)
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// Both sections, resolved.
#[derive(Debug, Clone, Default)]
pub struct StorageConfig {
    pub metadata: MetadataSection,
    pub blobs: BlobsSection,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        metadata: Option<MetadataSection>,
        blobs: Option<BlobsSection>,
    }

    #[test]
    fn absent_sections_mean_the_embedded_backends() {
        let f: File = toml::from_str("").unwrap();
        assert!(f.metadata.is_none() && f.blobs.is_none());
        let c = StorageConfig::default();
        assert_eq!(c.metadata.backend, MetadataBackend::Embedded);
        assert_eq!(c.blobs.backend, BlobBackend::Local);
    }

    #[test]
    fn sections_parse_as_documented_and_hide_the_secret() {
        let f: File = toml::from_str(
            r#"
            [metadata]
            backend = "postgres"
            url = "postgres://coffer@db.example:5432/coffer"
            [blobs]
            backend = "s3"
            endpoint = "https://rgw.example"
            bucket = "coffer-blobs"
            prefix = ""
            region = "us-east-1"
            access_key = "AK"
            secret_key = "do-not-print"
            "#,
        )
        .unwrap();
        let meta = f.metadata.unwrap();
        assert_eq!(meta.backend, MetadataBackend::Postgres);
        assert_eq!(
            meta.url.as_deref(),
            Some("postgres://coffer@db.example:5432/coffer")
        );
        let blobs = f.blobs.unwrap();
        assert_eq!(blobs.backend, BlobBackend::S3);
        assert_eq!(blobs.bucket.as_deref(), Some("coffer-blobs"));
        assert!(!format!("{blobs:?}").contains("do-not-print"));
    }

    #[test]
    fn unknown_backends_and_keys_are_refused() {
        assert!(toml::from_str::<File>("[metadata]\nbackend = \"mysql\"").is_err());
        assert!(toml::from_str::<File>("[blobs]\nbackend = \"local\"\nbukket = \"x\"").is_err());
    }
}
