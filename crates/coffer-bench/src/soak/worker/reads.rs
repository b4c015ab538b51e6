//! Reads checked against the model: GET, ranged GET, HEAD and listings.

use super::*;

impl Worker<'_> {
    /// A full GET, verified byte for byte; a GET of an absent key must be 404 NoSuchKey.
    pub(super) async fn get(&mut self, slot: usize) -> Outcome {
        let key = self.key(slot);
        let req = self
            .shared
            .client
            .get_object()
            .bucket(&self.shared.bucket)
            .key(&key);
        let Some(s) = self.stored(slot) else {
            return match within(req.send()).await? {
                Ok(_) => Err(Failure::Mismatch(format!(
                    "GetObject {key}: a deleted key returned an object"
                ))),
                Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
                    Ok(Moved::default())
                }
                Err(e) => Err(Failure::from_sdk("GetObject of an absent key", &e)),
            };
        };
        let out = within(mode::get(req, s.mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk("GetObject", &e))?;
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        mode::check_echo("GetObject", s.mode, echo, self.keys()).map_err(Failure::Mismatch)?;
        check_eq(&key, "ETag", out.e_tag(), Some(s.etag.as_str()))?;
        check_eq(
            &key,
            "Content-Length",
            out.content_length(),
            Some(s.content.size as i64),
        )?;
        let verified = read_verified(&key, out.body, s.content.verifier(0, s.content.size)).await?;
        Ok(Moved { sent: 0, verified })
    }

    /// A ranged GET: `bytes=a-b`, `bytes=a-` or `bytes=-n`, checked against Content-Range.
    pub(super) async fn get_range(&mut self, slot: usize) -> Outcome {
        let Some(s) = self.stored(slot).filter(|s| s.content.size > 0) else {
            return Err(not_feasible("GET-RANGE"));
        };
        let key = self.key(slot);
        let size = s.content.size;
        let (header, start, end) = match self.rng.below(10) {
            0..6 => {
                // Often start just before a segment boundary, so the range spans two.
                let start = if self.rng.chance(50) && size > SEGMENT {
                    (self.rng.below(size / SEGMENT) + 1) * SEGMENT - self.rng.between(1, 16)
                } else {
                    self.rng.below(size)
                };
                let len = self.rng.between(1, (size - start).min(2 * MIB));
                (
                    format!("bytes={start}-{}", start + len - 1),
                    start,
                    start + len,
                )
            }
            6..8 => {
                let start = self.rng.below(size);
                (format!("bytes={start}-"), start, size)
            }
            _ => {
                let len = self.rng.between(1, size.min(2 * MIB));
                (format!("bytes=-{len}"), size - len, size)
            }
        };
        let req = self
            .shared
            .client
            .get_object()
            .bucket(&self.shared.bucket)
            .key(&key)
            .range(&header);
        let out = within(mode::get(req, s.mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk(&format!("GetObject {header}"), &e))?;
        let what = format!("{key} {header}");
        check_eq(
            &what,
            "Content-Range",
            out.content_range(),
            Some(format!("bytes {start}-{}/{size}", end - 1).as_str()),
        )?;
        check_eq(
            &what,
            "Content-Length",
            out.content_length(),
            Some((end - start) as i64),
        )?;
        let verified = read_verified(&what, out.body, s.content.verifier(start, end)).await?;
        Ok(Moved { sent: 0, verified })
    }

    /// HEAD: length, ETag and encryption as stored; an absent key must be 404.
    pub(super) async fn head(&mut self, slot: usize) -> Outcome {
        let key = self.key(slot);
        let req = self
            .shared
            .client
            .head_object()
            .bucket(&self.shared.bucket)
            .key(&key);
        let Some(s) = self.stored(slot) else {
            return match within(req.send()).await? {
                Ok(_) => Err(Failure::Mismatch(format!(
                    "HeadObject {key}: a deleted key has a HEAD"
                ))),
                Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => {
                    Ok(Moved::default())
                }
                Err(e) => Err(Failure::from_sdk("HeadObject of an absent key", &e)),
            };
        };
        let out = within(mode::head(req, s.mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk("HeadObject", &e))?;
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        mode::check_echo("HeadObject", s.mode, echo, self.keys()).map_err(Failure::Mismatch)?;
        check_eq(&key, "ETag", out.e_tag(), Some(s.etag.as_str()))?;
        check_eq(
            &key,
            "Content-Length",
            out.content_length(),
            Some(s.content.size as i64),
        )?;
        Ok(Moved::default())
    }

    /// Lists the worker's prefix in small pages: exactly its stored keys, in order, with
    /// their sizes and ETags.
    pub(super) async fn list(&mut self) -> Outcome {
        let prefix = self.prefix();
        let page = self.rng.between(1, SLOTS) as i32;
        let mut listed = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .shared
                .client
                .list_objects_v2()
                .bucket(&self.shared.bucket)
                .prefix(&prefix)
                .max_keys(page)
                .set_continuation_token(token.take());
            let out = within(req.send())
                .await?
                .map_err(|e| Failure::from_sdk("ListObjectsV2", &e))?;
            for o in out.contents() {
                listed.push((
                    o.key().unwrap_or_default().to_string(),
                    o.size(),
                    o.e_tag().map(str::to_string),
                ));
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
            if listed.len() > 4 * SLOTS as usize {
                return Err(Failure::Mismatch(format!(
                    "ListObjectsV2 {prefix}: more than {} keys, pagination does not end",
                    4 * SLOTS
                )));
            }
        }
        if !listed.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(Failure::Mismatch(format!(
                "ListObjectsV2 {prefix}: keys not in ascending order: {:?}",
                listed.iter().map(|l| &l.0).collect::<Vec<_>>()
            )));
        }
        for (slot, state) in self.slots.iter().enumerate() {
            let key = self.key(slot);
            let found = listed.iter().find(|l| l.0 == key);
            match (state, found) {
                (Slot::Unknown, _) | (Slot::Empty, None) => {}
                (Slot::Empty, Some(_)) => {
                    return Err(Failure::Mismatch(format!(
                        "ListObjectsV2: deleted key {key} is listed"
                    )));
                }
                (Slot::Stored(_), None) => {
                    return Err(Failure::Mismatch(format!(
                        "ListObjectsV2: stored key {key} is missing"
                    )));
                }
                (Slot::Stored(s), Some((_, size, etag))) => {
                    if *size != Some(s.content.size as i64) || etag.as_deref() != Some(&s.etag) {
                        return Err(Failure::Mismatch(format!(
                            "ListObjectsV2: {key} listed with size {size:?} ETag {etag:?}, stored {} {}",
                            s.content.size, s.etag
                        )));
                    }
                }
            }
        }
        if let Some(stray) = listed
            .iter()
            .find(|l| !(0..self.slots.len()).any(|slot| self.key(slot) == l.0))
        {
            return Err(Failure::Mismatch(format!(
                "ListObjectsV2 {prefix}: unexpected key {}",
                stray.0
            )));
        }
        Ok(Moved::default())
    }
}
