//! A KMS change and its audit record, committed together.
//!
//! A management operation (CreateKey, PutKeyPolicy, DisableKey, aliases, rotation,
//! deletion…) runs with its writes staged instead of applied; then the writes and the
//! operation's rendered record are committed in one metadata transaction, the record going
//! to the audit outbox. Only then is the record appended to the trail and taken out of the
//! outbox. A crash before the commit leaves neither; after it, both: the outbox is replayed
//! into the trail at the next start ([`BuiltinKms::replay_audit_outbox`]).
//!
//! Staging is per thread: the operation runs synchronously on the thread that holds the
//! KMS's write lock, and the store helpers ([`BuiltinKms::apply`]) look here first.

use std::cell::RefCell;

use coffer_audit::AuditEvent;
use coffer_store::KmsWrite;

use super::BuiltinKms;
use crate::api_error::KmsApiError;

thread_local! {
    /// The writes of the change this thread is running, when it is running one.
    static STAGED: RefCell<Option<Vec<KmsWrite>>> = const { RefCell::new(None) };
}

/// Whether this thread is inside [`BuiltinKms::change_with_record`] (and so holds the
/// write lock).
pub(super) fn staging() -> bool {
    STAGED.with(|s| s.borrow().is_some())
}

/// Keeps `write` for the change being staged; gives it back when no change is.
pub(super) fn stage(write: KmsWrite) -> Option<KmsWrite> {
    STAGED.with(|s| match s.borrow_mut().as_mut() {
        Some(writes) => {
            writes.push(write);
            None
        }
        None => Some(write),
    })
}

/// Clears the staging slot even if the change panics.
struct Staging;

impl Staging {
    fn begin() -> Self {
        STAGED.with(|s| *s.borrow_mut() = Some(Vec::new()));
        Staging
    }

    fn take(&self) -> Vec<KmsWrite> {
        STAGED.with(|s| s.borrow_mut().take().unwrap_or_default())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        STAGED.with(|s| *s.borrow_mut() = None);
    }
}

impl BuiltinKms {
    /// Runs `change` under the write lock with its writes staged, then commits them with
    /// the record `event_of` makes of its outcome: both or neither. A change that wrote
    /// nothing (a refusal) is recorded as any other call, if `event_of` gives a record.
    pub fn change_with_record<T>(
        &self,
        change: impl FnOnce() -> Result<T, KmsApiError>,
        event_of: impl FnOnce(&Result<T, KmsApiError>) -> Option<AuditEvent>,
    ) -> Result<T, KmsApiError> {
        let _guard = self.lock();
        let staging = Staging::begin();
        let result = change();
        let writes = staging.take();
        drop(staging);
        let event = event_of(&result);
        let (Some(event), Some(trail)) = (event.as_ref(), self.audit()) else {
            // Nothing to record, or no trail to record it in.
            for w in writes {
                self.write_now(w)?;
            }
            return result;
        };
        if writes.is_empty() {
            self.record(event)?;
            return result;
        }
        let record = trail.render(event);
        let id = record["eventID"].as_str().unwrap_or_default().to_owned();
        let bytes = serde_json::to_vec(&record).map_err(KmsApiError::internal)?;
        coffer_faults::crash_step("kms.change.staged");
        self.meta.commit_kms_change(writes, &id, &bytes)?;
        // The change is committed and its record is safe in the outbox: from here a crash
        // or a failed append only delays the record until the next start.
        coffer_faults::crash_step("kms.change.committed");
        trail
            .append(record)
            .map_err(|e| KmsApiError::internal(format!("audit trail: {e}")))?;
        if let Err(e) = self.meta.clear_audit_outbox(&id) {
            tracing::warn!(error = %e, "cannot clear an appended record from the audit outbox");
        }
        result
    }

    /// Appends every record the outbox holds that the trail does not, then empties it. Run
    /// at start, before any request, and with the scheduled KMS work. Under the write lock,
    /// so a change between its commit and its append is never taken for a lost one.
    pub fn replay_audit_outbox(&self) -> Result<usize, KmsApiError> {
        let Some(trail) = self.audit() else {
            return Ok(0);
        };
        let _guard = self.lock();
        let mut replayed = 0;
        for (id, bytes) in self.meta.audit_outbox()? {
            if !trail.holds_recent(&id) {
                let record = serde_json::from_slice(&bytes).map_err(KmsApiError::internal)?;
                trail
                    .append(record)
                    .map_err(|e| KmsApiError::internal(format!("audit trail: {e}")))?;
                replayed += 1;
            }
            self.meta.clear_audit_outbox(&id)?;
        }
        if replayed > 0 {
            tracing::warn!(
                records = replayed,
                "appended the records of KMS changes committed just before a crash"
            );
        }
        Ok(replayed)
    }
}
