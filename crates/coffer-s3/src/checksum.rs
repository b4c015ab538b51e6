//! Content-MD5 and the `x-amz-checksum-*` family: which one a request asks for, computing it
//! over the plaintext, comparing it with what the client sent, and composing part checksums.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_store::ChecksumRecord;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use http::HeaderMap;
use s3s::dto::Checksum;
use s3s::{S3Error, S3Result, s3_error};
use sha1::Digest as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    pub(crate) const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    pub(crate) fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            Algorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            Algorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            Algorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            Algorithm::Sha1 | Algorithm::Sha256 => None,
        }
    }

    /// Digest of `data` in one go (for composing part checksums).
    fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finish()
    }
}

/// A running checksum of one algorithm.
pub(crate) enum Hasher {
    Crc(Algorithm, CrcDigest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub(crate) fn new(algorithm: Algorithm) -> Self {
        match algorithm.crc() {
            Some(crc) => Hasher::Crc(algorithm, CrcDigest::new(crc)),
            None if algorithm == Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            None => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(_, d) => d.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// Big-endian digest bytes, as S3 base64-encodes them.
    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc(a, d) => {
                let v = d.finalize();
                v.to_be_bytes()[8 - a.digest_len()..].to_vec()
            }
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// The checksum a write asks Coffer to compute and (when the client sent a value) verify.
#[derive(Debug, Clone)]
pub(crate) struct ChecksumRequest {
    pub algorithm: Algorithm,
    /// Value sent as a header; `None` when it comes as a trailer or not at all.
    pub expected: Option<String>,
    /// The value arrives in the trailer of an `aws-chunked` body.
    pub in_trailer: bool,
}

/// Works out which checksum a PUT or UploadPart carries, from its checksum headers, its
/// declared algorithm and its `x-amz-trailer`.
pub(crate) fn requested(
    headers: &HeaderMap,
    declared: Option<&str>,
) -> S3Result<Option<ChecksumRequest>> {
    let mut found: Option<ChecksumRequest> = None;
    for a in Algorithm::ALL {
        if let Some(v) = headers.get(a.header()) {
            if found.is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                ));
            }
            let v = v.to_str().map_err(|_| invalid_value(a))?.to_owned();
            check_format(a, &v)?;
            found = Some(ChecksumRequest {
                algorithm: a,
                expected: Some(v),
                in_trailer: false,
            });
        }
    }
    if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        let trailer = trailer.trim().to_ascii_lowercase();
        if let Some(a) = Algorithm::ALL.into_iter().find(|a| a.header() == trailer) {
            if found.is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                ));
            }
            found = Some(ChecksumRequest {
                algorithm: a,
                expected: None,
                in_trailer: true,
            });
        }
    }
    if let Some(name) = declared {
        let a = Algorithm::parse(name).ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
            )
        })?;
        match &found {
            Some(f) if f.algorithm != a => {
                return Err(s3_error!(
                    InvalidRequest,
                    "Value for x-amz-sdk-checksum-algorithm header is invalid."
                ));
            }
            Some(_) => {}
            None => {
                found = Some(ChecksumRequest {
                    algorithm: a,
                    expected: None,
                    in_trailer: false,
                });
            }
        }
    }
    Ok(found)
}

fn invalid_value(a: Algorithm) -> S3Error {
    s3_error!(
        InvalidRequest,
        "Value for {} header is invalid.",
        a.header()
    )
}

fn check_format(a: Algorithm, value: &str) -> S3Result<()> {
    match B64.decode(value) {
        Ok(raw) if raw.len() == a.digest_len() => Ok(()),
        _ => Err(invalid_value(a)),
    }
}

/// Compares a computed checksum with the one the client sent (header or trailer).
pub(crate) fn verify(
    request: &ChecksumRequest,
    computed_b64: &str,
    trailers: Option<&s3s::TrailingHeaders>,
) -> S3Result<()> {
    let expected = match &request.expected {
        Some(v) => Some(v.clone()),
        None if request.in_trailer => {
            let v = trailers
                .and_then(|t| {
                    t.read(|h| {
                        h.get(request.algorithm.header())
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    })
                })
                .flatten();
            match v {
                Some(v) => {
                    check_format(request.algorithm, &v)?;
                    Some(v)
                }
                None => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "The x-amz-trailer header does not match the trailers sent."
                    ));
                }
            }
        }
        None => None,
    };
    match expected {
        Some(e) if e != computed_b64 => Err(s3_error!(
            BadDigest,
            "The {} you specified did not match the calculated checksum.",
            request.algorithm.name()
        )),
        _ => Ok(()),
    }
}

/// Decodes a Content-MD5 header: `InvalidDigest` unless it is base64 of 16 bytes.
pub(crate) fn content_md5(value: Option<&str>) -> S3Result<Option<[u8; 16]>> {
    let Some(v) = value else { return Ok(None) };
    B64.decode(v.trim())
        .ok()
        .and_then(|raw| <[u8; 16]>::try_from(raw.as_slice()).ok())
        .map(Some)
        .ok_or_else(|| s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."))
}

pub(crate) fn b64(raw: &[u8]) -> String {
    B64.encode(raw)
}

/// Sets the one checksum field of an S3 `Checksum` (or output) for a record.
pub(crate) fn to_dto(record: Option<&ChecksumRecord>) -> Checksum {
    let mut out = Checksum::default();
    let Some(r) = record else { return out };
    let v = Some(r.value.clone());
    match Algorithm::parse(&r.algorithm) {
        Some(Algorithm::Crc32) => out.checksum_crc32 = v,
        Some(Algorithm::Crc32c) => out.checksum_crc32c = v,
        Some(Algorithm::Crc64Nvme) => out.checksum_crc64nvme = v,
        Some(Algorithm::Sha1) => out.checksum_sha1 = v,
        Some(Algorithm::Sha256) => out.checksum_sha256 = v,
        None => {}
    }
    out.checksum_type = Some(s3s::dto::ChecksumType::from(r.kind.clone()));
    out
}

/// The whole-object CRC64NVME every object gets when the client asked for nothing else
/// (S3's default integrity protection since 2025).
pub(crate) fn default_record(crc64nvme: u64) -> ChecksumRecord {
    ChecksumRecord {
        algorithm: Algorithm::Crc64Nvme.name().to_owned(),
        value: b64(&crc64nvme.to_be_bytes()),
        kind: "FULL_OBJECT".to_owned(),
    }
}

/// Combines per-part CRC64NVME values (with part sizes) into the whole object's.
pub(crate) fn combine_crc64nvme(parts: impl IntoIterator<Item = (u64, u64)>) -> u64 {
    let mut iter = parts.into_iter();
    let Some((mut acc, _)) = iter.next() else {
        return CrcDigest::new(CrcAlgorithm::Crc64Nvme).finalize();
    };
    for (crc, len) in iter {
        acc = crc_fast::checksum_combine(CrcAlgorithm::Crc64Nvme, acc, crc, len);
    }
    acc
}

/// Combines per-part CRC values of a 32-bit algorithm into a full-object CRC.
pub(crate) fn combine_crc(
    algorithm: Algorithm,
    parts: impl IntoIterator<Item = (Vec<u8>, u64)>,
) -> Option<Vec<u8>> {
    let crc = algorithm.crc()?;
    let width = algorithm.digest_len();
    let mut acc: Option<u64> = None;
    for (raw, len) in parts {
        let mut be = [0u8; 8];
        be[8 - width..].copy_from_slice(raw.get(..width)?);
        let v = u64::from_be_bytes(be);
        acc = Some(match acc {
            None => v,
            Some(a) => crc_fast::checksum_combine(crc, a, v, len),
        });
    }
    let v = acc?;
    Some(v.to_be_bytes()[8 - width..].to_vec())
}

/// The multipart checksum of `COMPOSITE` type: the digest of the parts' digests, `-N`.
pub(crate) fn composite(algorithm: Algorithm, part_values: &[String]) -> S3Result<String> {
    let mut raw = Vec::with_capacity(part_values.len() * algorithm.digest_len());
    for v in part_values {
        raw.extend(B64.decode(v).map_err(crate::error::internal)?);
    }
    Ok(format!(
        "{}-{}",
        b64(&algorithm.digest(&raw)),
        part_values.len()
    ))
}

pub(crate) fn decode(value: &str) -> Option<Vec<u8>> {
    B64.decode(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let mut h = Hasher::new(Algorithm::Crc32);
        h.update(b"123456789");
        assert_eq!(h.finish(), 0xCBF4_3926u32.to_be_bytes());
        let mut h = Hasher::new(Algorithm::Crc32c);
        h.update(b"123456789");
        assert_eq!(h.finish(), 0xE306_9283u32.to_be_bytes());
        let mut h = Hasher::new(Algorithm::Crc64Nvme);
        h.update(b"123456789");
        assert_eq!(h.finish(), 0xAE8B_1486_0A79_9888u64.to_be_bytes());
    }

    #[test]
    fn combined_crc_equals_crc_of_concatenation() {
        let (a, b) = (b"hello ".as_slice(), b"world, and more".as_slice());
        for alg in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            let whole = alg.digest(&[a, b].concat());
            let combined = combine_crc(
                alg,
                [
                    (alg.digest(a), a.len() as u64),
                    (alg.digest(b), b.len() as u64),
                ],
            )
            .unwrap();
            assert_eq!(whole, combined, "{alg:?}");
        }
    }

    #[test]
    fn two_checksum_headers_are_refused() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-checksum-crc32", b64(&[0; 4]).parse().unwrap());
        h.insert("x-amz-checksum-sha1", b64(&[0; 20]).parse().unwrap());
        assert_eq!(
            requested(&h, None).unwrap_err().code(),
            &s3s::S3ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn malformed_md5_is_invalid_digest() {
        for bad in ["", "not base64!", "AAAA"] {
            assert_eq!(
                content_md5(Some(bad)).unwrap_err().code(),
                &s3s::S3ErrorCode::InvalidDigest
            );
        }
        assert!(
            content_md5(Some("1B2M2Y8AsgTpgAmY7PhCfg=="))
                .unwrap()
                .is_some()
        );
    }
}
