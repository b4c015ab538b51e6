//! Two gateways over one store (PostgreSQL + the S3 store), as behind a load balancer: what
//! one writes or changes, the other serves at once, and a user cannot tell which answered.
//! Only under the shared backends: the embedded store belongs to one process.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::common::*;

mod audit;
mod bucket_changes;
mod chores;
mod keys;

pub(super) fn two_gateways() -> Option<(Server, Server)> {
    if !shared_backends() {
        eprintln!("SKIPPED: two gateways need the shared backends (COFFER_E2E_BACKENDS=shared)");
        return None;
    }
    let a = Server::start();
    let b = a.another_gateway();
    Some((a, b))
}

/// A metric's value summed over its series whose line contains `labels`.
pub(super) fn metric(server: &Server, name: &str, labels: &str) -> f64 {
    let (_, text) = http_get(&format!("{}/metrics", server.endpoint()));
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
#[tokio::test]
async fn what_one_gateway_writes_the_other_reads_lists_copies_and_deletes() {
    let Some((a, b)) = two_gateways() else { return };
    let (ca, cb) = (a.alice(), b.alice());
    ca.create_bucket().bucket("shared").send().await.unwrap();
    let data = pattern(3 << 20, 7);
    ca.put_object()
        .bucket("shared")
        .key("from-a")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let got = cb
        .get_object()
        .bucket("shared")
        .key("from-a")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, data);
    let listed = cb.list_objects_v2().bucket("shared").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["from-a"]);
    cb.copy_object()
        .bucket("shared")
        .key("copied-on-b")
        .copy_source("shared/from-a")
        .send()
        .await
        .unwrap();
    let got = ca
        .get_object()
        .bucket("shared")
        .key("copied-on-b")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, data);
    cb.delete_object()
        .bucket("shared")
        .key("from-a")
        .send()
        .await
        .unwrap();
    let gone = ca.head_object().bucket("shared").key("from-a").send().await;
    assert_eq!(err_code(&gone.unwrap_err()).1, 404);

    // A multipart upload begun on A completes on B.
    let up = ca
        .create_multipart_upload()
        .bucket("shared")
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, client) in [(1, &ca), (2, &cb)] {
        let body = pattern(5 << 20, n as u64);
        let p = client
            .upload_part()
            .bucket("shared")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap())
                .build(),
        );
    }
    cb.complete_multipart_upload()
        .bucket("shared")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = ca
        .get_object()
        .bucket("shared")
        .key("mp")
        .send()
        .await
        .unwrap();
    let mut expected = pattern(5 << 20, 1);
    expected.extend(pattern(5 << 20, 2));
    assert_eq!(body_bytes(got).await, expected);
}

#[tokio::test]
async fn if_none_match_races_across_gateways_have_one_winner() {
    let Some((a, b)) = two_gateways() else { return };
    let (ca, cb) = (a.alice(), b.alice());
    ca.create_bucket().bucket("race").send().await.unwrap();
    for round in 0..8 {
        let key = format!("k{round}");
        let put = |c: aws_sdk_s3::Client, who: u8| {
            let key = key.clone();
            async move {
                c.put_object()
                    .bucket("race")
                    .key(&key)
                    .if_none_match("*")
                    .body(ByteStream::from(vec![who; 1024]))
                    .send()
                    .await
                    .map_err(|e| err_code(&e))
            }
        };
        let (ra, rb) = tokio::join!(put(ca.clone(), 1), put(cb.clone(), 2));
        let won: Vec<u8> = [(1u8, &ra), (2u8, &rb)]
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(w, _)| *w)
            .collect();
        assert_eq!(won.len(), 1, "round {round}: {ra:?} {rb:?}");
        for r in [&ra, &rb] {
            if let Err((code, status)) = r {
                assert_eq!(
                    (code.as_deref(), *status),
                    (Some("PreconditionFailed"), 412)
                );
            }
        }
        let got = cb
            .get_object()
            .bucket("race")
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            body_bytes(got).await,
            vec![won[0]; 1024],
            "the winner's bytes"
        );
    }
}
