//! AbortMultipartUpload: the upload and its parts' blobs are released.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::error::OrS3;
use crate::service::CofferS3;

impl CofferS3 {
    pub(crate) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        self.upload(
            &user,
            "s3:AbortMultipartUpload",
            &input.bucket,
            &input.key,
            &input.upload_id,
        )
        .await?;
        let id = input.upload_id;
        let freed = self.meta.abort_upload(&id).await.or_s3()?;
        self.release_blobs(freed);
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}
