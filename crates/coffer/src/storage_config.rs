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

/// The `[metadata]` section. The URL may carry a password: it is wiped when the section is
/// dropped and never printed.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataSection {
    #[serde(default)]
    pub backend: MetadataBackend,
    /// `postgres://…`, for the postgres backend (else `COFFER_METADATA_URL`).
    pub url: Option<String>,
}

impl Drop for MetadataSection {
    fn drop(&mut self) {
        if let Some(url) = self.url.as_mut() {
            zeroize::Zeroize::zeroize(url);
        }
    }
}

impl std::fmt::Debug for MetadataSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataSection")
            .field("backend", &self.backend)
            .field("url", &self.url.as_deref().map(redact_password))
            .finish()
    }
}

/// A URL with its password (if any) replaced, for messages and logs.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
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

impl StorageConfig {
    /// Both backends are the embedded ones: one process, one data directory.
    pub fn is_embedded(&self) -> bool {
        self.metadata.backend == MetadataBackend::Embedded
            && self.blobs.backend == BlobBackend::Local
    }

    /// Fills what the file leaves out from the environment, so secrets need not be written
    /// in it: `COFFER_METADATA_URL` for the database URL, and the standard AWS variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` or `AWS_DEFAULT_REGION`)
    /// for the object store. A key the file gives wins. Then checks that each chosen backend
    /// has what it needs, naming the key that is missing.
    pub fn resolved(&self, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut out = self.clone();
        if out.metadata.url.is_none() {
            out.metadata.url = env("COFFER_METADATA_URL");
        }
        let blobs = &mut out.blobs;
        if blobs.access_key.is_none() {
            blobs.access_key = env("AWS_ACCESS_KEY_ID");
        }
        if blobs.secret_key.is_none() {
            blobs.secret_key = env("AWS_SECRET_ACCESS_KEY");
        }
        if blobs.region.is_none() {
            blobs.region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"));
        }
        if out.metadata.backend == MetadataBackend::Postgres && out.metadata.url.is_none() {
            return Err(
                "[metadata] backend = \"postgres\" needs url (or COFFER_METADATA_URL)".into(),
            );
        }
        if out.blobs.backend == BlobBackend::S3 {
            if out.blobs.bucket.as_deref().is_none_or(str::is_empty) {
                return Err("[blobs] backend = \"s3\" needs bucket".into());
            }
            if out.blobs.access_key.is_none() != out.blobs.secret_key.is_none() {
                return Err(
                    "[blobs] needs access_key and secret_key together (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                        .into(),
                );
            }
        }
        Ok(out)
    }
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
    fn secrets_come_from_the_environment_when_the_file_leaves_them_out() {
        let env = |name: &str| match name {
            "COFFER_METADATA_URL" => Some("postgres://coffer:pw@db/coffer".to_owned()),
            "AWS_ACCESS_KEY_ID" => Some("AKENV".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("from-env".to_owned()),
            "AWS_DEFAULT_REGION" => Some("eu-west-1".to_owned()),
            _ => None,
        };
        let f: File = toml::from_str(
            "[metadata]\nbackend = \"postgres\"\n[blobs]\nbackend = \"s3\"\nbucket = \"b\"\naccess_key = \"AKFILE\"\nsecret_key = \"from-file\"\n",
        )
        .unwrap();
        let c = StorageConfig {
            metadata: f.metadata.unwrap(),
            blobs: f.blobs.unwrap(),
        }
        .resolved(env)
        .unwrap();
        assert_eq!(
            c.metadata.url.as_deref(),
            Some("postgres://coffer:pw@db/coffer")
        );
        assert_eq!(
            c.blobs.access_key.as_deref(),
            Some("AKFILE"),
            "the file wins"
        );
        assert_eq!(c.blobs.secret_key.as_deref(), Some("from-file"));
        assert_eq!(c.blobs.region.as_deref(), Some("eu-west-1"));
        assert!(!format!("{c:?}").contains("pw@"), "{c:?}");

        let none = |_: &str| None;
        let mut missing = StorageConfig::default();
        missing.metadata.backend = MetadataBackend::Postgres;
        assert!(missing.resolved(none).unwrap_err().contains("needs url"));
        let mut missing = StorageConfig::default();
        missing.blobs.backend = BlobBackend::S3;
        assert!(missing.resolved(none).unwrap_err().contains("needs bucket"));
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_password("postgres://u:secret@h:5432/db?sslmode=require"),
            "postgres://u:***@h:5432/db?sslmode=require"
        );
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_password("host=h user=u"), "host=h user=u");
    }

    #[test]
    fn unknown_backends_and_keys_are_refused() {
        assert!(toml::from_str::<File>("[metadata]\nbackend = \"mysql\"").is_err());
        assert!(toml::from_str::<File>("[blobs]\nbackend = \"local\"\nbukket = \"x\"").is_err());
    }
}
