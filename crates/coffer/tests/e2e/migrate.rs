//! `coffer admin migrate --to CONFIG`: a stopped server's objects (every SSE mode, multipart,
//! copies), an upload in progress, its KMS keys and its audit trail move to another
//! configuration's backends byte for byte, without decrypting; the destination serves them
//! all, and a second run before it serves finds everything already there.

use std::collections::BTreeSet;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};

use crate::common::*;
use crate::rekey::coffer_command;

/// The contents of every blob file under a data directory, as a set: two directories hold
/// the same sealed bytes exactly when these are equal.
fn blob_contents(data_dir: &std::path::Path) -> BTreeSet<Vec<u8>> {
    files_under(&data_dir.join("objects/blobs"))
        .into_iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect()
}

async fn body(c: &aws_sdk_s3::Client, key: &str, customer: Option<&Ck>) -> Vec<u8> {
    let mut get = c.get_object().bucket("moving").key(key);
    if let Some(k) = customer {
        get = get
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&k.b64)
            .sse_customer_key_md5(&k.md5);
    }
    get.send()
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

#[tokio::test]
async fn a_stopped_data_directory_moves_whole_and_a_second_run_copies_nothing() {
    if embedded_only("moves an embedded data directory") {
        return;
    }
    let mut from = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    );
    let c = from.alice();
    c.create_bucket().bucket("moving").send().await.unwrap();
    let small = pattern(200_000, 1);
    let customer = ck(7);
    c.put_object()
        .bucket("moving")
        .key("sse-s3")
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("moving")
        .key("sse-kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("moving")
        .key("bucket-key")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .bucket_key_enabled(true)
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("moving")
        .key("sse-c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&customer.b64)
        .sse_customer_key_md5(&customer.md5)
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap();
    c.copy_object()
        .bucket("moving")
        .key("copy")
        .copy_source("moving/sse-s3")
        .send()
        .await
        .unwrap();
    // A completed multipart object and one still in progress.
    let parts = [pattern(5 << 20, 2), pattern(1 << 20, 3)];
    for (key, complete) in [("multipart", true), ("in-progress", false)] {
        let up = c
            .create_multipart_upload()
            .bucket("moving")
            .key(key)
            .send()
            .await
            .unwrap();
        let id = up.upload_id().unwrap().to_owned();
        let mut done = Vec::new();
        for (i, data) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let etag = c
                .upload_part()
                .bucket("moving")
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .unwrap()
                .e_tag()
                .unwrap()
                .to_owned();
            done.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
        }
        if complete {
            c.complete_multipart_upload()
                .bucket("moving")
                .key(key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(done))
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    }
    from.kill9();

    let mut to = Server::prepared(&["--allow-sse-c-over-http"]);
    let (ok, out) = coffer_command(
        &from.config_path(),
        "admin",
        &["migrate", "--to", to.config_path().to_str().unwrap()],
    );
    assert!(ok, "{out}");
    assert!(out.contains("6 objects, 1 uploads with 2 parts"), "{out}");
    // Byte for byte: the destination holds exactly the source's sealed blobs, under new
    // names (the copy shares its source's blob, and is copied once).
    assert_eq!(
        blob_contents(&to.data_dir()),
        blob_contents(&from.data_dir())
    );
    assert!(to.data_dir().join("root.key").is_file());

    // Run again (as after an interruption, before the destination serves): everything is
    // found in place, nothing copied.
    let (ok, out) = coffer_command(
        &from.config_path(),
        "admin",
        &["migrate", "--to", to.config_path().to_str().unwrap()],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("0 KMS records, 0 buckets, 0 objects, 0 uploads with 0 parts (0 blobs"),
        "{out}"
    );

    to.start_prepared();
    let b = to.alice();
    for key in ["sse-s3", "sse-kms", "bucket-key", "copy"] {
        assert_eq!(body(&b, key, None).await, small, "{key}");
    }
    assert_eq!(body(&b, "sse-c", Some(&customer)).await, small);
    assert_eq!(body(&b, "multipart", None).await, parts.concat());
    let head = b
        .head_object()
        .bucket("moving")
        .key("bucket-key")
        .send()
        .await
        .unwrap();
    assert_eq!(head.bucket_key_enabled(), Some(true));
    // The upload in progress carries on at the destination.
    let uploads = b
        .list_multipart_uploads()
        .bucket("moving")
        .send()
        .await
        .unwrap();
    let upload = &uploads.uploads()[0];
    assert_eq!(upload.key(), Some("in-progress"));
    let id = upload.upload_id().unwrap();
    let listed = b
        .list_parts()
        .bucket("moving")
        .key("in-progress")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    let done: Vec<CompletedPart> = listed
        .parts()
        .iter()
        .map(|p| {
            CompletedPart::builder()
                .part_number(p.part_number().unwrap())
                .e_tag(p.e_tag().unwrap())
                .build()
        })
        .collect();
    assert_eq!(done.len(), 2);
    b.complete_multipart_upload()
        .bucket("moving")
        .key("in-progress")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(body(&b, "in-progress", None).await, parts.concat());
    to.kill9();

    // The trail came along and still verifies under the same root key.
    let (ok, out) = coffer_command(&to.config_path(), "audit", &["verify"]);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn a_running_source_or_a_destination_of_another_root_key_is_refused() {
    if embedded_only("moves an embedded data directory") {
        return;
    }
    let mut from = Server::start();
    from.alice()
        .create_bucket()
        .bucket("still-served")
        .send()
        .await
        .unwrap();
    let mut to = Server::prepared(&[]);
    let to_config = to.config_path();
    let (ok, out) = coffer_command(
        &from.config_path(),
        "admin",
        &["migrate", "--to", to_config.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(out.contains("stop it first"), "{out}");
    from.kill9();

    // A destination that has run on its own, under its own root key.
    to.start_prepared();
    to.kill9();
    let (ok, out) = coffer_command(
        &from.config_path(),
        "admin",
        &["migrate", "--to", to_config.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(out.contains("another root key"), "{out}");
}
