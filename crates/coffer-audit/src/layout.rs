//! Where the trail lives under `<data>/audit`, in CloudTrail's folder layout (SPEC.md §8.5–8.6):
//! `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`
//! and `AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/..._CloudTrail-Digest_...json.gz`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

/// The trail's root: `<data>/audit`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub account_id: String,
    pub region: String,
}

pub(crate) const JOURNAL: &str = "journal.jsonl";
pub(crate) const ROLLING: &str = "journal.rolling";
/// Where a cut writes its log file before it knows the file's name.
pub(crate) const CUT_TMP: &str = ".cut.json.gz.tmp";
pub(crate) const STATE: &str = "digest-state.json";
/// The chain's newest digest, signed: without it, removing the newest digest (and its log
/// files) would leave a shorter chain that still verifies.
pub(crate) const HEAD: &str = "head.json";
pub const PUBLIC_KEY: &str = "signing-key.pub";
/// The chain's newest link, authenticated (also kept in the metadata store).
pub(crate) const ANCHOR: &str = "chain-anchor.json";

fn day_dir(t: OffsetDateTime) -> String {
    format!("{:04}/{:02}/{:02}", t.year(), u8::from(t.month()), t.day())
}

/// `YYYYMMDDTHHmmssZ` (CloudTrail's digest stamp; log files drop the seconds).
pub(crate) fn stamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// RFC 3339 with seconds, UTC, as records and digests carry times.
pub fn rfc3339(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl Layout {
    pub fn new(data_dir: &Path, account_id: &str, region: &str) -> Self {
        Self {
            root: data_dir.join("audit"),
            account_id: account_id.to_owned(),
            region: region.to_owned(),
        }
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The folder of one kind of file, relative to the trail root, ending in `/`.
    fn base(&self, kind: &str) -> String {
        format!("AWSLogs/{}/{kind}/{}/", self.account_id, self.region)
    }

    /// The folder of the log files, relative to the trail root.
    pub(crate) fn logs_dir(&self) -> String {
        self.base("CloudTrail")
    }

    /// The folder of the digests, relative to the trail root.
    pub(crate) fn digests_dir(&self) -> String {
        self.base("CloudTrail-Digest")
    }

    /// A log file's path, relative to the trail root. `unique` is 16 characters derived from
    /// the content, so cutting the same records twice (after a crash) names the same file.
    pub(crate) fn log_file(&self, t: OffsetDateTime, unique: &str) -> String {
        let s = stamp(t);
        format!(
            "AWSLogs/{a}/CloudTrail/{r}/{d}/{a}_CloudTrail_{r}_{m}Z_{unique}.json.gz",
            a = self.account_id,
            r = self.region,
            d = day_dir(t),
            m = &s[..13],
        )
    }

    /// A digest file's path, relative to the trail root. The sequence number keeps names
    /// unique and in chain order even when two digests end in the same second.
    /// The digest signed at `end`, `sequence`-th of the chain, by the sealer of `stream`
    /// (named when several gateways share the trail, so that two sealers racing never write
    /// the same name: the loser removes its own digest, never the winner's).
    pub(crate) fn digest_file(&self, end: OffsetDateTime, sequence: u64, stream: &str) -> String {
        let by = if stream.is_empty() {
            String::new()
        } else {
            format!("_{stream}")
        };
        format!(
            "AWSLogs/{a}/CloudTrail-Digest/{r}/{d}/{a}_CloudTrail-Digest_{r}_coffer_{r}_{s}_{sequence:08}{by}.json.gz",
            a = self.account_id,
            r = self.region,
            d = day_dir(end),
            s = stamp(end),
        )
    }
}

pub(crate) fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    enc.finish()
}

pub(crate) fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}
