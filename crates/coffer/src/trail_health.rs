//! The outcome of the audit trail's last self-check on this gateway, for the console's
//! health page and the `trail-health` admin operation.

use std::sync::Mutex;

use serde_json::{Value, json};

#[derive(Default)]
pub struct TrailHealth {
    last: Mutex<Option<Value>>,
}

impl TrailHealth {
    pub fn record(&self, report: &coffer_audit::Report) {
        let at = time::OffsetDateTime::now_utc().unix_timestamp();
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(json!({
            "at": at,
            "passed": report.passed(),
            "records_checked": report.records_checked,
            "digests_checked": report.digests_checked,
            "problems": report.problems,
        }));
    }

    pub fn last(&self) -> Value {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or(Value::Null)
    }
}
