//! KMS changes: staged, committed by compare-and-swap, retried on conflict, and committed
//! together with their audit record.
//!
//! Every operation that writes key or alias records runs with its writes staged instead of
//! applied. Each staged write carries the version of the record it read (`None`: the record
//! did not exist), and the writes are committed in one metadata transaction that applies
//! them only if every record is still at that version. Several gateways may share the store,
//! so no in-process lock could order their writes; when another writer got there first the
//! transaction writes nothing, and the whole change runs again on fresh reads (a bounded
//! number of times).
//!
//! A management operation (CreateKey, PutKeyPolicy, DisableKey, aliases, rotation,
//! deletion…) commits its writes together with its rendered audit record, the record going
//! to the audit outbox. Only then is the record appended to the trail and taken out of the
//! outbox. A crash before the commit leaves neither; after it, both: the outbox is replayed
//! into the trail at the next start ([`BuiltinKms::replay_audit_outbox`]).
//!
//! Staging is per thread: a change runs synchronously on its thread, and the store helpers
//! ([`BuiltinKms::apply`]) look here first. A change run inside another is part of it.

use std::cell::RefCell;
use std::time::Duration;

use coffer_audit::AuditEvent;
use coffer_store::{KmsWrite, StoreError};

use super::BuiltinKms;
use crate::api_error::KmsApiError;

/// How many times a change runs before a conflict is reported: each conflict means another
/// writer's change committed, so only a record written continuously by others gets here.
const MAX_ATTEMPTS: u32 = 64;

thread_local! {
    /// The writes of the change this thread is running, when it is running one.
    static STAGED: RefCell<Option<Vec<KmsWrite>>> = const { RefCell::new(None) };
}

/// Whether this thread is running a change already.
fn staging() -> bool {
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

/// A short pause before a change runs again, longer with each conflict and jittered, so that
/// writers racing for one record do not keep colliding in step.
fn back_off(attempt: u32) {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() % 1000);
    let micros = 100 * u64::from(attempt.min(20)) + u64::from(jitter);
    std::thread::sleep(Duration::from_micros(micros));
}

/// What the commit of one attempt came to.
enum Commit<T> {
    Done(Result<T, KmsApiError>),
    Conflict(StoreError),
}

impl BuiltinKms {
    /// Runs `change` with its writes staged and commits them in one compare-and-swap
    /// transaction, running it again on fresh reads if another writer changed a record it
    /// read. Inside another change, `change` just runs: the outer change commits.
    pub(super) fn changing<T>(
        &self,
        change: impl FnMut() -> Result<T, KmsApiError>,
    ) -> Result<T, KmsApiError> {
        if staging() {
            let mut change = change;
            return change();
        }
        self.change_with_record(change, |_| None)
    }

    /// Runs `change` with its writes staged, then commits them with the record `event_of`
    /// makes of its outcome: both or neither. A change that wrote nothing (a refusal) is
    /// recorded as any other call, if `event_of` gives a record. If another writer changed a
    /// record the change read, nothing is committed and the change runs again.
    pub fn change_with_record<T>(
        &self,
        mut change: impl FnMut() -> Result<T, KmsApiError>,
        event_of: impl Fn(&Result<T, KmsApiError>) -> Option<AuditEvent>,
    ) -> Result<T, KmsApiError> {
        let mut attempt = 1;
        loop {
            let staging = Staging::begin();
            let result = change();
            let writes = staging.take();
            drop(staging);
            match self.commit(writes, result, &event_of)? {
                Commit::Done(result) => return result,
                Commit::Conflict(e) if attempt >= MAX_ATTEMPTS => return Err(e.into()),
                Commit::Conflict(e) => {
                    tracing::debug!(error = %e, attempt, "a KMS change lost a race; running it again");
                    back_off(attempt);
                    attempt += 1;
                }
            }
        }
    }

    /// Commits one attempt's writes with its record, if it has one.
    fn commit<T>(
        &self,
        writes: Vec<KmsWrite>,
        result: Result<T, KmsApiError>,
        event_of: &impl Fn(&Result<T, KmsApiError>) -> Option<AuditEvent>,
    ) -> Result<Commit<T>, KmsApiError> {
        let conflict_or = |outcome: Result<(), StoreError>, result| match outcome {
            Ok(()) => Ok(Commit::Done(result)),
            Err(e @ StoreError::KmsConflict(_)) => Ok(Commit::Conflict(e)),
            Err(e) => Err(KmsApiError::from(e)),
        };
        let event = event_of(&result);
        let (Some(event), Some(trail)) = (event.as_ref(), self.audit()) else {
            // Nothing to record, or no trail to record it in.
            if writes.is_empty() {
                return Ok(Commit::Done(result));
            }
            return conflict_or(self.meta.write_kms_records(writes), result);
        };
        if writes.is_empty() {
            self.record(event)?;
            return Ok(Commit::Done(result));
        }
        let record = trail.render(event);
        let id = record["eventID"].as_str().unwrap_or_default().to_owned();
        let bytes = serde_json::to_vec(&record).map_err(KmsApiError::internal)?;
        coffer_faults::crash_step("kms.change.staged");
        // Held from the commit until the record leaves the outbox: a replay in this process
        // then never takes a change between its commit and its append for a lost one.
        let _appending = self.outbox.read().unwrap_or_else(|p| p.into_inner());
        match conflict_or(self.meta.commit_kms_change(writes, &id, &bytes), result)? {
            Commit::Done(result) => {
                // The change is committed and its record is safe in the outbox: from here a
                // crash or a failed append only delays the record until the next start.
                coffer_faults::crash_step("kms.change.committed");
                trail
                    .append(record)
                    .map_err(crate::audit_events::unrecorded)?;
                if let Err(e) = self.meta.clear_audit_outbox(&id) {
                    tracing::warn!(error = %e, "cannot clear an appended record from the audit outbox");
                }
                Ok(Commit::Done(result))
            }
            conflict => Ok(conflict),
        }
    }

    /// Appends every record the outbox holds that the trail does not, then empties it. Run
    /// at start, before any request, and with the scheduled KMS work. It waits for the
    /// changes of this process between their commit and their append, so none of them is
    /// taken for a lost one.
    pub fn replay_audit_outbox(&self) -> Result<usize, KmsApiError> {
        let Some(trail) = self.audit() else {
            return Ok(0);
        };
        let _quiet = self.outbox.write().unwrap_or_else(|p| p.into_inner());
        let mut replayed = 0;
        for (id, bytes) in self.meta.audit_outbox()? {
            if !trail.holds_recent(&id) {
                let record = serde_json::from_slice(&bytes).map_err(KmsApiError::internal)?;
                trail
                    .append(record)
                    .map_err(crate::audit_events::unrecorded)?;
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
