//! Multipart uploads, completed and aborted.

use super::*;

impl Worker<'_> {
    /// Create, 2-3 parts uploaded in random order, complete.
    pub(super) async fn multipart(&mut self, slot: usize) -> Outcome {
        let mode = self.mode();
        let parts = self.rng.between(2, 3);
        let last = self.rng.between(1, MIB);
        let content = Content {
            seed: self.rng.next_u64(),
            size: (parts - 1) * MIN_PART + last,
        };
        let key = self.key(slot);
        let upload_id = self.create_upload(&key, mode).await?;
        let mut order: Vec<u64> = (1..=parts).collect();
        self.rng.shuffle(&mut order);
        let mut completed = Vec::new();
        let mut part_md5s = Vec::new();
        for &number in &order {
            let start = (number - 1) * MIN_PART;
            let end = (start + MIN_PART).min(content.size);
            let body = content.range(start, end);
            part_md5s.push((number, Md5::digest(&body).to_vec()));
            match self.upload_part(&key, &upload_id, mode, number, body).await {
                Ok(etag) => completed.push(
                    CompletedPart::builder()
                        .part_number(number as i32)
                        .e_tag(etag)
                        .build(),
                ),
                Err(failure) => {
                    self.abort_quietly(&key, &upload_id).await;
                    return Err(failure);
                }
            }
        }
        completed.sort_by_key(|p| p.part_number());
        let req = self
            .shared
            .client
            .complete_multipart_upload()
            .bucket(&self.shared.bucket)
            .key(&key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            );
        self.slots[slot] = Slot::Unknown;
        let out = match within(req.send()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                self.abort_quietly(&key, &upload_id).await;
                return Err(Failure::from_sdk("CompleteMultipartUpload", &e));
            }
            Err(failure) => {
                self.abort_quietly(&key, &upload_id).await;
                return Err(failure);
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        self.slots[slot] = Slot::Stored(Stored {
            content,
            mode,
            etag: etag.clone(),
        });
        let echo = mode::complete_echo(&out, mode, self.keys());
        mode::check_echo("CompleteMultipartUpload", mode, echo, self.keys())
            .map_err(Failure::Mismatch)?;
        if mode.etag_is_md5() {
            part_md5s.sort();
            let mut all = Md5::new();
            for (_, md5) in &part_md5s {
                all.update(md5);
            }
            let want = format!("\"{}-{parts}\"", hex(&all.finalize()));
            if etag != want {
                return Err(Failure::Mismatch(format!(
                    "CompleteMultipartUpload {key}: ETag {etag}, expected {want}"
                )));
            }
        } else if !etag.ends_with(&format!("-{parts}\"")) {
            return Err(Failure::Mismatch(format!(
                "CompleteMultipartUpload {key}: ETag {etag} does not end in -{parts}"
            )));
        }
        Ok(Moved {
            sent: content.size,
            verified: 0,
        })
    }

    /// Create, one part, abort: afterwards the upload must be gone and the key unchanged.
    pub(super) async fn multipart_abort(&mut self, slot: usize) -> Outcome {
        let mode = self.mode();
        let key = self.key(slot);
        let content = Content {
            seed: self.rng.next_u64(),
            size: self.rng.between(1, MIB),
        };
        let upload_id = self.create_upload(&key, mode).await?;
        if let Err(failure) = self
            .upload_part(&key, &upload_id, mode, 1, content.bytes())
            .await
        {
            self.abort_quietly(&key, &upload_id).await;
            return Err(failure);
        }
        let abort = self
            .shared
            .client
            .abort_multipart_upload()
            .bucket(&self.shared.bucket)
            .key(&key)
            .upload_id(&upload_id);
        within(abort.send())
            .await?
            .map_err(|e| Failure::from_sdk("AbortMultipartUpload", &e))?;
        let parts = self
            .shared
            .client
            .list_parts()
            .bucket(&self.shared.bucket)
            .key(&key)
            .upload_id(&upload_id);
        match within(parts.send()).await? {
            Ok(_) => Err(Failure::Mismatch(format!(
                "ListParts {key}: an aborted upload still lists its parts"
            ))),
            Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("NoSuchUpload") => {
                Ok(Moved {
                    sent: content.size,
                    verified: 0,
                })
            }
            Err(e) => Err(Failure::from_sdk("ListParts of an aborted upload", &e)),
        }
    }

    pub(super) async fn create_upload(&self, key: &str, mode: Mode) -> Result<String, Failure> {
        let req = self
            .shared
            .client
            .create_multipart_upload()
            .bucket(&self.shared.bucket)
            .key(key);
        let out = within(mode::create_multipart(req, mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk("CreateMultipartUpload", &e))?;
        let upload_id = out
            .upload_id()
            .ok_or_else(|| Failure::Mismatch(format!("CreateMultipartUpload {key}: no UploadId")))?
            .to_string();
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        if let Err(e) = mode::check_echo("CreateMultipartUpload", mode, echo, self.keys()) {
            self.abort_quietly(key, &upload_id).await;
            return Err(Failure::Mismatch(e));
        }
        Ok(upload_id)
    }

    pub(super) async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        mode: Mode,
        number: u64,
        body: bytes::Bytes,
    ) -> Result<String, Failure> {
        let length = body.len() as i64;
        let req = self
            .shared
            .client
            .upload_part()
            .bucket(&self.shared.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number as i32)
            .content_length(length)
            .body(ByteStream::from(body));
        let out = within(mode::upload_part(req, mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk(&format!("UploadPart {number}"), &e))?;
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        mode::check_echo("UploadPart", mode, echo, self.keys()).map_err(Failure::Mismatch)?;
        out.e_tag()
            .map(str::to_string)
            .ok_or_else(|| Failure::Mismatch(format!("UploadPart {key} {number}: no ETag")))
    }

    /// Aborts an upload that failed, so the end-of-run check for leftover uploads only
    /// finds what the server leaked. Its own failure was already counted.
    pub(super) async fn abort_quietly(&self, key: &str, upload_id: &str) {
        let req = self
            .shared
            .client
            .abort_multipart_upload()
            .bucket(&self.shared.bucket)
            .key(key)
            .upload_id(upload_id);
        let _ = within(req.send()).await;
    }
}
