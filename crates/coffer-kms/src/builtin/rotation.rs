//! Rotation and scheduled work: rotation settings, on-demand and operator actions, and `run_due`.

use super::{BuiltinKms, Caller, DAY_MS, MAX_ON_DEMAND_ROTATIONS, now_ms};
use crate::api_error::KmsApiError;
use crate::audit_events::service_event;
use crate::records::{KeyRecord, KeyState};

impl BuiltinKms {
    pub fn enable_key_rotation(
        &self,
        caller: &Caller,
        given: &str,
        period_days: Option<u32>,
    ) -> Result<(), KmsApiError> {
        let period = period_days.unwrap_or(365);
        if !(90..=2560).contains(&period) {
            return Err(KmsApiError::validation(format!(
                "1 validation error detected: Value '{period}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between 90 and 2560"
            )));
        }
        self.modify(caller, given, "kms:EnableKeyRotation", |r| {
            self.check_customer_managed(r, "EnableKeyRotation")?;
            self.check_usable(r)?;
            r.rotation_period_days = Some(period);
            r.next_rotation_ms = Some(now_ms() + i64::from(period) * DAY_MS);
            Ok(())
        })
        .map(|_| ())
    }

    pub fn disable_key_rotation(&self, caller: &Caller, given: &str) -> Result<(), KmsApiError> {
        self.modify(caller, given, "kms:DisableKeyRotation", |r| {
            self.check_customer_managed(r, "DisableKeyRotation")?;
            self.check_usable(r)?;
            r.rotation_period_days = None;
            r.next_rotation_ms = None;
            Ok(())
        })
        .map(|_| ())
    }

    pub fn get_key_rotation_status(
        &self,
        caller: &Caller,
        given: &str,
    ) -> Result<KeyRecord, KmsApiError> {
        self.authorized_key(caller, given, "kms:GetKeyRotationStatus", None)
    }

    fn rotate(&self, record: &mut KeyRecord, rotation_type: &str) -> Result<(), KmsApiError> {
        let next = record.current_version() + 1;
        let version = self.new_material(&record.key_id, next, Some(rotation_type))?;
        record.versions.push(version);
        Ok(())
    }

    pub fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        given: &str,
    ) -> Result<KeyRecord, KmsApiError> {
        self.modify(caller, given, "kms:RotateKeyOnDemand", |r| {
            self.check_customer_managed(r, "RotateKeyOnDemand")?;
            self.check_usable(r)?;
            if r.on_demand_rotations() >= MAX_ON_DEMAND_ROTATIONS {
                return Err(KmsApiError::limit_exceeded(format!(
                    "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
                    self.key_arn(r)
                )));
            }
            self.rotate(r, "ON_DEMAND")
        })
    }

    pub fn list_key_rotations(
        &self,
        caller: &Caller,
        given: &str,
    ) -> Result<KeyRecord, KmsApiError> {
        self.authorized_key(caller, given, "kms:ListKeyRotations", None)
    }

    /// Operator rotation (`coffer kms rotate`), outside any key policy.
    pub fn rotate_as_operator(&self, given: &str) -> Result<KeyRecord, KmsApiError> {
        let record = self.resolve(given)?;
        self.change_with_record(
            || {
                let mut record = self.resolve(given)?;
                self.check_usable(&record)?;
                self.rotate(&mut record, "ON_DEMAND")?;
                self.save_key(&record)?;
                Ok(record)
            },
            // A refused rotation changed nothing: there is nothing to record.
            |done| {
                done.is_ok().then(|| {
                    service_event("RotateKeyOnDemand", &self.key_arn(&record), &record.key_id)
                })
            },
        )
    }

    /// Operator deletion scheduling (`coffer kms schedule-deletion`), outside any key policy.
    pub fn schedule_deletion_as_operator(
        &self,
        given: &str,
        window_days: u32,
    ) -> Result<KeyRecord, KmsApiError> {
        let record = self.resolve(given)?;
        self.change_with_record(
            || {
                let mut record = self.resolve(given)?;
                self.check_not_pending(&record)?;
                self.check_customer_managed(&record, "ScheduleKeyDeletion")?;
                record.state = KeyState::PendingDeletion;
                record.pending_window_days = Some(window_days);
                record.deletion_ms = Some(now_ms() + i64::from(window_days) * DAY_MS);
                self.save_key(&record)?;
                Ok(record)
            },
            |done| {
                done.is_ok().then(|| {
                    service_event(
                        "ScheduleKeyDeletion",
                        &self.key_arn(&record),
                        &record.key_id,
                    )
                })
            },
        )
    }

    /// Runs what is due at `now_ms`: automatic rotations, and the destruction of keys whose
    /// deletion window has ended (their material and aliases go; everything sealed under
    /// them becomes unreadable). Each is one change committed with its record. Returns what
    /// it did, for the log.
    pub fn run_due(&self, now: i64) -> Result<Vec<String>, KmsApiError> {
        // A record whose append failed after its change committed waits in the outbox: it
        // goes into the trail here, not only at the next start.
        self.replay_audit_outbox()?;
        let mut done = Vec::new();
        for candidate in self.all_keys()? {
            let arn = self.key_arn(&candidate);
            let key_id = candidate.key_id.clone();
            let deletion_due = |r: &KeyRecord| {
                r.state == KeyState::PendingDeletion && r.deletion_ms.is_some_and(|t| t <= now)
            };
            let rotation_due = |r: &KeyRecord| {
                r.state == KeyState::Enabled
                    && r.rotation_period_days.is_some()
                    && r.next_rotation_ms.is_some_and(|due| due <= now)
            };
            if deletion_due(&candidate) {
                let deleted = self.change_with_record(
                    || {
                        // Read again: the deletion may have been cancelled. The deletes expect
                        // what was read here, so a cancellation committed meanwhile wins.
                        let Some(record) = self.load_key(&key_id)?.filter(deletion_due) else {
                            return Ok(false);
                        };
                        for alias in self.all_aliases()? {
                            if alias.target_key_id == record.key_id {
                                self.delete_alias_record(&alias)?;
                            }
                        }
                        self.delete_key(&record)?;
                        Ok(true)
                    },
                    |deleted| {
                        matches!(deleted, Ok(true))
                            .then(|| service_event("DeleteKey", &arn, &key_id))
                    },
                )?;
                if deleted {
                    tracing::warn!(key = %arn, "deleted a KMS key and its material: what it sealed is unreadable");
                    done.push(format!("deleted {arn}"));
                }
            } else if rotation_due(&candidate) {
                let rotated = self.change_with_record(
                    || {
                        let Some(mut record) = self.load_key(&key_id)?.filter(rotation_due) else {
                            return Ok(None);
                        };
                        let period = record.rotation_period_days.unwrap_or(365);
                        self.rotate(&mut record, "AUTOMATIC")?;
                        record.next_rotation_ms = Some(now + i64::from(period) * DAY_MS);
                        self.save_key(&record)?;
                        Ok(Some(record.current_version()))
                    },
                    |rotated| {
                        matches!(rotated, Ok(Some(_)))
                            .then(|| service_event("RotateKey", &arn, &key_id))
                    },
                )?;
                if let Some(version) = rotated {
                    tracing::info!(key = %arn, version, "rotated a KMS key");
                    done.push(format!("rotated {arn}"));
                }
            }
        }
        Ok(done)
    }
}
