//! Scrubbing: every stored segment read back and authenticated, so damage on disk is found
//! by the operator before a reader finds it. A GET streams, so a segment that fails late in
//! a large object can only cut its body short (AWS behaves the same); a scrub names the
//! object instead.
//!
//! Online and resumable like rekey: each step scans a batch of objects in key order and
//! returns where to go on. SSE-S3 objects open with the master key and SSE-KMS objects through
//! the KMS as the scrubbing admin (so each is a `Decrypt` in the audit trail, as any read is).
//! SSE-C objects cannot be authenticated without their customer's key, which Coffer never
//! keeps: their blobs are checked for presence and length only, and counted apart.

use coffer_store::{ListControl, ObjectRecord};
use serde::Serialize;
use tokio::runtime::Handle;

use crate::User;
use crate::body::{self, SourceData};
use crate::service::CofferS3;
use crate::sse::encryption;

/// One object that failed its scrub.
#[derive(Debug, Clone, Serialize)]
pub struct Damage {
    pub bucket: String,
    pub key: String,
    pub what: String,
}

/// Where a scrub pass stands after one step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrubStep {
    /// Objects looked at in this step.
    pub scanned: u64,
    /// Plaintext bytes read and authenticated.
    pub bytes: u64,
    /// SSE-C objects: blobs present and of the right length, segments not authenticated.
    pub structure_only: u64,
    /// Objects whose data could not be read back intact, by name.
    pub damaged: Vec<Damage>,
    /// Resume after this (bucket, key); `None` when the pass is complete.
    pub next: Option<(String, String)>,
}

impl CofferS3 {
    /// Scrubs up to `limit` objects found after `after`, as `scrubber` (an admin) for the
    /// KMS. Blocking: call from a blocking context.
    pub fn scrub_step(
        &self,
        after: Option<(String, String)>,
        limit: u64,
        scrubber: &User,
    ) -> Result<ScrubStep, String> {
        let mut step = ScrubStep::default();
        let buckets = self.bucket_names_in_order()?;
        let (start_bucket, start_key) = after.unwrap_or_default();
        for bucket in buckets.into_iter().filter(|b| *b >= start_bucket) {
            let from = if bucket == start_bucket {
                start_key.as_str()
            } else {
                ""
            };
            let mut batch: Vec<(String, ObjectRecord)> = Vec::new();
            let scanned = step.scanned;
            Handle::current()
                .block_on(self.meta.list_objects(&bucket, "", from, &mut |key, r| {
                    batch.push((key.to_owned(), r.clone()));
                    if scanned + batch.len() as u64 >= limit {
                        ListControl::Stop
                    } else {
                        ListControl::Continue
                    }
                }))
                .map_err(|e| e.to_string())?;
            for (key, record) in &batch {
                step.scanned += 1;
                match self.scrub_object(&bucket, key, record, scrubber) {
                    Ok(Checked::Authenticated(n)) => step.bytes += n,
                    Ok(Checked::StructureOnly) => step.structure_only += 1,
                    Err(what) => {
                        metrics::counter!("coffer_scrub_damaged_objects_total").increment(1);
                        tracing::error!(
                            target: "coffer::integrity",
                            bucket,
                            key,
                            what,
                            "scrub found a damaged object"
                        );
                        step.damaged.push(Damage {
                            bucket: bucket.clone(),
                            key: key.clone(),
                            what,
                        });
                    }
                }
            }
            if step.scanned >= limit {
                step.next = batch.last().map(|(k, _)| (bucket.clone(), k.clone()));
                return Ok(step);
            }
        }
        Ok(step)
    }

    fn scrub_object(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        scrubber: &User,
    ) -> Result<Checked, String> {
        let name = format!("{bucket}/{key}");
        if encryption::is_customer(record.encryption.as_ref()) {
            return self.check_structure(record, &name);
        }
        let data_key = self
            .wait(self.open_data_key(
                bucket,
                key,
                record.encryption.as_ref(),
                None,
                Some(scrubber),
            ))
            .map_err(|e| format!("its data key does not open: {}", describe(&e)))?;
        let size: u64 = record.parts.iter().map(|p| p.size).sum();
        let source = SourceData {
            parts: record.parts.clone(),
            key: data_key,
            name,
        };
        // Converting counts a damaged blob in coffer_integrity_alerts_total, as a GET would;
        // a segment that fails authentication is counted where it is opened.
        let opened = body::open_range_blocking(self.blobs.clone(), source, 0, size)
            .map_err(|e| describe(&s3s::S3Error::from(e)))?;
        let mut read = 0u64;
        opened.read(|chunk| {
            read += chunk.len() as u64;
            Ok(())
        })?;
        if read != size {
            return Err(format!("{read} bytes read back, the record says {size}"));
        }
        Ok(Checked::Authenticated(read))
    }

    /// What can be checked of an SSE-C object without its key: every blob is there and
    /// holds exactly the sealed length of its part.
    fn check_structure(&self, record: &ObjectRecord, name: &str) -> Result<Checked, String> {
        let rt = Handle::current();
        for part in &record.parts {
            let expected = coffer_crypto::sealed_len(part.size).map_err(|e| e.to_string())?;
            // A store that cannot tell a blob's length without reading learns it from the
            // last byte the record promises.
            let mut reader = rt
                .block_on(coffer_store::open_part(self.blobs.as_ref(), part, expected))
                .map_err(|e| format!("{name}: {e}"))?;
            if expected > 0 {
                rt.block_on(reader.read_at(expected - 1, 1))
                    .map_err(|e| format!("{name}: {e}"))?;
            }
        }
        Ok(Checked::StructureOnly)
    }
}

enum Checked {
    /// Every segment authenticated; this many plaintext bytes.
    Authenticated(u64),
    StructureOnly,
}

fn describe(e: &s3s::S3Error) -> String {
    match e.message() {
        Some(m) => format!("{}: {m}", e.code().as_str()),
        None => e.code().as_str().to_owned(),
    }
}
