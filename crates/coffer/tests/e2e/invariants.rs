//! What must hold after any fault or crash, as reusable checks:
//! - every acknowledged object reads back byte for byte;
//! - every visible object is whole: the content of some write that was started (never a mix
//!   or a prefix), its size and listing agree;
//! - on disk (server stopped): no unfinished write left, every blob a record names exists,
//!   every blob is named by a record, and the stored reference counts equal the records';
//! - the audit trail holds a record for every KMS call that was answered.
// Some checks serve only the failpoint tests, compiled out without the feature.
#![cfg_attr(not(feature = "failpoints"), allow(dead_code))]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use coffer_store::{BlobId, ListControl, RedbMetaStore};
use serde_json::Value;

use crate::common::*;

/// The contents each object may have: what was acknowledged last, and writes that were sent
/// but never answered (each may or may not have taken effect).
#[derive(Default, Clone)]
pub struct Ledger {
    objects: BTreeMap<(String, String), Expected>,
}

#[derive(Default, Clone)]
struct Expected {
    acknowledged: Option<Vec<u8>>,
    unanswered: Vec<Vec<u8>>,
}

impl Ledger {
    /// A write of `data` that was answered with success.
    pub fn acknowledged(&mut self, bucket: &str, key: &str, data: &[u8]) {
        let e = self.entry(bucket, key);
        e.acknowledged = Some(data.to_vec());
        e.unanswered.clear();
    }

    /// A write of `data` that got no answer (or an error after which it may still have
    /// committed): the object may hold it or what it held before.
    pub fn unanswered(&mut self, bucket: &str, key: &str, data: &[u8]) {
        self.entry(bucket, key).unanswered.push(data.to_vec());
    }

    fn entry(&mut self, bucket: &str, key: &str) -> &mut Expected {
        self.objects
            .entry((bucket.to_owned(), key.to_owned()))
            .or_default()
    }

    fn buckets(&self) -> Vec<String> {
        let mut b: Vec<String> = self.objects.keys().map(|(b, _)| b.clone()).collect();
        b.dedup();
        b
    }
}

/// Reads every object of the ledger's buckets through S3 and checks it against the ledger.
/// Returns what each object holds now, for checks specific to one case.
pub async fn check_objects(server: &Server, ledger: &Ledger) -> HashMap<String, Vec<u8>> {
    let c = server.alice();
    let mut now = HashMap::new();
    for bucket in ledger.buckets() {
        let listed = c
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list {bucket}: {e:?}"));
        for o in listed.contents() {
            let key = o.key().unwrap();
            let got = c
                .get_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{bucket}/{key} is listed but does not read: {e:?}"));
            let bytes = body_bytes(got).await;
            assert_eq!(
                bytes.len() as i64,
                o.size().unwrap(),
                "{bucket}/{key}: listed size and content differ"
            );
            let expected = ledger
                .objects
                .get(&(bucket.clone(), key.to_owned()))
                .unwrap_or_else(|| panic!("{bucket}/{key} was never written"));
            assert!(
                expected.acknowledged.as_deref() == Some(&bytes[..])
                    || expected.unanswered.contains(&bytes),
                "{bucket}/{key} holds {} bytes that no write sent",
                bytes.len()
            );
            now.insert(format!("{bucket}/{key}"), bytes);
        }
        for ((b, key), expected) in &ledger.objects {
            if *b == bucket && expected.acknowledged.is_some() && expected.unanswered.is_empty() {
                assert!(
                    now.contains_key(&format!("{bucket}/{key}")),
                    "{bucket}/{key} was acknowledged and is gone"
                );
            }
        }
    }
    now
}

/// Stops the server the way a crash would, lets a restart run its start-up collection (the
/// deletions a running server makes after answering may still be pending at a kill), stops
/// it again and checks its data directory with [`check_disk`].
pub fn stop_and_check_disk(server: &mut Server) {
    server.restart();
    server.kill9();
    check_disk(&server.data_dir());
}

/// Checks a stopped server's data directory: no unfinished write, no orphan blob, no
/// record without its blob, reference counts equal to what the records name.
pub fn check_disk(data_dir: &Path) {
    if embedded_only("checks the embedded database and blob files") {
        return;
    }
    let tmp = files_under(&data_dir.join("objects/tmp"));
    assert!(tmp.is_empty(), "unfinished writes left: {tmp:?}");
    let meta = RedbMetaStore::open(&data_dir.join("meta.redb")).unwrap();
    let mut named: HashMap<BlobId, u64> = HashMap::new();
    for bucket in meta.list_buckets().unwrap() {
        meta.list_objects(&bucket.name, "", "", &mut |_, r| {
            for b in r.blobs() {
                *named.entry(b.clone()).or_default() += 1;
            }
            ListControl::Continue
        })
        .unwrap();
        for u in meta.list_uploads(&bucket.name).unwrap() {
            for p in meta.list_parts(&u.upload_id).unwrap() {
                *named.entry(p.part.blob.clone()).or_default() += 1;
            }
        }
    }
    let counted = meta.blob_reference_counts().unwrap();
    assert_eq!(
        counted, named,
        "stored reference counts differ from what the records name"
    );
    let on_disk: std::collections::HashSet<String> = files_under(&data_dir.join("objects/blobs"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for id in named.keys() {
        assert!(
            on_disk.contains(id.as_str()),
            "a record names blob {id}, which is missing"
        );
    }
    let orphans: Vec<&String> = on_disk
        .iter()
        .filter(|f| BlobId::parse(f).is_none_or(|id| !named.contains_key(&id)))
        .collect();
    assert!(orphans.is_empty(), "blobs no record names: {orphans:?}");
}

/// Every record of the trail, read by `coffer audit lookup --json` (through the running
/// server, or from the data directory when it is stopped).
pub fn audit_records(server: &Server) -> Vec<Value> {
    let (ok, out) = crate::rekey::coffer_command(
        &crate::rekey::admin_config(server),
        "audit",
        &["lookup", "--json", "--limit", "100000"],
    );
    assert!(ok, "{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The trail verifies (`coffer audit verify`): nothing recorded was changed or lost.
pub fn check_trail_verifies(server: &Server) {
    let (ok, out) =
        crate::rekey::coffer_command(&crate::rekey::admin_config(server), "audit", &["verify"]);
    assert!(ok, "audit verify failed: {out}");
}

/// KMS calls made with an encryption context `{"call": <tag>}`, as the trail records them.
pub fn recorded_calls(records: &[Value], operation: &str, tag: &str) -> usize {
    records
        .iter()
        .filter(|r| {
            r["eventName"] == operation
                && r["requestParameters"]["encryptionContext"]["call"] == tag
        })
        .count()
}
