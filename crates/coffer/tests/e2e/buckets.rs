use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::common::*;

#[tokio::test]
async fn bucket_lifecycle_and_ownership() {
    let server = Server::start();
    let alice = server.alice();
    let bob = server.client(BOB);

    let created = alice.create_bucket().bucket("photos").send().await.unwrap();
    assert_eq!(created.location(), Some("/photos"));
    // us-east-1's legacy answer: re-creating your own bucket succeeds.
    alice.create_bucket().bucket("photos").send().await.unwrap();
    let e = bob
        .create_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("BucketAlreadyExists".into()), 409));

    alice.head_bucket().bucket("photos").send().await.unwrap();
    let e = bob.head_bucket().bucket("photos").send().await.unwrap_err();
    assert_eq!(err_code(&e).1, 403);
    let e = alice
        .head_bucket()
        .bucket("nothing-here")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);

    let loc = alice
        .get_bucket_location()
        .bucket("photos")
        .send()
        .await
        .unwrap();
    // us-east-1 answers with an empty constraint element.
    assert!(
        loc.location_constraint()
            .is_none_or(|c| c.as_str().is_empty()),
        "{loc:?}"
    );
    let e = bob
        .get_bucket_location()
        .bucket("photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));

    bob.create_bucket().bucket("bobs").send().await.unwrap();
    let mine = alice.list_buckets().send().await.unwrap();
    let names: Vec<_> = mine.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(
        names,
        vec!["photos"],
        "each user lists only their own buckets"
    );
    assert_eq!(mine.owner().and_then(|o| o.display_name()), Some("alice"));

    let e = alice
        .create_bucket()
        .bucket("elsewhere")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        (Some("IllegalLocationConstraintException".into()), 400)
    );

    alice
        .put_object()
        .bucket("photos")
        .key("a")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let e = alice
        .delete_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("BucketNotEmpty".into()), 409));
    let e = bob
        .delete_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    alice
        .delete_object()
        .bucket("photos")
        .key("a")
        .send()
        .await
        .unwrap();
    alice.delete_bucket().bucket("photos").send().await.unwrap();
    let e = alice
        .delete_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchBucket".into()), 404));
}

#[tokio::test]
async fn bucket_names_outside_the_rules_are_refused() {
    let server = Server::start();
    let alice = server.alice();
    for bad in [
        "ab",
        "UPPER",
        "under_score",
        "-leading",
        "192.168.1.1",
        &"x".repeat(64),
    ] {
        let e = alice.create_bucket().bucket(bad).send().await.unwrap_err();
        assert_eq!(
            err_code(&e),
            (Some("InvalidBucketName".into()), 400),
            "{bad}"
        );
    }
}
