//! The S3 answers the console reads, deserialised from their XML.

use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListBuckets {
    pub buckets: BucketList,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct BucketList {
    pub bucket: Vec<BucketEntry>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct BucketEntry {
    pub name: String,
    pub creation_date: String,
}

/// `ListObjectsV2`'s answer.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListObjects {
    pub contents: Vec<ObjectEntry>,
    pub common_prefixes: Vec<CommonPrefix>,
    pub is_truncated: bool,
    pub next_continuation_token: Option<String>,
    pub key_count: u64,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct ObjectEntry {
    pub key: String,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct CommonPrefix {
    pub prefix: String,
}

/// A bucket's default encryption (`GET ?encryption`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct EncryptionConfig {
    pub rule: Vec<EncryptionRule>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct EncryptionRule {
    pub apply_server_side_encryption_by_default: DefaultEncryption,
    pub bucket_key_enabled: bool,
    pub blocked_encryption_types: BlockedTypes,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct DefaultEncryption {
    #[serde(rename = "SSEAlgorithm")]
    pub algorithm: String,
    #[serde(rename = "KMSMasterKeyID")]
    pub kms_key: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct BlockedTypes {
    pub encryption_type: Vec<String>,
}

pub fn parse<T: for<'de> Deserialize<'de> + Default>(bytes: &[u8]) -> T {
    quick_xml::de::from_str(&String::from_utf8_lossy(bytes)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_listing_is_read() {
        let xml = br#"<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated><NextContinuationToken>t1</NextContinuationToken><Contents><Key>a&lt;b</Key><LastModified>2026-11-29T10:00:00.000Z</LastModified><ETag>"e"</ETag><Size>5</Size></Contents><CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes></ListBucketResult>"#;
        let l: super::ListObjects = super::parse(xml);
        assert_eq!(l.contents[0].key, "a<b");
        assert_eq!(l.contents[0].size, 5);
        assert_eq!(l.common_prefixes[0].prefix, "p/");
        assert!(l.is_truncated);
        assert_eq!(l.next_continuation_token.as_deref(), Some("t1"));
    }

    #[test]
    fn an_encryption_configuration_is_read() {
        let xml = br#"<ServerSideEncryptionConfiguration xmlns="x"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>k1</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled><BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes></Rule></ServerSideEncryptionConfiguration>"#;
        let c: super::EncryptionConfig = super::parse(xml);
        let r = &c.rule[0];
        assert_eq!(
            r.apply_server_side_encryption_by_default.algorithm,
            "aws:kms"
        );
        assert_eq!(
            r.apply_server_side_encryption_by_default.kms_key.as_deref(),
            Some("k1")
        );
        assert!(r.bucket_key_enabled);
        assert_eq!(r.blocked_encryption_types.encryption_type, vec!["SSE-C"]);
    }
}
