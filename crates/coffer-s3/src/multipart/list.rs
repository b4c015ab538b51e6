//! ListParts and ListMultipartUploads.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::checksum::{self};
use crate::error::OrS3;
use crate::object::timestamp;
use crate::service::CofferS3;

impl CofferS3 {
    pub(crate) async fn do_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        let (_, upload) = self
            .upload(
                &user,
                "s3:ListMultipartUploadParts",
                &input.bucket,
                &input.key,
                &input.upload_id,
            )
            .await?;
        let id = input.upload_id.clone();
        let parts = self.meta.list_parts(&id).await.or_s3()?;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let after: Vec<_> = parts
            .into_iter()
            .filter(|p| p.part.number > marker)
            .collect();
        let truncated = after.len() > max;
        let page: Vec<Part> = after
            .into_iter()
            .take(max)
            .map(|p| {
                let sums = checksum::to_dto(p.part.checksum.as_ref());
                Part {
                    e_tag: Some(ETag::Strong(p.part.md5_hex.clone())),
                    last_modified: Some(timestamp(p.last_modified_ms)),
                    part_number: Some(p.part.number as i32),
                    size: Some(p.part.size as i64),
                    checksum_crc32: sums.checksum_crc32,
                    checksum_crc32c: sums.checksum_crc32c,
                    checksum_crc64nvme: sums.checksum_crc64nvme,
                    checksum_sha1: sums.checksum_sha1,
                    checksum_sha256: sums.checksum_sha256,
                }
            })
            .collect();
        let owner = self.owner(&upload.initiator);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            is_truncated: Some(truncated),
            max_parts: Some(max as i32),
            part_number_marker: Some(marker as i32),
            next_part_number_marker: page.last().and_then(|p| p.part_number),
            initiator: Some(Initiator {
                display_name: owner.display_name.clone(),
                id: owner.id.clone(),
            }),
            owner: Some(owner),
            storage_class: Some(StorageClass::from("STANDARD".to_owned())),
            checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
            checksum_type: upload.checksum_type.map(ChecksumType::from),
            parts: Some(page),
            ..Default::default()
        }))
    }

    pub(crate) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        self.bucket_for(&user, &input.bucket, "s3:ListBucketMultipartUploads", None)
            .await?;
        let bucket = input.bucket.clone();
        let uploads = self.meta.list_uploads(&bucket).await.or_s3()?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let id_marker = input.upload_id_marker.clone().unwrap_or_default();
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let mut page = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        // The last entry shown, upload or common prefix: where the next page resumes.
        let mut last: Option<(String, Option<String>)> = None;
        for u in uploads.into_iter().filter(|u| u.key.starts_with(&prefix)) {
            let past_marker = key_marker.is_empty()
                || u.key > key_marker
                || (u.key == key_marker && !id_marker.is_empty() && u.upload_id > id_marker);
            if !past_marker {
                continue;
            }
            let cp = delimiter.as_deref().and_then(|d| {
                u.key[prefix.len()..]
                    .find(d)
                    .map(|i| u.key[..prefix.len() + i + d.len()].to_owned())
            });
            if cp.is_some() && (prefixes.last() == cp.as_ref() || cp.as_ref() == Some(&key_marker))
            {
                continue;
            }
            if page.len() + prefixes.len() == max {
                truncated = true;
                break;
            }
            match cp {
                Some(cp) => {
                    last = Some((cp.clone(), None));
                    prefixes.push(cp);
                }
                None => {
                    last = Some((u.key.clone(), Some(u.upload_id.clone())));
                    page.push(u);
                }
            }
        }
        let enc = |s: String| match input.encoding_type.as_ref().map(|e| e.as_str()) {
            Some("url") => crate::object::url_encode(&s),
            _ => s,
        };
        let (next_key_marker, next_upload_id_marker) = match (truncated, last) {
            (true, Some((k, id))) => (Some(enc(k)), id),
            _ => (None, None),
        };
        let uploads = page
            .into_iter()
            .map(|u| {
                let owner = self.owner(&u.initiator);
                MultipartUpload {
                    initiated: Some(timestamp(u.initiated_ms)),
                    initiator: Some(Initiator {
                        display_name: owner.display_name.clone(),
                        id: owner.id.clone(),
                    }),
                    key: Some(enc(u.key)),
                    owner: Some(owner),
                    storage_class: Some(StorageClass::from("STANDARD".to_owned())),
                    upload_id: Some(u.upload_id),
                    checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
                    checksum_type: u.checksum_type.map(ChecksumType::from),
                }
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix.map(enc),
            delimiter: input.delimiter.map(enc),
            key_marker: input.key_marker.map(enc),
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker,
            next_upload_id_marker,
            uploads: Some(uploads),
            common_prefixes: Some(
                prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc(p)),
                    })
                    .collect(),
            ),
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }
}
