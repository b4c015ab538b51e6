use super::*;
use crate::error::StoreError;
use crate::records::{COMPLETED_UPLOAD_RETENTION_MS, StoredPart};

fn store() -> (tempfile::TempDir, RedbMetaStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap();
    s.create_bucket(&BucketRecord {
        v: 1,
        name: "b".into(),
        owner: "alice".into(),
        region: "us-east-1".into(),
        created_ms: 0,
        encryption: None,
        policy: None,
        tags: Default::default(),
    })
    .unwrap();
    (dir, s)
}

fn part(n: u32, blob: &BlobId) -> StoredPart {
    StoredPart {
        number: n,
        size: 1,
        md5_hex: String::new(),
        blob: blob.clone(),
        checksum: None,
        crc64nvme: None,
    }
}

fn object(blobs: &[&BlobId]) -> ObjectRecord {
    ObjectRecord {
        v: 1,
        size: blobs.len() as u64,
        etag: "e".into(),
        last_modified_ms: 0,
        parts: blobs
            .iter()
            .enumerate()
            .map(|(i, b)| part(i as u32 + 1, b))
            .collect(),
        multipart: blobs.len() > 1,
        checksum: None,
        content_type: None,
        content_encoding: None,
        content_disposition: None,
        content_language: None,
        cache_control: None,
        expires_ms: None,
        website_redirect_location: None,
        user_metadata: Default::default(),
        storage_class: None,
        encryption: None,
        tags: Default::default(),
    }
}

fn sealed_under(version: u32) -> crate::records::EncryptionRecord {
    crate::records::EncryptionRecord {
        mode: "AES256".into(),
        master_version: version,
        sealed_key: format!("sealed-{version}"),
        customer_salt: None,
        kms_key_arn: None,
        kms_context: None,
        bucket_key: None,
    }
}

#[test]
fn master_versions_retire_only_when_unused_and_stay_retired() {
    let (_d, s) = store();
    let mut old = object(&[&BlobId::random()]);
    old.encryption = Some(sealed_under(1));
    s.put_object("b", "k", &old, &WriteCondition::Always)
        .unwrap();

    assert_eq!(s.retire_master_versions_below(2).unwrap(), 1, "k needs v1");
    // Nothing changed: v1 records are still accepted.
    s.put_object("b", "k2", &old, &WriteCondition::Always)
        .unwrap();
    assert!(
        s.reseal_object("b", "k", "sealed-1", &sealed_under(2))
            .unwrap()
    );
    assert!(
        s.reseal_object("b", "k2", "sealed-1", &sealed_under(2))
            .unwrap()
    );
    assert_eq!(s.retire_master_versions_below(2).unwrap(), 0);

    // A writer that sealed under v1 before the retirement cannot commit after it.
    assert!(matches!(
        s.put_object("b", "late", &old, &WriteCondition::Always),
        Err(StoreError::MasterKeyRetired)
    ));
    let mut fresh = old.clone();
    fresh.encryption = Some(sealed_under(2));
    s.put_object("b", "late", &fresh, &WriteCondition::Always)
        .unwrap();
    // A lower floor never lowers the retirement.
    assert_eq!(s.retire_master_versions_below(1).unwrap(), 0);
    assert!(matches!(
        s.put_object("b", "late", &old, &WriteCondition::Always),
        Err(StoreError::MasterKeyRetired)
    ));
}

#[test]
fn shared_blobs_are_freed_only_by_their_last_reference() {
    let (_d, s) = store();
    let blob = BlobId::random();
    assert!(
        s.put_object("b", "orig", &object(&[&blob]), &WriteCondition::Always)
            .unwrap()
            .is_empty()
    );
    assert!(
        s.copy_object(
            ("b", "orig"),
            std::slice::from_ref(&blob),
            ("b", "copy"),
            &object(&[&blob])
        )
        .unwrap()
        .is_empty()
    );
    // A copy whose source changed meanwhile is refused, never left naming a freed blob.
    assert!(matches!(
        s.copy_object(
            ("b", "orig"),
            &[BlobId::random()],
            ("b", "x"),
            &object(&[&blob])
        ),
        Err(StoreError::SourceChanged)
    ));
    let (_, freed) = s
        .delete_object("b", "orig", &WriteCondition::Always)
        .unwrap();
    assert!(freed.is_empty(), "the copy still names the blob");
    let replacement = BlobId::random();
    let freed = s
        .put_object(
            "b",
            "copy",
            &object(&[&replacement]),
            &WriteCondition::Always,
        )
        .unwrap();
    assert_eq!(freed, vec![blob]);
    assert_eq!(
        s.referenced_blobs().unwrap(),
        [replacement].into_iter().collect()
    );
}

#[test]
fn listing_is_in_byte_order_within_one_bucket() {
    let (_d, s) = store();
    s.create_bucket(&BucketRecord {
        v: 1,
        name: "b-2".into(),
        owner: "alice".into(),
        region: "us-east-1".into(),
        created_ms: 0,
        encryption: None,
        policy: None,
        tags: Default::default(),
    })
    .unwrap();
    for k in ["z", "a/2", "a/1", "é", "A"] {
        s.put_object(
            "b",
            k,
            &object(&[&BlobId::random()]),
            &WriteCondition::Always,
        )
        .unwrap();
    }
    s.put_object(
        "b-2",
        "other",
        &object(&[&BlobId::random()]),
        &WriteCondition::Always,
    )
    .unwrap();
    let mut seen = Vec::new();
    s.list_objects("b", "", "", &mut |k, _| {
        seen.push(k.to_owned());
        ListControl::Continue
    })
    .unwrap();
    assert_eq!(seen, ["A", "a/1", "a/2", "z", "é"]);
    seen.clear();
    s.list_objects("b", "a/", "a/1", &mut |k, _| {
        seen.push(k.to_owned());
        ListControl::Continue
    })
    .unwrap();
    assert_eq!(seen, ["a/2"]);
    assert!(matches!(
        s.delete_bucket("b"),
        Err(StoreError::BucketNotEmpty)
    ));
}

#[test]
fn completing_an_upload_keeps_chosen_parts_and_frees_the_rest() {
    let (_d, s) = store();
    let upload = UploadRecord {
        v: 1,
        upload_id: "u1".into(),
        bucket: "b".into(),
        key: "k".into(),
        initiator: "alice".into(),
        initiated_ms: 0,
        template: object(&[]),
        checksum_algorithm: None,
        checksum_type: None,
    };
    s.create_upload(&upload).unwrap();
    let (p1, p2, p2_again) = (BlobId::random(), BlobId::random(), BlobId::random());
    for (n, b) in [(1, &p1), (2, &p2)] {
        s.put_part(
            "u1",
            &PartRecord {
                v: 1,
                part: part(n, b),
                last_modified_ms: 0,
            },
        )
        .unwrap();
    }
    let replaced = s
        .put_part(
            "u1",
            &PartRecord {
                v: 1,
                part: part(2, &p2_again),
                last_modified_ms: 0,
            },
        )
        .unwrap();
    assert_eq!(
        replaced,
        vec![p2.clone()],
        "a re-uploaded part frees the old blob"
    );
    let stale = ObjectRecord {
        parts: vec![part(1, &p1), part(2, &p2)],
        ..object(&[])
    };
    assert!(matches!(
        s.complete_upload("u1", &stale, &WriteCondition::Always, &done("u1", 0)),
        Err(StoreError::PartChanged)
    ));
    let freed = s
        .complete_upload(
            "u1",
            &object(&[&p1]),
            &WriteCondition::Always,
            &done("u1", 5),
        )
        .unwrap();
    assert_eq!(freed, vec![p2_again], "part 2 was not chosen");
    assert!(s.get_upload("u1").unwrap().is_none());
    assert!(s.list_parts("u1").unwrap().is_empty());
    assert!(matches!(
        s.complete_upload(
            "u1",
            &object(&[&p1]),
            &WriteCondition::Always,
            &done("u1", 6)
        ),
        Err(StoreError::NoSuchUpload)
    ));
    assert_eq!(s.get_object("b", "k").unwrap().unwrap().parts[0].blob, p1);
    assert_eq!(
        s.get_completed_upload("u1").unwrap(),
        Some(done("u1", 5)),
        "the successful completion is remembered, the refused ones are not"
    );
}

fn done(upload_id: &str, completed_ms: i64) -> CompletedUploadRecord {
    CompletedUploadRecord {
        v: 1,
        upload_id: upload_id.into(),
        bucket: "b".into(),
        key: "k".into(),
        completed_ms,
        parts: vec![(1, "e1".into())],
        etag: "e-1".into(),
        checksum: None,
        server_side_encryption: None,
        kms_key_arn: None,
        bucket_key_enabled: false,
    }
}

#[test]
fn completed_uploads_expire_after_their_retention() {
    let (_d, s) = store();
    let day = 24 * 3600 * 1000;
    let upload = |id: &str| UploadRecord {
        v: 1,
        upload_id: id.into(),
        bucket: "b".into(),
        key: "k".into(),
        initiator: "alice".into(),
        initiated_ms: 0,
        template: object(&[]),
        checksum_algorithm: None,
        checksum_type: None,
    };
    for (id, at) in [("old", 0), ("day", day)] {
        s.create_upload(&upload(id)).unwrap();
        s.complete_upload(id, &object(&[]), &WriteCondition::Always, &done(id, at))
            .unwrap();
    }
    assert_eq!(s.get_completed_upload("old").unwrap(), Some(done("old", 0)));
    // A completion past the first record's retention prunes it, and only it.
    s.create_upload(&upload("late")).unwrap();
    let late = done("late", COMPLETED_UPLOAD_RETENTION_MS + 1);
    s.complete_upload("late", &object(&[]), &WriteCondition::Always, &late)
        .unwrap();
    assert_eq!(s.get_completed_upload("old").unwrap(), None);
    assert_eq!(
        s.get_completed_upload("day").unwrap(),
        Some(done("day", day))
    );
    assert_eq!(s.get_completed_upload("late").unwrap(), Some(late));
}

#[test]
fn concurrent_writers_share_commits_and_each_sees_its_own_outcome() {
    let (_d, s) = store();
    let s = Arc::new(s);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..40 {
                    let key = format!("t{t}/{i}");
                    s.put_object(
                        "b",
                        &key,
                        &object(&[&BlobId::random()]),
                        &WriteCondition::Always,
                    )
                    .unwrap();
                    // A refusal inside a shared batch fails only its own request.
                    assert!(matches!(
                        s.put_object(
                            "missing",
                            &key,
                            &object(&[&BlobId::random()]),
                            &WriteCondition::Always
                        ),
                        Err(StoreError::NoSuchBucket)
                    ));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut n = 0;
    s.list_objects("b", "", "", &mut |_, _| {
        n += 1;
        ListControl::Continue
    })
    .unwrap();
    assert_eq!(n, 16 * 40);
    assert_eq!(s.referenced_blobs().unwrap().len(), 16 * 40);
}

#[test]
fn a_database_held_open_elsewhere_is_reported_as_locked() {
    let (dir, _held) = store();
    let second = RedbMetaStore::open(&dir.path().join("meta.redb"));
    let e = second.err().expect("the file lock refuses a second opener");
    assert!(matches!(e, StoreError::Locked), "{e:?}");
    assert_eq!(
        e.to_string(),
        "metadata database: Database already open. Cannot acquire lock."
    );
}
