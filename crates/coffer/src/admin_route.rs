//! The admin API of a running server: `POST /` with an `x-coffer-admin` header, SigV4-signed
//! by an admin user of the configuration. `coffer admin` uses it when a server holds the
//! data directory (the embedded database admits one process).

use std::sync::Arc;

use bytes::Bytes;
use coffer_s3::UserDirectory;
use http_body_util::BodyExt;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};

use crate::admin_ops::{self, ADMIN_HEADER, AdminTarget};

pub struct AdminRoute {
    pub target: AdminTarget,
    pub users: Arc<UserDirectory>,
}

impl AdminRoute {
    /// Only admin users of the configuration may call it.
    pub async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let admin = req
            .credentials
            .as_ref()
            .and_then(|c| self.users.by_access_key(&c.access_key))
            .is_some_and(|u| u.admin);
        if admin {
            Ok(())
        } else {
            Err(s3_error!(AccessDenied, "Access Denied"))
        }
    }

    pub async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let op = req
            .headers
            .get(ADMIN_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Bytes = req
            .input
            .collect()
            .await
            .map_err(|_| s3_error!(IncompleteBody))?
            .to_bytes();
        let args: serde_json::Value = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&body)
                .map_err(|_| s3_error!(InvalidRequest, "the admin request body is not JSON"))?
        };
        let target = self.target.clone();
        let result = tokio::task::spawn_blocking(move || admin_ops::run(&target, &op, &args))
            .await
            .map_err(|e| s3_error!(InternalError, "{e}"))?;
        match result {
            Ok(v) => Ok(S3Response::new(Body::from(v.to_string()))),
            Err(m) => Err(s3_error!(InvalidRequest, "{m}")),
        }
    }
}
