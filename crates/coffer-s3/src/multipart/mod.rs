//! Multipart uploads: CreateMultipartUpload (`create`), UploadPart and UploadPartCopy
//! (`part`), CompleteMultipartUpload (`complete`), AbortMultipartUpload (`abort`), and
//! ListParts and ListMultipartUploads (`list`). What they share lives here: part-number
//! limits, finding an upload the caller may use, and whether its ETags are opaque.

mod abort;
mod complete;
mod create;
mod list;
mod part;

use coffer_store::{BucketRecord, EncryptionRecord, UploadRecord};
use s3s::{S3Result, s3_error};

use crate::error::OrS3;
use crate::service::CofferS3;

/// Every part but the last must be at least this large, as on S3.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
const MAX_PART_NUMBER: i32 = 10_000;

fn check_part_number(n: i32) -> S3Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n as u32)
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

fn no_such_upload() -> s3s::S3Error {
    crate::error::store_error(coffer_store::StoreError::NoSuchUpload)
}

/// Whether an upload's parts get opaque ETags: all but SSE-S3's (SPEC §3.1).
fn opaque_etags(upload: &UploadRecord) -> bool {
    upload
        .template
        .encryption
        .as_ref()
        .is_some_and(EncryptionRecord::has_opaque_etags)
}

impl CofferS3 {
    /// An upload of this bucket and key the caller may use, with its bucket.
    async fn upload(
        &self,
        user: &crate::requester::Requester,
        action: &str,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> S3Result<(BucketRecord, UploadRecord)> {
        let bucket_record = self.bucket_for(user, bucket, action, Some(key)).await?;
        let id = upload_id.to_owned();
        let upload = self
            .meta
            .get_upload(&id)
            .await
            .or_s3()?
            .ok_or_else(no_such_upload)?;
        if upload.bucket != bucket || upload.key != key {
            return Err(no_such_upload());
        }
        Ok((bucket_record, upload))
    }
}
