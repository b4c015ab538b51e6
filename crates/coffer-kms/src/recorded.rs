//! The outcome of a KMS call S3 made on a user's behalf, while its audit record is on its way
//! to disk: the outcome may be used only once the record is there. A task awaits that
//! ([`Recorded::on_disk`]) and its runtime worker serves other requests meanwhile; handing
//! the worker to another thread for the fsync instead (`block_in_place`) cost more CPU than
//! the KMS call itself.

use std::time::Instant;

use coffer_audit::Receipt;

use crate::api_error::KmsApiError;
use crate::audit_events::unrecorded;

#[must_use = "a KMS call's outcome may be used only once its audit record is on disk"]
pub struct Recorded<T> {
    outcome: Result<T, KmsApiError>,
    /// `None` when there is nothing to wait for: a KMS without a trail.
    receipt: Option<Receipt>,
    started: Instant,
}

impl<T> Recorded<T> {
    pub(crate) fn new(
        outcome: Result<T, KmsApiError>,
        receipt: Option<Receipt>,
        started: Instant,
    ) -> Self {
        Recorded {
            outcome,
            receipt,
            started,
        }
    }

    /// The outcome, once its record is on disk; an error if the record could not be
    /// written (an unrecorded key use has not happened).
    pub async fn on_disk(self) -> Result<T, KmsApiError> {
        if let Some(receipt) = self.receipt {
            receipt.await.map_err(unrecorded)?;
        }
        finish(self.outcome, self.started)
    }

    /// [`Recorded::on_disk`], blocking the calling thread (on a runtime worker, only inside
    /// `block_in_place`).
    pub fn wait(self) -> Result<T, KmsApiError> {
        if let Some(receipt) = self.receipt {
            receipt.wait().map_err(unrecorded)?;
        }
        finish(self.outcome, self.started)
    }
}

fn finish<T>(outcome: Result<T, KmsApiError>, started: Instant) -> Result<T, KmsApiError> {
    metrics::histogram!("coffer_kms_request_duration_seconds", "via" => "s3")
        .record(started.elapsed().as_secs_f64());
    if let Err(e) = &outcome {
        metrics::counter!("coffer_kms_errors_total", "code" => e.code).increment(1);
    }
    outcome
}
