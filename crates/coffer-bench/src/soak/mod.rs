//! `--workload soak`: many clients mixing every kind of request in every encryption mode
//! for a fixed time, with every answer checked.
//!
//! Each of `--concurrency` workers owns eight keys and loops over a random mix of PUT (0 B
//! to 12 MiB), full and ranged GET verified byte for byte, HEAD, DELETE, LIST, multipart
//! uploads (completed or aborted), CopyObject within and across modes, and SSE-C reads that
//! must be refused — in SSE-S3 (explicit and bucket default), SSE-KMS (with and without a
//! Bucket Key) and SSE-C (two customer keys). At the deadline each worker reads back and
//! deletes everything it holds; then the bucket must hold no object and no upload under
//! `soak/`.
//!
//! Any failed request or wrong answer makes the run fail; the first few are printed in full
//! and all are counted by operation and error code. Resource use of the server is watched
//! from outside (`scripts/soak.sh`), since a client cannot see it.

mod content;
mod mode;
mod rng;
mod tally;
mod worker;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::args::Args;
use crate::s3;
use crate::soak::mode::CustomerKeys;
use crate::soak::tally::{Live, Tally};
use crate::soak::worker::{Shared, Worker};

/// How often a progress line goes to stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// Runs the soak; `Ok(false)` when it completed but saw failures.
pub async fn run(args: Args, duration: Duration) -> Result<bool, String> {
    println!(
        "coffer-bench soak endpoint={} bucket={} concurrency={} duration={}s seed={}",
        args.endpoint,
        args.bucket,
        args.concurrency,
        duration.as_secs(),
        args.seed,
    );
    let http = crate::http_client::Hyper::new(args.ca_bundle.as_deref(), args.http2)?;
    let client = s3::client(
        &args,
        args.endpoints().first().copied().unwrap_or_default(),
        &http,
    )?;
    if s3::ensure_bucket(&client, &args.bucket, &args.region).await? {
        s3::allow_sse_c(&client, &args.bucket).await?;
    }
    let shared = Arc::new(Shared {
        client,
        bucket: args.bucket.clone(),
        keys: CustomerKeys::from_seed(args.seed)?,
        live: Live::default(),
    });

    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = JoinSet::new();
    for id in 0..args.concurrency as usize {
        let (shared, seed) = (shared.clone(), args.seed);
        workers.spawn(async move {
            let mut worker = Worker::new(id, &shared, seed);
            worker.run(deadline).await;
            worker.tally
        });
    }

    let mut total = Tally::default();
    let mut panicked = 0u64;
    let mut progress =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        tokio::select! {
            joined = workers.join_next() => match joined {
                None => break,
                Some(Ok(tally)) => total.merge(tally),
                Some(Err(e)) => {
                    panicked += 1;
                    eprintln!("soak: a worker died: {e}");
                }
            },
            _ = progress.tick() => eprintln!(
                "soak: {:>5}s ops={} failed={}",
                start.elapsed().as_secs(),
                shared.live.ops.load(Ordering::Relaxed),
                shared.live.failures.load(Ordering::Relaxed),
            ),
        }
    }
    let elapsed = start.elapsed();

    for line in total.report(elapsed) {
        println!("{line}");
    }
    let leftovers = leftovers(&shared).await;
    if let Err(e) = &leftovers {
        println!("soak leftover check failed: {e}");
    }
    Ok(total.failed() == 0 && panicked == 0 && leftovers.is_ok())
}

/// Every worker deleted what it held and finished or aborted every upload, so nothing
/// may remain under `soak/`.
async fn leftovers(shared: &Shared) -> Result<(), String> {
    let objects = shared
        .client
        .list_objects_v2()
        .bucket(&shared.bucket)
        .prefix("soak/")
        .send()
        .await
        .map_err(|e| format!("ListObjectsV2: {}", crate::errors::describe(&e)))?;
    if objects.key_count().unwrap_or(0) > 0 {
        return Err(format!(
            "objects left under soak/: {:?}",
            objects
                .contents()
                .iter()
                .map(|o| o.key())
                .collect::<Vec<_>>()
        ));
    }
    let uploads = shared
        .client
        .list_multipart_uploads()
        .bucket(&shared.bucket)
        .prefix("soak/")
        .send()
        .await
        .map_err(|e| format!("ListMultipartUploads: {}", crate::errors::describe(&e)))?;
    if !uploads.uploads().is_empty() {
        return Err(format!(
            "{} multipart uploads left under soak/, e.g. {:?}",
            uploads.uploads().len(),
            uploads.uploads().first().and_then(|u| u.key())
        ));
    }
    Ok(())
}
