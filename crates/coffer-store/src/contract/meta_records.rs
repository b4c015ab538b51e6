//! The MetaStore contract, one writer at a time: what each call keeps, frees and refuses.

use super::FreshMeta;
use super::blocking::SyncMeta;
use super::fixtures::*;
use crate::blob::BlobId;
use crate::error::StoreError;
use crate::meta::{ListControl, WriteCondition};
use crate::records::{
    BucketRecord, COMPLETED_UPLOAD_RETENTION_MS, ObjectRecord, PartRecord, UploadRecord,
};

pub(super) fn master_versions_retire_only_when_unused_and_stay_retired(
    fresh: &dyn Fn() -> FreshMeta,
) {
    let (_keep, s) = with_bucket(fresh);
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

pub(super) fn shared_blobs_are_freed_only_by_their_last_reference(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
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

pub(super) fn listing_is_in_byte_order_within_one_bucket(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
    s.create_bucket(&bucket("b-2")).unwrap();
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

pub(super) fn completing_an_upload_keeps_chosen_parts_and_frees_the_rest(
    fresh: &dyn Fn() -> FreshMeta,
) {
    let (_keep, s) = with_bucket(fresh);
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

pub(super) fn completed_uploads_expire_after_their_retention(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
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

pub(super) fn conditions_are_checked_with_the_write(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
    let first = BlobId::random();
    s.put_object("b", "k", &object(&[&first]), &WriteCondition::IfAbsent)
        .unwrap();
    let refused = BlobId::random();
    assert!(matches!(
        s.put_object("b", "k", &object(&[&refused]), &WriteCondition::IfAbsent),
        Err(StoreError::PreconditionFailed)
    ));
    assert!(matches!(
        s.put_object(
            "b",
            "k",
            &object(&[&refused]),
            &WriteCondition::IfMatch("other".into())
        ),
        Err(StoreError::PreconditionFailed)
    ));
    assert!(matches!(
        s.put_object(
            "b",
            "none",
            &object(&[&refused]),
            &WriteCondition::IfMatch("e".into())
        ),
        Err(StoreError::NoSuchKey)
    ));
    assert!(matches!(
        s.delete_object("b", "k", &WriteCondition::IfMatch("other".into())),
        Err(StoreError::PreconditionFailed)
    ));
    assert!(
        !s.blobs_in_use(std::slice::from_ref(&refused), 0)
            .unwrap()
            .contains(&refused),
        "a refused write takes no reference"
    );
    let second = BlobId::random();
    let freed = s
        .put_object(
            "b",
            "k",
            &object(&[&second]),
            &WriteCondition::IfMatch("e".into()),
        )
        .unwrap();
    assert_eq!(freed, vec![first]);
    let (old, freed) = s
        .delete_object("b", "k", &WriteCondition::IfMatch("e".into()))
        .unwrap();
    assert_eq!(old.map(|o| o.parts[0].blob.clone()), Some(second.clone()));
    assert_eq!(freed, vec![second]);
    assert_eq!(
        s.delete_object("b", "k", &WriteCondition::Always).unwrap(),
        (None, Vec::new())
    );
}

pub(super) fn buckets_are_unique_and_take_their_uploads_with_them(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
    let again = BucketRecord {
        owner: "bob".into(),
        ..s.get_bucket("b").unwrap().unwrap()
    };
    assert!(matches!(
        s.create_bucket(&again),
        Err(StoreError::BucketExists { owner }) if owner == "alice"
    ));
    assert!(matches!(
        s.set_bucket_policy("missing", Some("{}".into())),
        Err(StoreError::NoSuchBucket)
    ));
    assert!(matches!(
        s.delete_bucket("missing"),
        Err(StoreError::NoSuchBucket)
    ));
    s.set_bucket_policy("b", Some("{}".into())).unwrap();
    assert_eq!(
        s.get_bucket("b").unwrap().unwrap().policy.as_deref(),
        Some("{}")
    );
    assert_eq!(s.list_buckets().unwrap().len(), 1);

    s.create_upload(&upload("u")).unwrap();
    let p = BlobId::random();
    s.put_part(
        "u",
        &PartRecord {
            v: 1,
            part: part(1, &p),
            last_modified_ms: 0,
        },
    )
    .unwrap();
    assert!(matches!(
        s.put_part(
            "missing",
            &PartRecord {
                v: 1,
                part: part(1, &BlobId::random()),
                last_modified_ms: 0,
            },
        ),
        Err(StoreError::NoSuchUpload)
    ));
    assert_eq!(s.delete_bucket("b").unwrap(), vec![p]);
    assert!(s.get_bucket("b").unwrap().is_none());
    assert!(s.get_upload("u").unwrap().is_none());
}

pub(super) fn deleting_several_objects_reports_each_key(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
    let (a, c) = (BlobId::random(), BlobId::random());
    s.put_object("b", "a", &object(&[&a]), &WriteCondition::Always)
        .unwrap();
    s.put_object("b", "c", &object(&[&c]), &WriteCondition::Always)
        .unwrap();
    let (existed, mut freed) = s
        .delete_objects("b", &["a".into(), "b".into(), "c".into()])
        .unwrap();
    assert_eq!(existed, [true, false, true]);
    freed.sort();
    let mut expected = vec![a, c];
    expected.sort();
    assert_eq!(freed, expected);
    assert!(s.referenced_blobs().unwrap().is_empty());
}

pub(super) fn a_bucket_and_a_kms_record_read_together_are_as_stored(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
    s.put_kms_key("key/1", b"one").unwrap();
    let version = s.get_kms_record("key/1").unwrap().unwrap().0;
    // A backend may leave the key to the KMS (`None`); what it does return is the record
    // as stored, or its absence, never another record.
    let (bucket, read) = s.get_bucket_and_kms_record("b", "key/1").unwrap();
    assert_eq!(bucket, s.get_bucket("b").unwrap());
    if let Some(read) = read {
        assert_eq!(read.id, "key/1");
        assert_eq!(read.found, Some((version, b"one".to_vec())));
    }
    let (bucket, read) = s.get_bucket_and_kms_record("b", "key/absent").unwrap();
    assert!(bucket.is_some());
    if let Some(read) = read {
        assert_eq!((read.id.as_str(), read.found), ("key/absent", None));
    }
    let (bucket, read) = s.get_bucket_and_kms_record("absent", "key/1").unwrap();
    assert!(bucket.is_none());
    if let Some(read) = read {
        assert_eq!(read.found, Some((version, b"one".to_vec())));
    }
}

pub(super) fn a_write_commits_only_in_the_bucket_it_was_decided_on(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
    let decided = s.get_bucket_for_write("b").unwrap().expect("the bucket");
    assert_eq!(Some(&decided), s.get_bucket("b").unwrap().as_ref());
    assert!(s.get_bucket_for_write("absent").unwrap().is_none());
    let blob = BlobId::random();
    s.put_object_in_bucket(&decided, "k", &object(&[&blob]), &WriteCondition::Always)
        .unwrap();
    assert!(s.get_object("b", "k").unwrap().is_some());
    // Changed since: a backend that decides on what it read before refuses; one that reads
    // afresh for each write commits. Either way, never into a bucket that is gone.
    s.set_bucket_policy("b", Some("{}".into())).unwrap();
    match s.put_object_in_bucket(&decided, "k2", &object(&[]), &WriteCondition::Always) {
        Ok(_) => assert!(s.get_object("b", "k2").unwrap().is_some()),
        Err(StoreError::BucketChanged) => assert!(s.get_object("b", "k2").unwrap().is_none()),
        Err(e) => panic!("{e}"),
    }
    let now = s.get_bucket_for_write("b").unwrap().expect("the bucket");
    assert_eq!(now.policy.as_deref(), Some("{}"));
    let (gone, freed) = s
        .delete_object_in_bucket(&now, "k", &WriteCondition::Always)
        .unwrap();
    assert!(gone.is_some());
    assert_eq!(freed, vec![blob]);
    s.delete_object("b", "k2", &WriteCondition::Always).unwrap();
    s.delete_bucket("b").unwrap();
    assert!(matches!(
        s.put_object_in_bucket(&now, "k3", &object(&[]), &WriteCondition::Always),
        Err(StoreError::NoSuchBucket | StoreError::BucketChanged)
    ));
    assert!(matches!(
        s.delete_object_in_bucket(&now, "k3", &WriteCondition::Always),
        Ok((None, _)) | Err(StoreError::NoSuchBucket | StoreError::BucketChanged)
    ));
}

pub(super) fn kms_records_and_settings_read_back_in_id_order(fresh: &dyn Fn() -> FreshMeta) {
    // Bound, not a temporary: the store's backing (a scratch schema, say) lives for the case.
    let f = fresh();
    let s = SyncMeta::new(f.handles[0].clone());
    for id in ["key/2", "alias/x", "key/1"] {
        s.put_kms_key(id, id.as_bytes()).unwrap();
    }
    assert_eq!(
        s.get_kms_key("key/1").unwrap().as_deref(),
        Some(&b"key/1"[..])
    );
    let keys: Vec<String> = s
        .list_kms_keys("key/")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["key/1", "key/2"]);
    s.delete_kms_key("key/1").unwrap();
    s.delete_kms_key("key/1").unwrap();
    assert!(s.get_kms_key("key/1").unwrap().is_none());
    assert!(s.get_setting("x").unwrap().is_none());
    s.put_setting("x", b"1").unwrap();
    s.put_setting("x", b"2").unwrap();
    assert_eq!(s.get_setting("x").unwrap().as_deref(), Some(&b"2"[..]));
}

pub(super) fn an_intent_holds_a_blob_until_a_record_names_it(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
    let (fresh_intent, old_intent, none) = (BlobId::random(), BlobId::random(), BlobId::random());
    s.record_blob_intent(&fresh_intent, 2_000).unwrap();
    s.record_blob_intent(&old_intent, 1_000).unwrap();
    let ids = [fresh_intent.clone(), old_intent.clone(), none.clone()];
    assert_eq!(
        s.blobs_in_use(&ids, 1_500).unwrap(),
        [fresh_intent.clone()].into_iter().collect()
    );
    // Naming the blob settles its intent: once the record is gone, nothing holds it.
    s.put_object("b", "k", &object(&[&fresh_intent]), &WriteCondition::Always)
        .unwrap();
    assert!(s.blobs_in_use(&ids, 0).unwrap().contains(&fresh_intent));
    s.delete_object("b", "k", &WriteCondition::Always).unwrap();
    assert!(!s.blobs_in_use(&ids, 0).unwrap().contains(&fresh_intent));
    // Stale intents go in pages; forgetting is idempotent.
    assert_eq!(s.drop_stale_blob_intents(1_500, 10).unwrap(), 1);
    assert!(s.blobs_in_use(&ids, 0).unwrap().is_empty());
    s.record_blob_intent(&none, 3_000).unwrap();
    s.forget_blob_intent(&none).unwrap();
    s.forget_blob_intent(&none).unwrap();
    assert!(s.blobs_in_use(&ids, 0).unwrap().is_empty());
}

pub(super) fn a_reseal_applies_only_to_the_expected_key(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
    let mut o = object(&[&BlobId::random()]);
    o.encryption = Some(sealed_under(1));
    s.put_object("b", "k", &o, &WriteCondition::Always).unwrap();
    assert!(
        !s.reseal_object("b", "k", "sealed-0", &sealed_under(2))
            .unwrap()
    );
    assert!(
        !s.reseal_object("b", "none", "sealed-1", &sealed_under(2))
            .unwrap()
    );
    assert!(
        s.reseal_object("b", "k", "sealed-1", &sealed_under(2))
            .unwrap()
    );
    let now = s.get_object("b", "k").unwrap().unwrap();
    assert_eq!(now.encryption, Some(sealed_under(2)));
    assert_eq!(now.parts, o.parts, "the data stays as it is");
    let mut u = upload("u");
    u.template.encryption = Some(sealed_under(1));
    s.create_upload(&u).unwrap();
    assert!(!s.reseal_upload("u", "sealed-0", &sealed_under(2)).unwrap());
    assert!(s.reseal_upload("u", "sealed-1", &sealed_under(2)).unwrap());
    assert!(s.set_object_tags("b", "k", &Default::default()).unwrap());
    assert!(!s.set_object_tags("b", "none", &Default::default()).unwrap());
}

pub(super) fn bucket_and_object_read_together(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
    let blob = BlobId::random();
    s.put_object("b", "k", &object(&[&blob]), &WriteCondition::Always)
        .unwrap();
    let (bucket, found) = s.get_bucket_and_object("b", "k").unwrap();
    assert_eq!(bucket.unwrap().name, "b");
    assert_eq!(found.unwrap().parts[0].blob, blob);
    let (bucket, found) = s.get_bucket_and_object("b", "absent").unwrap();
    assert!(bucket.is_some() && found.is_none());
    let (bucket, found) = s.get_bucket_and_object("absent", "k").unwrap();
    assert!(bucket.is_none() && found.is_none());
}

pub(super) fn inline_bytes_live_and_die_with_their_record(fresh: &dyn Fn() -> FreshMeta) {
    let (_keep, s) = with_bucket(fresh);
    let sealed = bytes::Bytes::from(
        (0..=255u8)
            .cycle()
            .take(crate::INLINE_MAX)
            .collect::<Vec<_>>(),
    );
    let mut small = object(&[&BlobId::random()]);
    small.parts[0].inline = Some(crate::InlineBytes::new(&sealed));
    let big = BlobId::random();
    s.put_object("b", "small", &small, &WriteCondition::Always)
        .unwrap();
    s.put_object("b", "big", &object(&[&big]), &WriteCondition::Always)
        .unwrap();
    // The bytes come back whole, by key, through the read a GET makes, and in listings.
    let read = s.get_object_for_read("b", "small").unwrap();
    let record = read.object.expect("the small object");
    assert_eq!(record, small);
    assert_eq!(
        record.parts[0].inline.as_ref().map(|b| b.sealed().unwrap()),
        Some(sealed)
    );
    let mut listed = Vec::new();
    s.list_objects("b", "", "", &mut |k, r| {
        listed.push((k.to_owned(), r.parts[0].inline.is_some()));
        ListControl::Continue
    })
    .unwrap();
    assert_eq!(listed, [("big".into(), false), ("small".into(), true)]);
    // An inline part names no blob: nothing to count, share or free.
    assert_eq!(s.referenced_blobs().unwrap(), [big.clone()].into());
    assert!(
        s.copy_object(("b", "small"), &[], ("b", "copy"), &small)
            .unwrap()
            .is_empty()
    );
    let (old, freed) = s
        .delete_object("b", "small", &WriteCondition::Always)
        .unwrap();
    assert_eq!(old, Some(small.clone()));
    assert!(freed.is_empty());
    assert!(
        s.put_object("b", "copy", &object(&[&big]), &WriteCondition::Always)
            .unwrap()
            .is_empty(),
        "replacing an inline object frees nothing"
    );
    assert_eq!(s.referenced_blobs().unwrap(), [big].into());
}

pub(super) const CASES: &[super::Case<FreshMeta>] = &[
    (
        "a write commits only in the bucket it was decided on",
        a_write_commits_only_in_the_bucket_it_was_decided_on,
    ),
    (
        "a bucket and a KMS record read together are as stored",
        a_bucket_and_a_kms_record_read_together_are_as_stored,
    ),
    (
        "inline bytes live and die with their record",
        inline_bytes_live_and_die_with_their_record,
    ),
    (
        "bucket and object read together",
        bucket_and_object_read_together,
    ),
    (
        "master versions retire only when unused",
        master_versions_retire_only_when_unused_and_stay_retired,
    ),
    (
        "shared blobs are freed by their last reference",
        shared_blobs_are_freed_only_by_their_last_reference,
    ),
    (
        "listing is in byte order",
        listing_is_in_byte_order_within_one_bucket,
    ),
    (
        "completing an upload",
        completing_an_upload_keeps_chosen_parts_and_frees_the_rest,
    ),
    (
        "completed uploads expire",
        completed_uploads_expire_after_their_retention,
    ),
    ("conditions", conditions_are_checked_with_the_write),
    (
        "buckets",
        buckets_are_unique_and_take_their_uploads_with_them,
    ),
    (
        "delete several objects",
        deleting_several_objects_reports_each_key,
    ),
    (
        "kms records and settings",
        kms_records_and_settings_read_back_in_id_order,
    ),
    (
        "blob intents",
        an_intent_holds_a_blob_until_a_record_names_it,
    ),
    ("reseal", a_reseal_applies_only_to_the_expected_key),
];
