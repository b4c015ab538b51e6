//! Who is asking, and what bucket policies may condition on: the signed-in user plus the
//! request's condition keys (SPEC.md §4.5), gathered before the request's input is consumed
//! so a policy is checked before any header is validated.

use std::collections::BTreeMap;
use std::ops::Deref;

use s3s::S3Request;

use crate::auth::User;

/// The user behind a request, with the policy context of that request.
#[derive(Debug, Clone)]
pub(crate) struct Requester {
    pub user: User,
    /// Condition keys (lower-case names) and their values.
    pub context: BTreeMap<String, Vec<String>>,
}

impl Deref for Requester {
    type Target = User;
    fn deref(&self) -> &User {
        &self.user
    }
}

/// Request headers bucket policies may name (`s3:<header>`).
const CONDITION_HEADERS: &[&str] = &[
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-acl",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-storage-class",
];

impl Requester {
    pub(crate) fn new<T>(user: User, user_arn: String, req: &S3Request<T>) -> Self {
        let mut context: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            context.insert(k.to_owned(), vec![v]);
        };
        for h in CONDITION_HEADERS {
            // An empty header is no header, as s3s reads it.
            if let Some(v) = req
                .headers
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
            {
                set(&format!("s3:{h}"), v.to_owned());
            }
        }
        let transport = req.extensions.get::<crate::Transport>();
        set(
            "aws:securetransport",
            transport.is_some_and(|t| t.secure).to_string(),
        );
        if let Some(t) = transport {
            set("aws:sourceip", t.peer.ip().to_string());
        }
        set("aws:principalarn", user_arn.clone());
        set("aws:userid", user.name.clone());
        set("aws:username", user.name.clone());
        set("aws:principaltype", "User".to_owned());
        let now = time::OffsetDateTime::now_utc();
        set(
            "aws:currenttime",
            now.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        );
        set("aws:epochtime", now.unix_timestamp().to_string());
        if let Some(c) = &req.credentials {
            set("s3:signatureversion", "AWS4-HMAC-SHA256".to_owned());
            set("aws:accesskey", c.access_key.clone());
        }
        Self { user, context }
    }

    /// The same requester with the encryption a write asks for as `s3s` parsed it: for a
    /// browser POST these come from form fields, not headers.
    pub(crate) fn with_encryption(
        self,
        sse: Option<&str>,
        kms_key: Option<&str>,
        customer_algorithm: Option<&str>,
    ) -> Self {
        self.adding("s3:x-amz-server-side-encryption", sse)
            .adding("s3:x-amz-server-side-encryption-aws-kms-key-id", kms_key)
            .adding(
                "s3:x-amz-server-side-encryption-customer-algorithm",
                customer_algorithm,
            )
    }

    /// The same requester with one more condition key (e.g. `s3:prefix` of a listing).
    pub(crate) fn with(&self, key: &str, value: Option<&str>) -> Self {
        self.clone().adding(key, value)
    }

    fn adding(mut self, key: &str, value: Option<&str>) -> Self {
        if let Some(v) = value {
            self.context
                .insert(key.to_ascii_lowercase(), vec![v.to_owned()]);
        }
        self
    }
}
