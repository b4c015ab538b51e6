//! Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy,
//! GetBucketPolicyStatus, and the check every request passes before anything else is
//! validated (SPEC.md §4.5): an explicit Deny wins, then an Allow, else the owner's rights,
//! else AccessDenied. Other users reach a bucket only where its policy lets them.

use std::sync::Arc;

use coffer_policy::{Decision, Policy, Request};
use coffer_store::{BucketRecord, KmsRecordSnapshot};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::error::{OrS3, access_denied};
use crate::requester::Requester;
use crate::service::CofferS3;

/// Parsed bucket policies by their text, so a request does not parse its bucket's policy
/// again: the one cache type KMS key policies use too.
pub(crate) use coffer_policy::PolicyCache;

/// Largest policy S3 accepts.
const MAX_POLICY: usize = 20 * 1024;

fn malformed(message: impl std::fmt::Display) -> s3s::S3Error {
    s3_error!(MalformedPolicy, "{}", message)
}

/// A policy's statements: `Statement` is one object or a list.
fn statements(doc: &serde_json::Value) -> Vec<serde_json::Value> {
    match &doc["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

fn no_such_policy() -> s3s::S3Error {
    crate::error::custom(
        "NoSuchBucketPolicy",
        http::StatusCode::NOT_FOUND,
        "The bucket policy does not exist",
    )
}

/// Only the owner manages the policy (others could lock the owner out).
fn owner_only(record: &BucketRecord, who: &Requester) -> S3Result<()> {
    if record.owner == who.name {
        Ok(())
    } else {
        Err(access_denied())
    }
}

/// A policy must parse, and every resource it names must be this bucket or its objects.
fn validate(text: &str, bucket: &str) -> S3Result<()> {
    if text.len() > MAX_POLICY {
        return Err(malformed("Policies must be less than 20 KB"));
    }
    Policy::parse(text).map_err(malformed)?;
    let doc: serde_json::Value = serde_json::from_str(text).map_err(malformed)?;
    let statements = statements(&doc);
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    for s in &statements {
        for member in ["Resource", "NotResource"] {
            let resources = match &s[member] {
                serde_json::Value::String(r) => vec![r.clone()],
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect(),
                _ => continue,
            };
            for r in resources {
                let ours = r == bucket_arn
                    || r.strip_prefix(&bucket_arn)
                        .is_some_and(|rest| rest.starts_with('/'));
                if !ours {
                    return Err(malformed(format!(
                        "Policy has invalid resource: {r} is not this bucket or its objects"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A bucket read from the store, or S3's answer when there is none.
pub(crate) fn found_bucket(record: Option<BucketRecord>) -> S3Result<BucketRecord> {
    record.ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist"))
}

impl CofferS3 {
    /// Loads `bucket` for `action` by `who` on `key` (or the bucket itself): NoSuchBucket if
    /// it does not exist; AccessDenied if the bucket's policy denies, or neither the policy
    /// allows nor `who` owns the bucket.
    pub(crate) async fn bucket_for(
        &self,
        who: &Requester,
        bucket: &str,
        action: &str,
        key: Option<&str>,
    ) -> S3Result<BucketRecord> {
        let record = self.load_bucket(bucket).await?;
        self.authorized(who, record, action, key)
    }

    /// `record`, if `who` may do `action` on `key` in it (see [`CofferS3::may`]).
    pub(crate) fn authorized(
        &self,
        who: &Requester,
        record: BucketRecord,
        action: &str,
        key: Option<&str>,
    ) -> S3Result<BucketRecord> {
        if self.may(who, &record, action, key) {
            Ok(record)
        } else {
            Err(access_denied())
        }
    }

    /// [`CofferS3::bucket_for_write`] for a PUT. When it asks for SSE-KMS under the key
    /// whose record is `kms_id`, that record is read with the bucket (one round trip over a
    /// network database) and handed to the KMS, which then need not read it again.
    pub(crate) async fn bucket_and_key_for(
        &self,
        who: &Requester,
        bucket: &str,
        action: &str,
        key: Option<&str>,
        kms_id: Option<String>,
    ) -> S3Result<(BucketRecord, Option<Arc<KmsRecordSnapshot>>)> {
        let Some(kms_id) = kms_id else {
            let record = self.bucket_for_write(who, bucket, action, key).await?;
            return Ok((record, None));
        };
        let (record, key_read) = self
            .meta
            .get_bucket_and_kms_record(bucket, &kms_id)
            .await
            .or_s3()?;
        let record = self.authorized(who, found_bucket(record)?, action, key)?;
        Ok((record, key_read.map(Arc::new)))
    }

    /// Loads `bucket` for a request that checks each key itself (DeleteObjects): only a
    /// caller with no possible right at all (not the owner, no policy) is refused here.
    pub(crate) async fn bucket_for_any_key(
        &self,
        who: &Requester,
        bucket: &str,
    ) -> S3Result<BucketRecord> {
        let record = self.load_bucket(bucket).await?;
        if record.owner == who.name || record.policy.is_some() {
            Ok(record)
        } else {
            Err(access_denied())
        }
    }

    pub(crate) async fn load_bucket(&self, bucket: &str) -> S3Result<BucketRecord> {
        let name = bucket.to_owned();
        found_bucket(self.meta.get_bucket(&name).await.or_s3()?)
    }

    /// Whether `who` may do `action` on `key` (or the bucket): an explicit Deny in the
    /// policy wins, then an Allow, then ownership.
    pub(crate) fn may(
        &self,
        who: &Requester,
        record: &BucketRecord,
        action: &str,
        key: Option<&str>,
    ) -> bool {
        let owner = record.owner == who.name;
        // A stored policy was validated when it was put; one that no longer parses grants
        // nothing and leaves the owner's rights.
        let Some(policy) = (record.policy.as_deref()).and_then(|t| self.policies.get(t).ok())
        else {
            return owner;
        };
        let bucket = &record.name;
        let resource = match key {
            Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
            None => format!("arn:aws:s3:::{bucket}"),
        };
        let mut context = who.context.clone();
        self.add_kms_key_condition(&mut context, record, who);
        let decision = policy.evaluate(&Request {
            principal_arn: &self.user_arn(who),
            // The account principal (`arn:aws:iam::ACCT:root`) delegates to the account's
            // own permissions, which here are its admins' (as in key policies); a policy that
            // means everyone says `*`.
            account_principal: who.admin.then_some(self.identity.account_id.as_str()),
            action,
            resource: &resource,
            context: &context,
        });
        match decision {
            Decision::ExplicitDeny => false,
            Decision::Allow => true,
            Decision::NotApplicable => owner,
        }
    }

    /// `s3:x-amz-server-side-encryption-aws-kms-key-id` is compared as a key ARN, the key S3
    /// will actually use (SPEC.md §4.5): the header's key, else the bucket default's, else
    /// `aws/s3`.
    fn add_kms_key_condition(
        &self,
        context: &mut std::collections::BTreeMap<String, Vec<String>>,
        bucket: &BucketRecord,
        who: &Requester,
    ) {
        const SSE: &str = "s3:x-amz-server-side-encryption";
        const KMS_KEY: &str = "s3:x-amz-server-side-encryption-aws-kms-key-id";
        let sse = context.get(SSE).and_then(|v| v.first()).cloned();
        let default_kms = bucket
            .encryption
            .as_ref()
            .filter(|e| e.algorithm == crate::sse::encryption::SSE_KMS);
        let uses_kms = match sse.as_deref() {
            Some(crate::sse::encryption::SSE_KMS) => true,
            None => default_kms.is_some(),
            Some(_) => false,
        };
        let Some(kms) = self.kms.as_ref().filter(|_| uses_kms) else {
            return;
        };
        let named = context
            .get(KMS_KEY)
            .and_then(|v| v.first())
            .cloned()
            .or_else(|| default_kms.and_then(|e| e.kms_key_id.clone()));
        if let Ok(arn) = kms.key_arn_for_s3(&self.kms_caller(who), named.as_deref()) {
            context.insert(KMS_KEY.to_owned(), vec![arn]);
        }
    }

    pub(crate) async fn do_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let who = self.requester(&req)?;
        let input = req.input;
        let record = self
            .bucket_for(&who, &input.bucket, "s3:PutBucketPolicy", None)
            .await?;
        owner_only(&record, &who)?;
        validate(&input.policy, &input.bucket)?;
        let (name, policy) = (input.bucket, input.policy);
        self.meta
            .set_bucket_policy(&name, Some(policy))
            .await
            .or_s3()?;
        Ok(S3Response::with_status(
            PutBucketPolicyOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(crate) async fn do_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let who = self.requester(&req)?;
        let record = self
            .bucket_for(&who, &req.input.bucket, "s3:GetBucketPolicy", None)
            .await?;
        let policy = record.policy.ok_or_else(no_such_policy)?;
        Ok(S3Response::new(GetBucketPolicyOutput {
            policy: Some(policy),
        }))
    }

    pub(crate) async fn do_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let who = self.requester(&req)?;
        let record = self
            .bucket_for(&who, &req.input.bucket, "s3:DeleteBucketPolicy", None)
            .await?;
        owner_only(&record, &who)?;
        let name = req.input.bucket;
        self.meta.set_bucket_policy(&name, None).await.or_s3()?;
        Ok(S3Response::with_status(
            DeleteBucketPolicyOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    /// A policy is public when an Allow grants everyone (`"*"`) without a condition.
    pub(crate) async fn do_get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let who = self.requester(&req)?;
        let record = self
            .bucket_for(&who, &req.input.bucket, "s3:GetBucketPolicyStatus", None)
            .await?;
        let text = record.policy.ok_or_else(no_such_policy)?;
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let statements = statements(&doc);
        let everyone = |p: &serde_json::Value| {
            p == "*"
                || p["AWS"] == "*"
                || p["AWS"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "*"))
        };
        let public = statements.iter().any(|s| {
            s["Effect"] == "Allow" && everyone(&s["Principal"]) && s["Condition"].is_null()
        });
        Ok(S3Response::new(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus {
                is_public: Some(public),
            }),
        }))
    }
}
