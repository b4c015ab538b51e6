//! Runs one phase: C workers pulling object indexes from a shared counter.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinSet;

use crate::stats::PhaseReport;

/// A successful request.
pub struct Done {
    /// Payload bytes moved.
    pub bytes: u64,
    pub latency: Duration,
}

/// A request that did not succeed.
pub enum OpError {
    /// The request failed (transport, HTTP or service error).
    Failed(String),
    /// The request succeeded but returned the wrong content.
    Mismatch(String),
}

/// Static description of a phase.
pub struct Phase {
    pub name: &'static str,
    pub count: u64,
    pub concurrency: u64,
    pub size: u64,
    pub transfers_data: bool,
}

#[derive(Default)]
struct WorkerTally {
    latencies: Vec<Duration>,
    bytes: u64,
    errors: u64,
    mismatches: u64,
}

/// Calls `op(index)` for every index in `0..count`, `concurrency` at a time.
pub async fn run<F, Fut>(phase: Phase, op: F) -> PhaseReport
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Done, OpError>> + Send + 'static,
{
    let bar = progress_bar(phase.name, phase.count);
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let reported_error = Arc::new(AtomicBool::new(false));
    let reported_mismatch = Arc::new(AtomicBool::new(false));

    let start = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..phase.concurrency.min(phase.count) {
        let (op, next, bar) = (op.clone(), next.clone(), bar.clone());
        let (reported_error, reported_mismatch) =
            (reported_error.clone(), reported_mismatch.clone());
        let (name, count) = (phase.name, phase.count);
        workers.spawn(async move {
            let mut tally = WorkerTally::default();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    break;
                }
                match op(index).await {
                    Ok(done) => {
                        tally.latencies.push(done.latency);
                        tally.bytes += done.bytes;
                    }
                    Err(OpError::Failed(msg)) => {
                        tally.errors += 1;
                        report_once(&reported_error, &bar, || {
                            format!("{name}: first error (object {index}): {msg}")
                        });
                    }
                    Err(OpError::Mismatch(msg)) => {
                        tally.mismatches += 1;
                        report_once(&reported_mismatch, &bar, || {
                            format!("{name}: first mismatch (object {index}): {msg}")
                        });
                    }
                }
                bar.inc(1);
            }
            tally
        });
    }

    let mut total = WorkerTally::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(tally) => {
                total.latencies.extend(tally.latencies);
                total.bytes += tally.bytes;
                total.errors += tally.errors;
                total.mismatches += tally.mismatches;
            }
            Err(e) => {
                // A worker panicked or was cancelled; its requests cannot be accounted for.
                total.errors += 1;
                report_once(&reported_error, &bar, || {
                    format!("{}: worker failed: {e}", phase.name)
                });
            }
        }
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();

    PhaseReport {
        name: phase.name,
        count: phase.count,
        concurrency: phase.concurrency,
        size: phase.size,
        transfers_data: phase.transfers_data,
        elapsed,
        bytes: total.bytes,
        latencies: total.latencies,
        errors: total.errors,
        mismatches: total.mismatches,
    }
}

/// Prints `message()` to stderr the first time `flag` is raised.
fn report_once(flag: &AtomicBool, bar: &ProgressBar, message: impl FnOnce() -> String) {
    if !flag.swap(true, Ordering::Relaxed) {
        let message = message();
        bar.suspend(|| eprintln!("{message}"));
    }
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn progress_bar(name: &str, count: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(count), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix:<6} [{elapsed_precise}] {wide_bar} {pos}/{len} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(name.to_string());
    bar
}
