//! Writes that change the model: PUT, DELETE, CopyObject, and requests S3 must refuse.

use super::*;

impl Worker<'_> {
    pub(super) async fn put(&mut self, slot: usize) -> Outcome {
        let mode = self.mode();
        let content = Content {
            seed: self.rng.next_u64(),
            size: self.size(),
        };
        let body = content.bytes();
        let md5 = hex(&Md5::digest(&body));
        let req = self
            .shared
            .client
            .put_object()
            .bucket(&self.shared.bucket)
            .key(self.key(slot))
            .content_length(content.size as i64)
            .body(ByteStream::from(body));
        self.slots[slot] = Slot::Unknown;
        let out = within(mode::put(req, mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk("PutObject", &e))?;
        let etag = out.e_tag().unwrap_or_default().to_string();
        self.slots[slot] = Slot::Stored(Stored {
            content,
            mode,
            etag: etag.clone(),
        });
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        mode::check_echo("PutObject", mode, echo, self.keys()).map_err(Failure::Mismatch)?;
        if mode.etag_is_md5() && etag != format!("\"{md5}\"") {
            return Err(Failure::Mismatch(format!(
                "PutObject {}: ETag {etag} is not the MD5 {md5} of the content",
                self.key(slot)
            )));
        }
        Ok(Moved {
            sent: content.size,
            verified: 0,
        })
    }

    pub(super) async fn delete(&mut self, slot: usize) -> Outcome {
        let req = self
            .shared
            .client
            .delete_object()
            .bucket(&self.shared.bucket)
            .key(self.key(slot));
        self.slots[slot] = Slot::Unknown;
        within(req.send())
            .await?
            .map_err(|e| Failure::from_sdk("DeleteObject", &e))?;
        self.slots[slot] = Slot::Empty;
        Ok(Moved::default())
    }

    /// CopyObject from one of the worker's objects to `slot` (possibly itself), into a
    /// random mode: within a mode and across modes, SSE-C source key included.
    pub(super) async fn copy(&mut self, slot: usize) -> Outcome {
        let from = self.rng.below(SLOTS) as usize;
        let Some((source_slot, source)) = self
            .stored_from(from, |_| true)
            .and_then(|i| Some((i, self.stored(i)?)))
        else {
            return Err(not_feasible("COPY"));
        };
        let to = self.mode();
        let key = self.key(slot);
        let req = self
            .shared
            .client
            .copy_object()
            .bucket(&self.shared.bucket)
            .key(&key)
            .copy_source(format!("{}/{}", self.shared.bucket, self.key(source_slot)))
            // REPLACE makes a copy onto itself legal whatever the modes.
            .metadata_directive(MetadataDirective::Replace)
            .metadata("soak-copy-of", self.key(source_slot));
        self.slots[slot] = Slot::Unknown;
        let out = within(mode::copy(req, source.mode, to, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk("CopyObject", &e))?;
        let etag = out
            .copy_object_result()
            .and_then(|r| r.e_tag())
            .unwrap_or_default()
            .to_string();
        self.slots[slot] = Slot::Stored(Stored {
            content: source.content,
            mode: to,
            etag: etag.clone(),
        });
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        mode::check_echo("CopyObject", to, echo, self.keys()).map_err(Failure::Mismatch)?;
        if etag.is_empty() {
            return Err(Failure::Mismatch(format!("CopyObject {key}: no ETag")));
        }
        Ok(Moved::default())
    }

    /// Reads that must be refused: an SSE-C object without its key (400 InvalidRequest),
    /// with the other key (403 AccessDenied, GET or HEAD), and an SSE-C key on an object
    /// that is not SSE-C (400 InvalidRequest).
    pub(super) async fn refused(&mut self, slot: usize) -> Outcome {
        let Some(s) = self.stored(slot) else {
            return Err(not_feasible("REFUSED"));
        };
        let key = self.key(slot);
        let client = &self.shared.client;
        let get = client.get_object().bucket(&self.shared.bucket).key(&key);
        let other_key = match s.mode {
            Mode::Customer(i) => Mode::Customer(1 - i),
            _ => Mode::Customer(self.rng.below(2) as usize),
        };
        let (what, status, code, result) = match (s.mode, self.rng.below(3)) {
            (Mode::Customer(_), 0) => (
                "GET without the customer key",
                400,
                Some("InvalidRequest"),
                within(get.send()).await?.map(|_| ()),
            ),
            (Mode::Customer(_), 1) => (
                "GET with the wrong customer key",
                403,
                Some("AccessDenied"),
                within(mode::get(get, other_key, self.keys()).send())
                    .await?
                    .map(|_| ()),
            ),
            (Mode::Customer(_), _) => {
                let head = client.head_object().bucket(&self.shared.bucket).key(&key);
                let result = within(mode::head(head, other_key, self.keys()).send()).await?;
                return match result {
                    Ok(_) => Err(Failure::Mismatch(format!(
                        "HEAD with the wrong customer key succeeded on {key}"
                    ))),
                    Err(e)
                        if e.as_service_error().is_some()
                            && e.raw_response().map(|r| r.status().as_u16()) == Some(403) =>
                    {
                        Ok(Moved::default())
                    }
                    Err(e) => Err(Failure::from_sdk("HEAD with the wrong customer key", &e)),
                };
            }
            (_, _) => (
                "GET of a non-SSE-C object with a customer key",
                400,
                Some("InvalidRequest"),
                within(mode::get(get, other_key, self.keys()).send())
                    .await?
                    .map(|_| ()),
            ),
        };
        match result {
            Ok(()) => Err(Failure::Mismatch(format!(
                "{what} succeeded on {key} ({:?})",
                s.mode
            ))),
            Err(e) => {
                let got_status = e.raw_response().map(|r| r.status().as_u16());
                let got_code = e.as_service_error().and_then(|se| se.code());
                if got_status == Some(status) && got_code == code {
                    Ok(Moved::default())
                } else {
                    Err(Failure::from_sdk(
                        &format!("{what}: expected {status} {code:?}"),
                        &e,
                    ))
                }
            }
        }
    }
}
