//! Master-key rotation and rekeying: new data keys seal under the newest master-key version;
//! `rekey` re-seals the data keys of objects (and uploads) still under older versions, without
//! touching their data. Online (reads keep working: a record always holds a key that opens),
//! resumable (each step commits; a crash loses at most the step in flight, which the next run
//! repeats) and throttleable (the caller paces the steps).

use coffer_store::{EncryptionRecord, ListControl};
use serde::Serialize;

use crate::service::CofferS3;

/// Where a rekey pass stands after one step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RekeyStep {
    /// Objects looked at in this step.
    pub scanned: u64,
    /// Data keys re-sealed in this step.
    pub resealed: u64,
    /// Resume after this (bucket, key); `None` when the pass is complete.
    pub next: Option<(String, String)>,
}

/// Master-key versions and how many objects each still seals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeyStatus {
    pub current: u32,
    pub versions: Vec<(u32, i64)>,
    pub objects: u64,
    pub objects_under_older_versions: u64,
}

impl CofferS3 {
    /// Rotates away from the master-key version this gateway seals under: adds a version and
    /// makes it current, unless another gateway already rotated away from it (two operators,
    /// or two gateways' schedules, asking at once), whose version is then this rotation's.
    pub fn rotate_master_key(&self) -> Result<u32, String> {
        let seen = self.keyring.current().0;
        let v = self
            .keyring
            .rotate_from(self.meta.as_ref(), seen)
            .map_err(|e| e.to_string())?;
        tracing::info!(version = v, "rotated the SSE-S3 master key");
        Ok(v)
    }

    /// Reloads the master keyring from the store: how a gateway learns of a rotation
    /// another gateway made, so that it seals new objects under the new version too.
    pub fn refresh_master_keys(&self) -> Result<(), String> {
        self.keyring
            .reload(self.meta.as_ref())
            .map_err(|e| e.to_string())
    }

    /// Destroys the master-key versions older than the current one, provided no object or
    /// upload needs them any more (after a complete rekey). Returns the retired versions.
    pub fn retire_master_keys(&self) -> Result<Vec<u32>, String> {
        let floor = self.keyring.current().0;
        let in_use = self
            .wait(self.meta.retire_master_versions_below(floor))
            .map_err(|e| e.to_string())?;
        if in_use > 0 {
            return Err(format!(
                "{in_use} objects or uploads still need older master-key versions; run `coffer admin rekey` first"
            ));
        }
        let retired = self
            .keyring
            .retire_below(self.meta.as_ref(), floor)
            .map_err(|e| e.to_string())?;
        if !retired.is_empty() {
            tracing::info!(?retired, "retired SSE-S3 master-key versions");
        }
        Ok(retired)
    }

    /// Every bucket's name in byte order: the order of a resumable pass over all objects
    /// (rekey, scrub), which resumes after a (bucket, key).
    pub(crate) fn bucket_names_in_order(&self) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = self
            .wait(self.meta.list_buckets())
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|b| b.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every master-key version with its creation time (Unix ms), oldest first.
    pub fn master_key_versions(&self) -> Vec<(u32, i64)> {
        self.keyring.versions()
    }

    /// Counts objects per state of their data key (blocking: call from a blocking context).
    pub fn key_status(&self) -> Result<KeyStatus, String> {
        let current = self.keyring.current().0;
        let mut status = KeyStatus {
            current,
            versions: self.keyring.versions(),
            ..Default::default()
        };
        for bucket in self
            .wait(self.meta.list_buckets())
            .map_err(|e| e.to_string())?
        {
            self.wait(self.meta.list_objects(&bucket.name, "", "", &mut |_, r| {
                status.objects += 1;
                if r.encryption
                    .as_ref()
                    .and_then(|e| e.needs_master_version())
                    .is_some_and(|v| v < current)
                {
                    status.objects_under_older_versions += 1;
                }
                ListControl::Continue
            }))
            .map_err(|e| e.to_string())?;
        }
        Ok(status)
    }

    /// Re-seals up to `limit` objects found after `after` whose data key is under an older
    /// master-key version; at the end of a pass, also the uploads in progress (blocking).
    pub fn rekey_step(
        &self,
        after: Option<(String, String)>,
        limit: u64,
    ) -> Result<RekeyStep, String> {
        let current = self.keyring.current().0;
        let mut step = RekeyStep::default();
        let buckets = self.bucket_names_in_order()?;
        let (start_bucket, start_key) = after.clone().unwrap_or_default();
        for bucket in buckets.into_iter().filter(|b| *b >= start_bucket) {
            let from = if bucket == start_bucket {
                start_key.as_str()
            } else {
                ""
            };
            let mut stale: Vec<(String, EncryptionRecord)> = Vec::new();
            let mut last = None;
            self.wait(self.meta.list_objects(&bucket, "", from, &mut |key, r| {
                step.scanned += 1;
                last = Some(key.to_owned());
                if let Some(e) = r
                    .encryption
                    .as_ref()
                    .filter(|e| e.needs_master_version().is_some_and(|v| v < current))
                {
                    stale.push((key.to_owned(), e.clone()));
                }
                if step.scanned >= limit {
                    ListControl::Stop
                } else {
                    ListControl::Continue
                }
            }))
            .map_err(|e| e.to_string())?;
            for (key, old) in stale {
                if self.reseal(&bucket, &key, &old)? {
                    step.resealed += 1;
                }
            }
            if step.scanned >= limit {
                step.next = last.map(|k| (bucket.clone(), k));
                return Ok(step);
            }
        }
        self.rekey_uploads(current)?;
        Ok(step)
    }

    /// The data key sealed under `old` for `bucket/key`, sealed anew under the current
    /// master-key version.
    fn resealed(
        &self,
        bucket: &str,
        key: &str,
        old: &EncryptionRecord,
    ) -> Result<EncryptionRecord, String> {
        let dek = self
            .wait(self.open_data_key(bucket, key, Some(old), None, None))
            .map_err(|e| format!("{bucket}/{key}: {e:?}"))?
            .ok_or("no data key")?;
        self.seal_under_master(&dek, &crate::sse::encryption::object_arn(bucket, key))
            .map_err(|e| format!("{bucket}/{key}: {e:?}"))
    }

    fn reseal(&self, bucket: &str, key: &str, old: &EncryptionRecord) -> Result<bool, String> {
        let fresh = self.resealed(bucket, key, old)?;
        coffer_faults::io_step("rekey.commit").map_err(|e| format!("{bucket}/{key}: {e}"))?;
        let resealed = self
            .wait(
                self.meta
                    .reseal_object(bucket, key, old.sealed_key(), &fresh),
            )
            .map_err(|e| e.to_string())?;
        coffer_faults::crash_step("rekey.committed");
        Ok(resealed)
    }

    fn rekey_uploads(&self, current: u32) -> Result<(), String> {
        for bucket in self
            .wait(self.meta.list_buckets())
            .map_err(|e| e.to_string())?
        {
            for u in self
                .wait(self.meta.list_uploads(&bucket.name))
                .map_err(|e| e.to_string())?
            {
                let Some(old) = u
                    .template
                    .encryption
                    .filter(|e| e.needs_master_version().is_some_and(|v| v < current))
                else {
                    continue;
                };
                let fresh = self.resealed(&u.bucket, &u.key, &old)?;
                self.wait(
                    self.meta
                        .reseal_upload(&u.upload_id, old.sealed_key(), &fresh),
                )
                .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}
