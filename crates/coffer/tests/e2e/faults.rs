//! Disk faults injected at each step of the write paths (PUT, multipart complete, rekey,
//! audit append): the request fails with S3's 500 `InternalError` (EIO) or 503
//! `ServiceUnavailable` (a full disk), nothing half-written is served or left behind, what
//! was acknowledged stays, and the server works again once the fault is gone.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};

use crate::common::*;
use crate::failpoints::*;
use crate::invariants::*;

const MIB: usize = 1024 * 1024;

/// (failpoint, injected fault, expected status, expected S3 error code)
const PUT_FAULTS: &[(&str, &str, u16, &str)] = &[
    ("blob.write", "eio", 500, "InternalError"),
    ("blob.write", "enospc", 503, "ServiceUnavailable"),
    ("blob.fsync", "eio", 500, "InternalError"),
    ("blob.rename", "enospc", 503, "ServiceUnavailable"),
    ("put.meta.commit", "eio", 500, "InternalError"),
    ("put.meta.commit", "enospc", 503, "ServiceUnavailable"),
];

#[tokio::test]
async fn a_put_hit_by_a_disk_fault_fails_cleanly_and_the_next_one_works() {
    if embedded_only("injects disk faults into the embedded store's files") {
        return;
    }
    let mut server = Server::start();
    let c = no_retry_client(&server);
    c.create_bucket().bucket("fault-put").send().await.unwrap();
    let mut ledger = Ledger::default();
    let old = pattern(MIB + 5, 1);
    c.put_object()
        .bucket("fault-put")
        .key("k")
        .body(ByteStream::from(old.clone()))
        .send()
        .await
        .unwrap();
    ledger.acknowledged("fault-put", "k", &old);

    for (i, (point, fault, status, code)) in PUT_FAULTS.iter().enumerate() {
        set_failpoints(&server, &format!("{point}=return({fault})"));
        let new = pattern(2 * MIB + i, 100 + i as u64);
        let e = c
            .put_object()
            .bucket("fault-put")
            .key("k")
            .body(ByteStream::from(new.clone()))
            .send()
            .await
            .expect_err(&format!("{point}={fault} must fail the PUT"));
        assert_eq!(
            err_code(&e),
            (Some(code.to_string()), *status),
            "{point}={fault}"
        );
        // Still serving, still the old bytes, and no blob of the failed write remains.
        let got = c
            .get_object()
            .bucket("fault-put")
            .key("k")
            .send()
            .await
            .unwrap();
        assert_eq!(body_bytes(got).await, old, "{point}={fault}");
        assert_eq!(
            blob_files_settled(&server, 1).await.len(),
            1,
            "{point}={fault} left a blob behind"
        );
        assert!(
            files_under(&server.data_dir().join("objects/tmp")).is_empty(),
            "{point}={fault} left an unfinished write"
        );

        set_failpoints(&server, "");
        c.put_object()
            .bucket("fault-put")
            .key(format!("after-{i}"))
            .body(ByteStream::from(new.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("the PUT after {point}={fault} cleared: {e:?}"));
        c.delete_object()
            .bucket("fault-put")
            .key(format!("after-{i}"))
            .send()
            .await
            .unwrap();
    }
    check_objects(&server, &ledger).await;
    stop_and_check_disk(&mut server);
}

#[tokio::test]
async fn multipart_faults_fail_the_step_and_the_upload_still_completes() {
    if embedded_only("injects disk faults into the embedded store's files") {
        return;
    }
    let mut server = Server::start();
    let c = no_retry_client(&server);
    c.create_bucket().bucket("fault-mpu").send().await.unwrap();
    let id = c
        .create_multipart_upload()
        .bucket("fault-mpu")
        .key("big")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let parts = [pattern(5 * MIB, 7), pattern(MIB, 8)];

    // A part whose blob cannot be written fails; the same part uploads once the disk works.
    set_failpoints(&server, "blob.write=return(eio)");
    let e = c
        .upload_part()
        .bucket("fault-mpu")
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(parts[0].clone()))
        .send()
        .await
        .expect_err("a failed blob write fails the part");
    assert_eq!(err_code(&e), (Some("InternalError".into()), 500));
    set_failpoints(&server, "");
    let mut done = Vec::new();
    for (n, p) in parts.iter().enumerate() {
        let out = c
            .upload_part()
            .bucket("fault-mpu")
            .key("big")
            .upload_id(&id)
            .part_number(n as i32 + 1)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n as i32 + 1)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    let complete = || {
        c.complete_multipart_upload()
            .bucket("fault-mpu")
            .key("big")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done.clone()))
                    .build(),
            )
            .send()
    };

    for (fault, status, code) in [
        ("eio", 500, "InternalError"),
        ("enospc", 503, "ServiceUnavailable"),
    ] {
        set_failpoints(&server, &format!("mpu.complete.commit=return({fault})"));
        let e = complete().await.expect_err("the complete must fail");
        assert_eq!(err_code(&e), (Some(code.into()), status), "{fault}");
        let e = c
            .head_object()
            .bucket("fault-mpu")
            .key("big")
            .send()
            .await
            .expect_err("no object after a failed complete");
        assert_eq!(err_code(&e).1, 404);
        // The upload and its parts are intact.
        let listed = c
            .list_parts()
            .bucket("fault-mpu")
            .key("big")
            .upload_id(&id)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.parts().len(), 2, "{fault}");
    }
    set_failpoints(&server, "");
    complete().await.unwrap();
    let got = c
        .get_object()
        .bucket("fault-mpu")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, parts.concat());
    let mut ledger = Ledger::default();
    ledger.acknowledged("fault-mpu", "big", &parts.concat());
    check_objects(&server, &ledger).await;
    stop_and_check_disk(&mut server);
}

#[tokio::test]
async fn a_rekey_hit_by_a_disk_fault_fails_and_a_later_run_finishes() {
    if embedded_only("injects disk faults into the embedded store's files") {
        return;
    }
    let server = Server::start();
    let c = server.alice();
    c.create_bucket()
        .bucket("fault-rekey")
        .send()
        .await
        .unwrap();
    let mut ledger = Ledger::default();
    for i in 0..20u64 {
        let data = pattern(1000 + i as usize, i);
        c.put_object()
            .bucket("fault-rekey")
            .key(format!("o{i}"))
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        ledger.acknowledged("fault-rekey", &format!("o{i}"), &data);
    }
    let config = crate::rekey::admin_config(&server);
    let (ok, out) = crate::rekey::coffer_command(&config, "admin", &["rotate-master-key"]);
    assert!(ok, "{out}");

    set_failpoints(&server, "rekey.commit=3*off->return(eio)");
    let (ok, out) = crate::rekey::coffer_command(&config, "admin", &["rekey"]);
    assert!(!ok, "a rekey whose commit fails must fail: {out}");
    check_objects(&server, &ledger).await;

    set_failpoints(&server, "");
    let (ok, out) = crate::rekey::coffer_command(&config, "admin", &["rekey"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("retired master-key versions 1\n"),
        "every object moved to version 2: {out}"
    );
    check_objects(&server, &ledger).await;
}

#[tokio::test]
async fn a_kms_call_whose_audit_record_cannot_be_written_fails() {
    if embedded_only("injects disk faults into the embedded store's files") {
        return;
    }
    let server = Server::start();
    let c = no_retry_client(&server);
    let kms = no_retry_kms(&server);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    c.create_bucket()
        .bucket("fault-audit")
        .send()
        .await
        .unwrap();
    let data_key = |tag: &str| {
        kms.generate_data_key()
            .key_id(&arn)
            .number_of_bytes(32)
            .encryption_context("call", tag)
            .send()
    };
    data_key("before").await.unwrap();

    for (point, tag) in [
        ("audit.append.write", "write-fails"),
        // The record reaches the file, its fsync fails: the fragment must be taken back.
        ("audit.append.fsync", "fsync-fails"),
    ] {
        set_failpoints(&server, &format!("{point}=return(eio)"));
        let e = data_key(tag)
            .await
            .expect_err("no key use without its record");
        use aws_sdk_kms::error::ProvideErrorMetadata as _;
        assert_eq!(e.code(), Some("KMSInternalException"), "{point}");
        assert_eq!(e.raw_response().unwrap().status().as_u16(), 500, "{point}");
        // S3 asking KMS for a data key fails the same way, and stores nothing.
        let e = c
            .put_object()
            .bucket("fault-audit")
            .key(tag)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&arn)
            .body(ByteStream::from_static(b"secret"))
            .send()
            .await
            .expect_err("an SSE-KMS PUT without an audit record fails");
        assert_eq!(err_code(&e).1, 500, "{point}");
        assert!(
            c.head_object()
                .bucket("fault-audit")
                .key(tag)
                .send()
                .await
                .is_err(),
            "{point}: an object was stored"
        );
        set_failpoints(&server, "");
        data_key(&format!("after-{tag}")).await.unwrap();
    }
    let ok = c
        .put_object()
        .bucket("fault-audit")
        .key("works")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&arn)
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await;
    assert!(ok.is_ok(), "{ok:?}");

    let records = audit_records(&server);
    for answered in ["before", "after-write-fails", "after-fsync-fails"] {
        assert_eq!(
            recorded_calls(&records, "GenerateDataKey", answered),
            1,
            "{answered}"
        );
    }
    for failed in ["write-fails", "fsync-fails"] {
        assert_eq!(
            recorded_calls(&records, "GenerateDataKey", failed),
            0,
            "a call that failed for want of its record is not on record: {failed}"
        );
    }
    check_trail_verifies(&server);
}
