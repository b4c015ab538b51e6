//! Small XML request bodies that `s3s`'s model cannot parse for us (bucket encryption with
//! `BlockedEncryptionTypes`, UpdateObjectEncryption): read up to a limit and deserialised,
//! anything else being `MalformedXML`.

use http_body_util::BodyExt;
use s3s::{Body, S3Result};
use serde::de::DeserializeOwned;

use crate::error::malformed_xml;

pub(crate) async fn xml_body<T: DeserializeOwned>(body: Body, max: usize) -> S3Result<T> {
    let bytes = http_body_util::Limited::new(body, max)
        .collect()
        .await
        .map_err(|_| malformed_xml())?
        .to_bytes();
    from_xml(&bytes)
}

/// Deserialises a body already read; anything that is not UTF-8 XML of `T`'s shape is
/// `MalformedXML`.
pub(crate) fn from_xml<T: DeserializeOwned>(bytes: &[u8]) -> S3Result<T> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed_xml())?;
    quick_xml::de::from_str(text).map_err(|_| malformed_xml())
}
