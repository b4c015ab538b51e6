//! `CofferS3`: the S3 service itself, holding what every handler needs (the metadata and
//! blob stores, the keyring, the KMS, the policy cache) and the `s3s::S3` trait that
//! dispatches each verb to its handler module.

use std::sync::Arc;

use coffer_kms::MasterKeyring;
use coffer_store::{BlobId, BlobStore, MetaStore};
use s3s::{S3Request, S3Result};

use crate::auth::{User, UserDirectory};
use crate::error::access_denied;
use crate::options::ServerOptions;
use crate::requester::Requester;

/// Who this server is: the account and region it reports.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    pub account_id: String,
    pub region: String,
}

/// The S3 service. Cheap to clone; all state is shared.
#[derive(Clone)]
pub struct CofferS3 {
    pub(crate) meta: Arc<dyn MetaStore>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) users: Arc<UserDirectory>,
    pub(crate) identity: Arc<ServerIdentity>,
    pub(crate) keyring: Arc<MasterKeyring>,
    pub(crate) options: Arc<ServerOptions>,
    /// The KMS SSE-KMS asks for data keys; without one, SSE-KMS is refused.
    pub(crate) kms: Option<Arc<dyn coffer_kms::Kms>>,
    pub(crate) bucket_keys: Arc<crate::sse::bucket_keys::BucketKeys>,
    /// Where S3 data events go, when the operator enabled them.
    pub(crate) data_events: Option<Arc<coffer_audit::AuditLog>>,
    pub(crate) policies: Arc<crate::bucket_policy::PolicyCache>,
}

impl CofferS3 {
    pub fn new(
        meta: Arc<dyn MetaStore>,
        blobs: Arc<dyn BlobStore>,
        users: Arc<UserDirectory>,
        identity: ServerIdentity,
        keyring: Arc<MasterKeyring>,
    ) -> Self {
        Self {
            meta,
            blobs,
            users,
            identity: Arc::new(identity),
            keyring,
            options: Arc::new(ServerOptions::default()),
            kms: None,
            bucket_keys: Arc::default(),
            data_events: None,
            policies: Arc::default(),
        }
    }

    /// The same service calling `kms` for SSE-KMS.
    pub fn with_kms(mut self, kms: Arc<dyn coffer_kms::Kms>) -> Self {
        self.kms = Some(Arc::new(crate::sse::sse_kms::OffRuntime(kms)));
        self
    }

    /// The same service keeping parsed bucket policies in `cache` (the process's one cache of
    /// parsed policies, which the KMS's key policies share).
    pub fn with_policy_cache(mut self, cache: Arc<coffer_policy::PolicyCache>) -> Self {
        self.policies = cache;
        self
    }

    /// The same service with the operator's options.
    pub fn with_options(mut self, options: ServerOptions) -> Self {
        self.options = Arc::new(options);
        self
    }

    /// The IAM ARN of a user, as policies and error messages name it.
    pub(crate) fn user_arn(&self, user: &User) -> String {
        format!(
            "arn:aws:iam::{}:user/{}",
            self.identity.account_id, user.name
        )
    }

    /// The signed-in user. `s3s` has already verified the signature, so a request that gets
    /// here without a known user is a bug on our side, reported as AccessDenied.
    pub(crate) fn caller<T>(&self, req: &S3Request<T>) -> S3Result<User> {
        // The signature was computed for the region in its scope; one meant for another
        // region is refused as S3 refuses it.
        if let Some(region) = &req.region
            && region.as_str() != self.identity.region
        {
            return Err(s3s::s3_error!(
                AuthorizationHeaderMalformed,
                "The authorization header is malformed; the region '{}' is wrong; expecting '{}'",
                region.as_str(),
                self.identity.region
            ));
        }
        req.credentials
            .as_ref()
            .and_then(|c| self.users.by_access_key(&c.access_key))
            .cloned()
            .ok_or_else(access_denied)
    }

    /// The signed-in user with the request's policy context.
    pub(crate) fn requester<T>(&self, req: &S3Request<T>) -> S3Result<Requester> {
        let user = self.caller(req)?;
        let arn = self.user_arn(&user);
        Ok(Requester::new(user, arn, req))
    }

    /// Deletes blobs a committed change released, in the background: the change is already
    /// durable, and unlinking a large file must not hold up the answer. Failures only leave
    /// orphans, which the start-up collection removes, so they are logged, not returned.
    pub(crate) fn release_blobs(&self, freed: Vec<BlobId>) {
        if freed.is_empty() {
            return;
        }
        let blobs = self.blobs.clone();
        let delay = self.options.blob_release_delay;
        tokio::spawn(async move {
            // A restart meanwhile leaves them to garbage collection: no record names them.
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            for id in freed {
                if let Err(e) = blobs.delete(&id).await {
                    tracing::warn!(blob = %id, error = %e, "could not delete released blob");
                }
            }
        });
    }

    /// Runs a store call to completion from a blocking thread (the admin chores: rekey,
    /// scrub), which has no `.await` of its own.
    pub(crate) fn wait<F: std::future::Future>(&self, f: F) -> F::Output {
        tokio::runtime::Handle::current().block_on(f)
    }

    /// Canonical user id S3 reports for a user: stable, opaque, 64 hex digits.
    pub(crate) fn canonical_id(&self, user_name: &str) -> String {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{}:{}", self.identity.account_id, user_name).as_bytes(),
        );
        hex::encode(digest.as_ref())
    }

    pub(crate) fn owner(&self, user_name: &str) -> s3s::dto::Owner {
        s3s::dto::Owner {
            display_name: Some(user_name.to_owned()),
            id: Some(self.canonical_id(user_name)),
        }
    }
}
