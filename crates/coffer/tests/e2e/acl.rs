//! ACLs as an S3 bucket with Object Ownership "bucket owner enforced" has them (every new
//! bucket since April 2023): readable, always the owner with FULL_CONTROL; not settable
//! (400 AccessControlListNotSupported); a write naming an ACL that only gives the bucket
//! owner full control is accepted and changes nothing.
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-ownership-error-responses.html>

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketCannedAcl, ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    Permission, Type,
};

use crate::common::*;

fn assert_owner_full_control(
    owner: Option<&aws_sdk_s3::types::Owner>,
    grants: &[aws_sdk_s3::types::Grant],
    expected_id: &str,
) {
    let owner = owner.expect("an owner");
    assert_eq!(owner.id(), Some(expected_id));
    assert_eq!(grants.len(), 1, "{grants:?}");
    let g = &grants[0];
    assert_eq!(g.permission(), Some(&Permission::FullControl));
    let grantee = g.grantee().expect("a grantee");
    assert_eq!(grantee.r#type(), &Type::CanonicalUser);
    assert_eq!(grantee.id(), Some(expected_id));
}

#[tokio::test]
async fn acls_read_as_owner_full_control_and_cannot_be_set() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("acl").send().await.unwrap();
    let owner_id = c
        .list_buckets()
        .send()
        .await
        .unwrap()
        .owner()
        .and_then(|o| o.id().map(str::to_owned))
        .unwrap();

    let acl = c.get_bucket_acl().bucket("acl").send().await.unwrap();
    assert_owner_full_control(acl.owner(), acl.grants(), &owner_id);

    // The object must exist.
    let e = c
        .get_object_acl()
        .bucket("acl")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchKey".into()), 404));
    c.put_object()
        .bucket("acl")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let acl = c
        .get_object_acl()
        .bucket("acl")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_owner_full_control(acl.owner(), acl.grants(), &owner_id);

    // Reading an ACL needs the same rights as other reads: not the owner, no policy.
    let bob = server.client(BOB);
    let e = bob.get_bucket_acl().bucket("acl").send().await.unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    let e = bob
        .get_object_acl()
        .bucket("acl")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    let e = c.get_bucket_acl().bucket("nope").send().await.unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchBucket".into()), 404));

    // Setting one is refused, whatever it says.
    let not_supported = (Some("AccessControlListNotSupported".to_owned()), 400);
    let e = c
        .put_bucket_acl()
        .bucket("acl")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), not_supported);
    let e = c
        .put_bucket_acl()
        .bucket("acl")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), not_supported);
    let e = c
        .put_object_acl()
        .bucket("acl")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), not_supported);
    {
        use aws_sdk_s3::error::ProvideErrorMetadata as _;
        assert_eq!(e.message(), Some("The bucket does not allow ACLs"));
    }
    let acl = c
        .get_object_acl()
        .bucket("acl")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_owner_full_control(acl.owner(), acl.grants(), &owner_id);
}

#[tokio::test]
async fn writes_accept_only_acls_that_give_the_owner_full_control() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("acl").send().await.unwrap();
    let owner_id = c
        .list_buckets()
        .send()
        .await
        .unwrap()
        .owner()
        .and_then(|o| o.id().map(str::to_owned))
        .unwrap();
    let not_supported = (Some("AccessControlListNotSupported".to_owned()), 400);

    // PutObject: bucket-owner-full-control, private (rclone's default) and a full-control
    // grant naming the owner are accepted; public-read is not, and stores nothing.
    for acl in [
        ObjectCannedAcl::BucketOwnerFullControl,
        ObjectCannedAcl::Private,
    ] {
        c.put_object()
            .bucket("acl")
            .key("ok")
            .acl(acl)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    c.put_object()
        .bucket("acl")
        .key("granted")
        .grant_full_control(format!("id=\"{owner_id}\""))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    for acl in [
        ObjectCannedAcl::PublicRead,
        ObjectCannedAcl::PublicReadWrite,
        ObjectCannedAcl::AuthenticatedRead,
    ] {
        let e = c
            .put_object()
            .bucket("acl")
            .key("public")
            .acl(acl)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e), not_supported);
    }
    let e = c
        .put_object()
        .bucket("acl")
        .key("public")
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), not_supported);
    let e = c
        .head_object()
        .bucket("acl")
        .key("public")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);

    // CopyObject and CreateMultipartUpload follow the same rule.
    c.copy_object()
        .bucket("acl")
        .key("copied")
        .copy_source("acl/ok")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .send()
        .await
        .unwrap();
    let e = c
        .copy_object()
        .bucket("acl")
        .key("copied-public")
        .copy_source("acl/ok")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), not_supported);
    let up = c
        .create_multipart_upload()
        .bucket("acl")
        .key("mp")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert!(up.upload_id().is_some());
    let e = c
        .create_multipart_upload()
        .bucket("acl")
        .key("mp-public")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), not_supported);

    // CreateBucket: private is accepted; any other ACL conflicts with BucketOwnerEnforced.
    c.create_bucket()
        .bucket("private-acl")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    let e = c
        .create_bucket()
        .bucket("public-acl")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        (Some("InvalidBucketAclWithObjectOwnership".into()), 400)
    );
    let e = c
        .head_bucket()
        .bucket("public-acl")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);
    c.create_bucket()
        .bucket("enforced")
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn object_ownership_is_bucket_owner_enforced() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("own").send().await.unwrap();
    let got = c
        .get_bucket_ownership_controls()
        .bucket("own")
        .send()
        .await
        .unwrap();
    let rules = got.ownership_controls().unwrap().rules();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].object_ownership(),
        &ObjectOwnership::BucketOwnerEnforced
    );

    let controls = |o: ObjectOwnership| {
        OwnershipControls::builder()
            .rules(
                OwnershipControlsRule::builder()
                    .object_ownership(o)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    c.put_bucket_ownership_controls()
        .bucket("own")
        .ownership_controls(controls(ObjectOwnership::BucketOwnerEnforced))
        .send()
        .await
        .unwrap();
    // Enabling ACLs is refused, never accepted and ignored.
    let e = c
        .put_bucket_ownership_controls()
        .bucket("own")
        .ownership_controls(controls(ObjectOwnership::ObjectWriter))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NotImplemented".into()), 501));
    let e = c
        .delete_bucket_ownership_controls()
        .bucket("own")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NotImplemented".into()), 501));
    let e = server
        .client(BOB)
        .get_bucket_ownership_controls()
        .bucket("own")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
}
