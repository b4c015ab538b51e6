//! The crash matrix: the server is parked at each step of the write paths (a failpoint armed
//! with `return(park)`), killed there with SIGKILL, restarted, and every invariant checked
//! (`invariants.rs`): acknowledged objects intact, nothing half-written visible, the write
//! in flight either wholly there or wholly absent (exactly which follows from the step),
//! reference counts right and no orphan after the start-up collection, every answered KMS
//! call and every stored SSE-KMS object on record, and the trail verifying.

use std::process::{Command, Stdio};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use serde_json::Value;

use crate::common::*;
use crate::failpoints::*;
use crate::invariants::*;

const MIB: usize = 1024 * 1024;
const BUCKET: &str = "crash-matrix";

/// What the test does when the server is parked.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    /// An SSE-S3 PUT overwriting `target`.
    Put,
    /// An SSE-KMS PUT overwriting `target`.
    PutKms,
    /// CompleteMultipartUpload of an upload to `target`.
    Complete,
    /// `coffer admin rekey` after a master-key rotation.
    Rekey,
    /// A KMS GenerateDataKey call.
    KmsCall,
}

/// Whether the step lies after the write's commit (`true`: the write survives the crash)
/// or before it (`false`: it leaves no trace).
const MATRIX: &[(&str, Op, bool)] = &[
    ("blob.write", Op::Put, false),
    ("blob.fsync", Op::Put, false),
    ("blob.rename", Op::Put, false),
    ("put.meta.commit", Op::Put, false),
    ("put.meta.committed", Op::Put, true),
    ("mpu.complete.commit", Op::Complete, false),
    ("mpu.complete.committed", Op::Complete, true),
    ("rekey.commit", Op::Rekey, false),
    ("rekey.committed", Op::Rekey, true),
    ("audit.append.write", Op::PutKms, false),
    ("audit.append.fsync", Op::PutKms, false),
    ("audit.append.write", Op::KmsCall, false),
    ("audit.append.fsync", Op::KmsCall, false),
];

/// The state a case starts from, and what the test knows about it.
struct Setup {
    ledger: Ledger,
    old: Vec<u8>,
    new: Vec<u8>,
    kms_key: String,
    upload: Option<(String, Vec<CompletedPart>)>,
}

async fn set_up(server: &Server, op: Op) -> Setup {
    let c = no_retry_client(server);
    let kms = no_retry_kms(server);
    c.create_bucket().bucket(BUCKET).send().await.unwrap();
    let kms_key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let mut ledger = Ledger::default();
    for i in 0..3u64 {
        let data = pattern(100_000 + i as usize, i);
        let key = format!("stable-{i}");
        let mut put = c
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from(data.clone()));
        if i == 2 {
            put = put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(&kms_key);
        }
        put.send().await.unwrap();
        ledger.acknowledged(BUCKET, &key, &data);
    }
    kms.generate_data_key()
        .key_id(&kms_key)
        .number_of_bytes(32)
        .encryption_context("call", "answered")
        .send()
        .await
        .unwrap();
    let old = pattern(MIB + 3, 10);
    c.put_object()
        .bucket(BUCKET)
        .key("target")
        .body(ByteStream::from(old.clone()))
        .send()
        .await
        .unwrap();
    ledger.acknowledged(BUCKET, "target", &old);

    let mut new = pattern(2 * MIB + 1, 11);
    let mut upload = None;
    if op == Op::Complete {
        let parts = [pattern(5 * MIB, 12), pattern(MIB, 13)];
        let id = c
            .create_multipart_upload()
            .bucket(BUCKET)
            .key("target")
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_owned();
        let mut done = Vec::new();
        for (n, p) in parts.iter().enumerate() {
            let out = c
                .upload_part()
                .bucket(BUCKET)
                .key("target")
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
        new = parts.concat();
        upload = Some((id, done));
    }
    if op == Op::Rekey {
        let (ok, out) = crate::rekey::coffer_command(
            &crate::rekey::admin_config(server),
            "admin",
            &["rotate-master-key"],
        );
        assert!(ok, "{out}");
    }
    Setup {
        ledger,
        old,
        new,
        kms_key,
        upload,
    }
}

fn complete(
    c: &aws_sdk_s3::Client,
    id: &str,
    parts: &[CompletedPart],
) -> impl std::future::Future<
    Output = Result<
        aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput,
        String,
    >,
> + use<> {
    let request = c
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("target")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts.to_vec()))
                .build(),
        );
    async move { request.send().await.map_err(|e| format!("{e:?}")) }
}

/// Starts `op` against the server; resolves to whether it was answered with success.
fn start_op(server: &Server, setup: &Setup, op: Op) -> tokio::task::JoinHandle<bool> {
    let c = no_retry_client(server);
    let kms = no_retry_kms(server);
    let (new, key) = (setup.new.clone(), setup.kms_key.clone());
    match op {
        Op::Put | Op::PutKms => tokio::spawn(async move {
            let mut put = c
                .put_object()
                .bucket(BUCKET)
                .key("target")
                .body(ByteStream::from(new));
            if op == Op::PutKms {
                put = put
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(key);
            }
            put.send().await.is_ok()
        }),
        Op::Complete => {
            let (id, parts) = setup.upload.clone().unwrap();
            let done = complete(&c, &id, &parts);
            tokio::spawn(async move { done.await.is_ok() })
        }
        Op::KmsCall => tokio::spawn(async move {
            kms.generate_data_key()
                .key_id(key)
                .number_of_bytes(32)
                .encryption_context("call", "in-flight")
                .send()
                .await
                .is_ok()
        }),
        Op::Rekey => {
            let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
                .args(["admin", "rekey", "--config"])
                .arg(crate::rekey::admin_config(server))
                .env("COFFER_LOG", "off")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            tokio::task::spawn_blocking(move || child.wait().unwrap().success())
        }
    }
}

/// Every listed SSE-KMS object has the GenerateDataKey call that made its key on record.
async fn check_kms_objects_on_record(server: &Server, records: &[Value]) {
    let c = server.alice();
    let listed = c.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    for o in listed.contents() {
        let key = o.key().unwrap();
        let head = c
            .head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        if head.server_side_encryption() != Some(&ServerSideEncryption::AwsKms) {
            continue;
        }
        let arn = format!("arn:aws:s3:::{BUCKET}/{key}");
        assert!(
            records.iter().any(|r| r["eventName"] == "GenerateDataKey"
                && r["requestParameters"]["encryptionContext"]["aws:s3:arn"] == arn),
            "{key} is stored under a data key whose use is not on record"
        );
    }
}

async fn run_case(point: &str, op: Op, took_effect: bool) {
    let case = format!("{point} during {op:?}");
    let mut server = Server::start();
    let mut setup = set_up(&server, op).await;
    set_failpoints(&server, &format!("{point}=return(park)"));
    let answered = start_op(&server, &setup, op);
    wait_parked(&server, point).await;
    server.kill9();
    assert!(
        !answered.await.unwrap(),
        "{case}: answered with success while parked"
    );
    clear_failpoints_offline(&server);
    server.restart();

    if matches!(op, Op::Put | Op::PutKms | Op::Complete) {
        setup.ledger.unanswered(BUCKET, "target", &setup.new);
    }
    let now = check_objects(&server, &setup.ledger).await;
    let target = &now[&format!("{BUCKET}/target")];
    let c = no_retry_client(&server);
    match op {
        Op::Put | Op::PutKms => assert!(
            target == if took_effect { &setup.new } else { &setup.old },
            "{case}: the PUT {} take effect",
            if took_effect { "did not" } else { "did" }
        ),
        Op::Complete => {
            let uploads = c
                .list_multipart_uploads()
                .bucket(BUCKET)
                .send()
                .await
                .unwrap();
            if took_effect {
                assert_eq!(*target, setup.new, "{case}");
                assert!(uploads.uploads().is_empty(), "{case}: the upload remains");
            } else {
                assert_eq!(*target, setup.old, "{case}");
                // The upload survived whole: completing it now works.
                assert_eq!(uploads.uploads().len(), 1, "{case}");
                let (id, parts) = setup.upload.clone().unwrap();
                complete(&c, &id, &parts)
                    .await
                    .unwrap_or_else(|e| panic!("{case}: complete after restart: {e}"));
                let got = c
                    .get_object()
                    .bucket(BUCKET)
                    .key("target")
                    .send()
                    .await
                    .unwrap();
                assert!(body_bytes(got).await == setup.new, "{case}");
                setup.ledger.acknowledged(BUCKET, "target", &setup.new);
            }
        }
        Op::Rekey => {
            // Whatever the crash left half done, a new run finishes it and every object
            // still opens afterwards.
            let (ok, out) = crate::rekey::coffer_command(
                &crate::rekey::admin_config(&server),
                "admin",
                &["rekey"],
            );
            assert!(ok, "{case}: {out}");
            assert!(
                out.contains("retired master-key versions 1\n"),
                "{case}: {out}"
            );
            check_objects(&server, &setup.ledger).await;
        }
        Op::KmsCall => {}
    }

    let records = audit_records(&server);
    assert_eq!(
        recorded_calls(&records, "GenerateDataKey", "answered"),
        1,
        "{case}: an answered KMS call is not on record"
    );
    assert!(
        recorded_calls(&records, "GenerateDataKey", "in-flight") <= 1,
        "{case}"
    );
    check_kms_objects_on_record(&server, &records).await;
    check_trail_verifies(&server);

    // The restarted server takes writes again.
    let fresh = pattern(300_000, 99);
    c.put_object()
        .bucket(BUCKET)
        .key("fresh")
        .body(ByteStream::from(fresh.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{case}: PUT after restart: {e:?}"));
    setup.ledger.acknowledged(BUCKET, "fresh", &fresh);
    check_objects(&server, &setup.ledger).await;
    stop_and_check_disk(&mut server);
}

async fn run_cases(op: Op) {
    let cases: Vec<_> = MATRIX.iter().filter(|(_, o, _)| *o == op).collect();
    assert!(!cases.is_empty());
    for (point, op, took_effect) in cases {
        run_case(point, *op, *took_effect).await;
    }
}

#[tokio::test]
async fn crash_at_each_step_of_a_put() {
    if embedded_only("injects faults at the embedded store's file and database steps") {
        return;
    }
    run_cases(Op::Put).await;
}

#[tokio::test]
async fn crash_at_each_step_of_a_multipart_complete() {
    if embedded_only("injects faults at the embedded store's file and database steps") {
        return;
    }
    run_cases(Op::Complete).await;
}

#[tokio::test]
async fn crash_at_each_step_of_a_rekey() {
    if embedded_only("injects faults at the embedded store's file and database steps") {
        return;
    }
    run_cases(Op::Rekey).await;
}

#[tokio::test]
async fn crash_at_each_step_of_an_audit_append() {
    if embedded_only("injects faults at the embedded store's file and database steps") {
        return;
    }
    run_cases(Op::PutKms).await;
    run_cases(Op::KmsCall).await;
}
