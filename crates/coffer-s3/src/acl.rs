//! ACLs as S3 has them on a bucket whose Object Ownership is "bucket owner enforced", the
//! default for every new bucket since April 2023 and the only setting here: ACLs are
//! disabled, the bucket owner owns every object, and access is granted by policies alone.
//!
//! Reading an ACL works and always shows the bucket owner with FULL_CONTROL. Setting one
//! fails with 400 `AccessControlListNotSupported`. A write that names an ACL is accepted
//! only when that ACL gives the bucket owner full control and nobody else anything
//! (`bucket-owner-full-control`, `private`, or a full-control grant naming the owner), and
//! changes nothing. See <https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-ownership-error-responses.html>.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::error::no_such_key;
use crate::service::CofferS3;

fn acl_not_supported() -> S3Error {
    s3_error!(
        AccessControlListNotSupported,
        "The bucket does not allow ACLs"
    )
}

/// The grant headers a write may carry besides `x-amz-acl`.
#[derive(Default)]
pub(crate) struct GrantHeaders<'a> {
    pub full_control: Option<&'a str>,
    pub read: Option<&'a str>,
    pub read_acp: Option<&'a str>,
    pub write: Option<&'a str>,
    pub write_acp: Option<&'a str>,
}

/// The grant headers of the writes that take them (none of them has `x-amz-grant-write`).
macro_rules! grant_headers_of {
    ($($input:ty),*) => {$(
        impl<'a> From<&'a $input> for GrantHeaders<'a> {
            fn from(i: &'a $input) -> Self {
                GrantHeaders {
                    full_control: i.grant_full_control.as_deref(),
                    read: i.grant_read.as_deref(),
                    read_acp: i.grant_read_acp.as_deref(),
                    write: None,
                    write_acp: i.grant_write_acp.as_deref(),
                }
            }
        }
    )*};
}
grant_headers_of!(PutObjectInput, CopyObjectInput, CreateMultipartUploadInput);

impl GrantHeaders<'_> {
    fn any(&self) -> bool {
        self.full_control.is_some()
            || self.read.is_some()
            || self.read_acp.is_some()
            || self.write.is_some()
            || self.write_acp.is_some()
    }

    /// Whether these grants give full control to `owner_id` (a canonical user id) and to
    /// nobody else, and nothing more: what the bucket's disabled ACLs already mean.
    fn only_owner_full_control(&self, owner_id: &str) -> bool {
        if self.read.is_some()
            || self.read_acp.is_some()
            || self.write.is_some()
            || self.write_acp.is_some()
        {
            return false;
        }
        let Some(list) = self.full_control else {
            return false;
        };
        // `id="<canonical id>"`, comma-separated; the quotes are optional.
        list.split(',').all(|grantee| {
            let Some((kind, value)) = grantee.trim().split_once('=') else {
                return false;
            };
            kind.trim().eq_ignore_ascii_case("id") && value.trim().trim_matches('"') == owner_id
        })
    }
}

impl CofferS3 {
    /// The ACL a write (PutObject, POST, CopyObject, CreateMultipartUpload) names: none,
    /// `bucket-owner-full-control`, `private` or an equivalent grant are accepted and change
    /// nothing; anything else is `AccessControlListNotSupported`.
    pub(crate) fn check_object_acl(
        &self,
        bucket_owner: &str,
        canned: Option<&ObjectCannedACL>,
        grants: GrantHeaders<'_>,
    ) -> S3Result<()> {
        if canned.is_some() && grants.any() {
            return Err(s3_error!(
                InvalidRequest,
                "Specifying both Canned ACLs and Header Grants is not allowed"
            ));
        }
        if let Some(acl) = canned {
            return match acl.as_str() {
                ObjectCannedACL::BUCKET_OWNER_FULL_CONTROL | ObjectCannedACL::PRIVATE => Ok(()),
                _ => Err(acl_not_supported()),
            };
        }
        if !grants.any() || grants.only_owner_full_control(&self.canonical_id(bucket_owner)) {
            Ok(())
        } else {
            Err(acl_not_supported())
        }
    }

    /// CreateBucket: the bucket is created with ACLs disabled, so only `private` (or a
    /// full-control grant to its creator) may come with it; any other ACL is
    /// `InvalidBucketAclWithObjectOwnership`. Object Ownership other than
    /// BucketOwnerEnforced would enable ACLs, which this server does not have.
    pub(crate) fn check_new_bucket_acl(
        &self,
        creator: &str,
        input: &CreateBucketInput,
    ) -> S3Result<()> {
        if let Some(o) = &input.object_ownership
            && o.as_str() != ObjectOwnership::BUCKET_OWNER_ENFORCED
        {
            return Err(s3_error!(
                NotImplemented,
                "Only the BucketOwnerEnforced Object Ownership setting is supported: this server has no ACLs"
            ));
        }
        let grants = GrantHeaders {
            full_control: input.grant_full_control.as_deref(),
            read: input.grant_read.as_deref(),
            read_acp: input.grant_read_acp.as_deref(),
            write: input.grant_write.as_deref(),
            write_acp: input.grant_write_acp.as_deref(),
        };
        if input.acl.is_some() && grants.any() {
            return Err(s3_error!(
                InvalidRequest,
                "Specifying both Canned ACLs and Header Grants is not allowed"
            ));
        }
        let ok = match &input.acl {
            Some(acl) => acl.as_str() == BucketCannedACL::PRIVATE,
            None => !grants.any() || grants.only_owner_full_control(&self.canonical_id(creator)),
        };
        if ok {
            Ok(())
        } else {
            Err(s3_error!(
                InvalidBucketAclWithObjectOwnership,
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
            ))
        }
    }

    /// The ACL every bucket and object has here: its bucket's owner, with full control.
    fn owner_acl(&self, owner: &str) -> (Owner, Grants) {
        let owner = self.owner(owner);
        let grant = Grant {
            grantee: Some(Grantee {
                display_name: owner.display_name.clone(),
                email_address: None,
                id: owner.id.clone(),
                type_: Type::from_static(Type::CANONICAL_USER),
                uri: None,
            }),
            permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
        };
        (owner, vec![grant])
    }

    pub(crate) async fn do_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let user = self.requester(&req)?;
        let record = self
            .bucket_for(&user, &req.input.bucket, "s3:GetBucketAcl", None)
            .await?;
        let (owner, grants) = self.owner_acl(&record.owner);
        Ok(S3Response::new(GetBucketAclOutput {
            owner: Some(owner),
            grants: Some(grants),
        }))
    }

    pub(crate) async fn do_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        let record = self
            .bucket_for(&user, &input.bucket, "s3:GetObjectAcl", Some(&input.key))
            .await?;
        if input.version_id.as_deref().is_some_and(|v| v != "null") {
            return Err(s3_error!(InvalidArgument, "Invalid version id specified"));
        }
        self.load_object(&input.bucket, &input.key)
            .await?
            .ok_or_else(no_such_key)?;
        let (owner, grants) = self.owner_acl(&record.owner);
        Ok(S3Response::new(GetObjectAclOutput {
            owner: Some(owner),
            grants: Some(grants),
            request_charged: None,
        }))
    }

    pub(crate) async fn do_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let user = self.requester(&req)?;
        self.bucket_for(&user, &req.input.bucket, "s3:PutBucketAcl", None)
            .await?;
        Err(acl_not_supported())
    }

    pub(crate) async fn do_put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let user = self.requester(&req)?;
        self.bucket_for(
            &user,
            &req.input.bucket,
            "s3:PutObjectAcl",
            Some(&req.input.key),
        )
        .await?;
        Err(acl_not_supported())
    }

    pub(crate) async fn do_get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        let user = self.requester(&req)?;
        self.bucket_for(
            &user,
            &req.input.bucket,
            "s3:GetBucketOwnershipControls",
            None,
        )
        .await?;
        Ok(S3Response::new(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ObjectOwnership::from_static(
                        ObjectOwnership::BUCKET_OWNER_ENFORCED,
                    ),
                }],
            }),
        }))
    }

    /// Setting BucketOwnerEnforced is accepted (it is already so); the other settings
    /// enable ACLs, which this server does not have, so they are refused, never accepted
    /// and ignored.
    pub(crate) async fn do_put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let user = self.requester(&req)?;
        self.bucket_for(
            &user,
            &req.input.bucket,
            "s3:PutBucketOwnershipControls",
            None,
        )
        .await?;
        let rules = &req.input.ownership_controls.rules;
        if rules.len() != 1 {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        if rules[0].object_ownership.as_str() != ObjectOwnership::BUCKET_OWNER_ENFORCED {
            return Err(s3_error!(
                NotImplemented,
                "Only the BucketOwnerEnforced Object Ownership setting is supported: this server has no ACLs"
            ));
        }
        Ok(S3Response::new(PutBucketOwnershipControlsOutput::default()))
    }

    /// Deleting the controls makes an S3 bucket ObjectWriter (ACLs enabled); this server has
    /// no ACLs, so the request is refused rather than answered and ignored.
    pub(crate) async fn do_delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        let user = self.requester(&req)?;
        self.bucket_for(
            &user,
            &req.input.bucket,
            "s3:PutBucketOwnershipControls",
            None,
        )
        .await?;
        Err(s3_error!(
            NotImplemented,
            "Only the BucketOwnerEnforced Object Ownership setting is supported: this server has no ACLs"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_control_grant_to_the_owner_alone_is_what_disabled_acls_mean() {
        fn g(full: &str) -> GrantHeaders<'_> {
            GrantHeaders {
                full_control: Some(full),
                ..Default::default()
            }
        }
        assert!(g(r#"id="abc""#).only_owner_full_control("abc"));
        assert!(g(r#"id=abc, ID="abc""#).only_owner_full_control("abc"));
        assert!(!g(r#"id="abc", id="def""#).only_owner_full_control("abc"));
        assert!(!g(r#"emailAddress="a@b.c""#).only_owner_full_control("abc"));
        assert!(
            !g(r#"uri="http://acs.amazonaws.com/groups/global/AllUsers""#)
                .only_owner_full_control("abc")
        );
        let with_read = GrantHeaders {
            full_control: Some(r#"id="abc""#),
            read: Some(r#"id="abc""#),
            ..Default::default()
        };
        assert!(!with_read.only_owner_full_control("abc"));
    }
}
