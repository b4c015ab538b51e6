//! The server's scheduled work (master-key rotation, the KMS's deletion windows and key
//! rotations, garbage collection of a shared blob store, sealing a shared audit trail), each
//! run by one gateway at a time.
//!
//! Each chore has a lease in the metadata store ([`coffer_store::KeyStore::acquire_lease`]).
//! Every gateway tries to take or renew every chore's lease each [`Leases::renew_every`];
//! the one that holds a lease runs that chore at the chore's own period, and the others
//! skip it. A gateway that dies stops renewing, and its leases pass to another gateway once
//! they run out: within one lease time plus one renewal period. Embedded, the one process
//! always holds them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_s3::CofferS3;
use coffer_store::{BlobStore, GcPolicy, MetaStore, collect_orphans};

/// The chores, by lease name.
pub const MASTER_KEY_ROTATION: &str = "master-key-rotation";
pub const KMS_SCHEDULE: &str = "kms-schedule";
pub const GARBAGE_COLLECTION: &str = "garbage-collection";
/// Cutting a shared audit trail's journal into log files, signing its digests, and checking
/// it.
pub const AUDIT_SEALING: &str = "audit-sealing";
const CHORES: [&str; 4] = [
    MASTER_KEY_ROTATION,
    KMS_SCHEDULE,
    GARBAGE_COLLECTION,
    AUDIT_SEALING,
];

/// How long a lease lasts without renewal. `COFFER_CHORE_LEASE_SECONDS` shortens it (tests
/// of failover); renewal runs three times per lease time.
const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The chore leases this gateway holds, kept fresh by [`Leases::renew_forever`].
pub struct Leases {
    meta: Arc<dyn MetaStore>,
    gateway: String,
    lease: Duration,
    held: Mutex<HashMap<&'static str, u64>>,
}

impl Leases {
    pub fn new(meta: Arc<dyn MetaStore>, gateway: String) -> Result<Arc<Self>, String> {
        let lease =
            match std::env::var("COFFER_CHORE_LEASE_SECONDS") {
                Ok(s) => Duration::from_secs(s.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(
                    || format!("COFFER_CHORE_LEASE_SECONDS={s:?}: not a number of seconds"),
                )?),
                Err(_) => DEFAULT_LEASE,
            };
        Ok(Arc::new(Self {
            meta,
            gateway,
            lease,
            held: Mutex::new(HashMap::new()),
        }))
    }

    pub fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// Whether this gateway holds `chore`'s lease (as of the last renewal).
    pub fn holds(&self, chore: &str) -> bool {
        self.held.lock().is_ok_and(|held| held.contains_key(chore))
    }

    /// Takes or renews every chore's lease, now and then every [`Leases::renew_every`].
    pub async fn renew_forever(self: Arc<Self>) {
        loop {
            let me = self.clone();
            if tokio::task::spawn_blocking(move || me.renew_once())
                .await
                .is_err()
            {
                tracing::error!("lease renewal panicked");
            }
            tokio::time::sleep(self.renew_every()).await;
        }
    }

    /// One round of [`Leases::renew_forever`]. A lease that cannot be reached is given up:
    /// better no gateway for a while than two.
    pub fn renew_once(&self) {
        let ttl_ms = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        for chore in CHORES {
            let got = self.meta.acquire_lease(chore, &self.gateway, ttl_ms);
            let Ok(mut held) = self.held.lock() else {
                return;
            };
            let before = held.get(chore).copied();
            let now = match got {
                Ok(token) => token,
                Err(e) => {
                    tracing::warn!(chore, error = %e, "cannot renew a chore lease; leaving the chore to others");
                    None
                }
            };
            match now {
                Some(token) => {
                    held.insert(chore, token);
                }
                None => {
                    held.remove(chore);
                }
            }
            if before != now {
                tracing::info!(chore, gateway = %self.gateway, token = ?now, "chore lease changed");
            }
            metrics::gauge!("coffer_chore_leader", "chore" => chore).set(if now.is_some() {
                1.0
            } else {
                0.0
            });
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Lets the audit trail seal (cut and sign) while this gateway holds the sealing lease,
/// following it within half a renewal period. A sealer that loses the lease mid-cut is
/// stopped by the trail itself: its state changes by compare-and-swap.
pub async fn seal_audit(audit: Arc<coffer_audit::AuditLog>, leases: Arc<Leases>) {
    loop {
        let holds = leases.holds(AUDIT_SEALING);
        if holds != audit.is_sealing() {
            tracing::info!(sealing = holds, "audit trail sealing changed hands");
            audit.set_sealing(holds);
        }
        tokio::time::sleep(leases.renew_every() / 2).await;
    }
}

/// Ends deletion windows and makes scheduled KMS key rotations, hourly, on the gateway
/// holding [`KMS_SCHEDULE`].
pub async fn kms_schedule(kms: Arc<coffer_kms::BuiltinKms>, leases: Arc<Leases>) {
    loop {
        if leases.holds(KMS_SCHEDULE) {
            let k = kms.clone();
            match tokio::task::spawn_blocking(move || k.run_due(now_ms())).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "scheduled KMS work failed"),
                Err(_) => tracing::error!("scheduled KMS work panicked"),
            }
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Rotates the SSE-S3 master key once its newest version is `period` old, checked hourly on
/// the gateway holding [`MASTER_KEY_ROTATION`].
pub async fn rotate_master_key(s3: CofferS3, period: Duration, leases: Arc<Leases>) {
    loop {
        if leases.holds(MASTER_KEY_ROTATION) {
            let s = s3.clone();
            let done = tokio::task::spawn_blocking(move || {
                let newest = s
                    .master_key_versions()
                    .last()
                    .map(|(_, created)| *created)
                    .unwrap_or(0);
                if rotation_due(newest, now_ms(), period)
                    && let Err(e) = s.rotate_master_key()
                {
                    tracing::error!(error = %e, "scheduled master-key rotation failed");
                }
            })
            .await;
            if done.is_err() {
                tracing::error!("scheduled master-key rotation check panicked");
            }
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Collects what no record names in a shared blob store (past the grace period, without a
/// write intent), hourly, on the gateway holding [`GARBAGE_COLLECTION`]. The embedded store
/// is collected at start instead, under its database lock.
pub async fn collect_shared(
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    leases: Arc<Leases>,
) {
    loop {
        if leases.holds(GARBAGE_COLLECTION) {
            match collect_orphans(meta.as_ref(), blobs.as_ref(), &GcPolicy::default()).await {
                Ok(report) => tracing::info!(
                    orphan_blobs = report.orphan_blobs,
                    young_blobs = report.young_blobs,
                    stale_intents = report.stale_intents,
                    "collected leftovers in the shared store"
                ),
                Err(e) => tracing::warn!(error = %e, "collection in the shared store failed"),
            }
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// How often a gateway over a shared store reloads the master keyring, to learn of a
/// rotation made elsewhere: until it does, it seals new objects under the version before,
/// and a rekey cannot retire that version (`coffer admin rekey` retries for a while).
pub const MASTER_KEY_FOLLOW_PERIOD: Duration = Duration::from_secs(2);

/// Reloads the master keyring every [`MASTER_KEY_FOLLOW_PERIOD`] (every gateway, not only
/// a leader: each must seal under the current version).
pub async fn follow_master_key(s3: CofferS3) {
    loop {
        tokio::time::sleep(MASTER_KEY_FOLLOW_PERIOD).await;
        let s = s3.clone();
        match tokio::task::spawn_blocking(move || s.refresh_master_keys()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot reload the master keyring"),
            Err(_) => tracing::error!("reloading the master keyring panicked"),
        }
    }
}

/// Whether the newest master-key version is `period` old.
pub fn rotation_due(newest_version_ms: i64, now_ms: i64, period: Duration) -> bool {
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_sub(newest_version_ms) >= period_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_due_once_the_newest_version_is_a_period_old() {
        let day = 86_400_000;
        let ninety = Duration::from_secs(90 * 86_400);
        assert!(!rotation_due(0, 89 * day, ninety));
        assert!(rotation_due(0, 90 * day, ninety));
        assert!(rotation_due(0, 400 * day, ninety));
    }
}
