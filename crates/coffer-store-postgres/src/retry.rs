//! Every call runs as SERIALIZABLE transactions, and a serializable database may refuse to
//! commit one that raced another (SQLSTATE 40001; a deadlock, 40P01, is the same story).
//! Such a refusal changed nothing, so the whole attempt is run again, a bounded number of
//! times with jittered backoff so that racing writers spread out instead of colliding again.

use std::future::Future;
use std::time::Duration;

use coffer_store::StoreError;
use tokio_postgres::error::SqlState;

/// Attempts per call. Sixteen with the backoff below span about three seconds, far more
/// than the contention a key sees in practice; past it the caller gets `Unavailable`
/// (503 SlowDown at the S3 layer), which clients retry themselves.
const MAX_ATTEMPTS: u32 = 16;
/// First backoff; doubles each attempt, capped at [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_millis(300);
/// How long one attempt may take before the database is deemed unreachable.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an attempt failed: worth running again, or final.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The database refused the transaction because of a race; nothing was written.
    Retry(String),
    Store(StoreError),
}

pub(crate) type Attempt<T> = Result<T, Fail>;

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        classify(&e)
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => classify(&e),
            // No connection within the pool's timeouts: the database is down or saturated.
            other => Fail::Store(StoreError::Unavailable(format!("postgres pool: {other}"))),
        }
    }
}

/// Sorts a driver error into: retry (a race the database resolved by refusing us), the
/// database being unreachable or going away (`Unavailable`), or anything else (`Database`).
pub(crate) fn classify(e: &tokio_postgres::Error) -> Fail {
    let Some(code) = e.code() else {
        return Fail::Store(if is_connection_error(e) {
            StoreError::Unavailable(format!("postgres: {e}"))
        } else {
            // A parameter or column of the wrong type, bad configuration: a bug or a
            // misconfiguration, which a retry by the client would not cure.
            StoreError::Database(format!("postgres: {e}"))
        });
    };
    if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        return Fail::Retry(describe(e));
    }
    let class = &code.code()[..2];
    // 08: connection exception; 53: insufficient resources (too many connections, disk
    // full); 57: operator intervention (shutdown, restart, statement timeout).
    if matches!(class, "08" | "53" | "57") {
        return Fail::Store(StoreError::Unavailable(format!("postgres: {e}")));
    }
    Fail::Store(StoreError::Database(format!("postgres: {}", describe(e))))
}

/// Whether an error without SQLSTATE is the connection's own (refused, reset, closed, TLS,
/// timed out). tokio-postgres does not expose its error kinds, only their wording and an
/// I/O source.
fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    use std::error::Error as _;
    if e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        return true;
    }
    let text = e.to_string();
    [
        "error connecting",
        "error communicating",
        "error performing TLS",
        "timeout waiting",
        "unexpected message",
        "connection closed",
    ]
    .iter()
    .any(|p| text.starts_with(p))
}

/// The server's message with its detail, which `Display` leaves out.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({}): {detail}", db.message(), db.code().code()),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => e.to_string(),
    }
}

/// A small pseudo-random jitter in `[0, max)` without a generator to share: the clock's
/// nanoseconds mixed with a per-call counter are random enough to spread colliding writers.
fn jitter(max: Duration) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let mut x = nanos ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    let max_us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX).max(1);
    Duration::from_micros(x % max_us)
}

/// Runs `attempt` until it succeeds, fails for good, or has been refused
/// [`MAX_ATTEMPTS`] times. Each attempt must be a whole transaction (or one statement): a
/// refused attempt left nothing behind, so running it again is safe.
pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    for n in 0..MAX_ATTEMPTS {
        if n > 0 {
            // Half fixed, half random: waits grow, and writers that collided do not
            // collide again in lockstep.
            tokio::time::sleep(backoff / 2 + jitter(backoff)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(Fail::Store(e))) => return Err(e),
            Ok(Err(Fail::Retry(why))) => {
                tracing::debug!(attempt = n + 1, %why, "postgres transaction refused; retrying");
                last = why;
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "postgres did not answer within {ATTEMPT_TIMEOUT:?}"
                )));
            }
        }
    }
    Err(StoreError::Unavailable(format!(
        "postgres refused the transaction {MAX_ATTEMPTS} times (last: {last})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_refused_attempt_runs_again_and_a_final_error_does_not() {
        let calls = AtomicU32::new(0);
        let out = retrying(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Fail::Retry("40001".into()))
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!((out, calls.load(Ordering::SeqCst)), (7, 3));

        let calls = AtomicU32::new(0);
        let e = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Fail::Store(StoreError::NoSuchBucket))
        })
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::NoSuchBucket));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn endless_refusals_end_as_unavailable_after_the_bound() {
        let calls = AtomicU32::new(0);
        let e = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Fail::Retry("40001".into()))
        })
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        assert_eq!(calls.load(Ordering::SeqCst), MAX_ATTEMPTS);
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        for _ in 0..1000 {
            assert!(jitter(Duration::from_millis(3)) < Duration::from_millis(3));
        }
    }
}
