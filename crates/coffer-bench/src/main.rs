//! `coffer-bench`: a load generator for S3-compatible endpoints.
//!
//! It measures throughput and latency of any S3 endpoint — Coffer or another server, so
//! the same tool gives comparable numbers for both — in three phases over `--count`
//! objects of `--size` bytes, with `--concurrency` requests in flight:
//!
//! 1. PUT every object,
//! 2. GET every object and verify each byte against what was uploaded,
//! 3. DELETE every object (skipped with `--keep`).
//!
//! Each server-side encryption mode can be measured with `--sse none|s3|kms[:KEY]|c`
//! (SSE-C uses a random key generated for the run). `--ca-bundle` trusts a private CA,
//! e.g. a development server's self-signed certificate, for https endpoints. Requests go
//! over HTTP/1.1, or HTTP/2 with `--http2`. When the server exports
//! `process_cpu_seconds_total` on `/metrics` (Coffer does), each phase also reports the
//! server's CPU time and its CPU seconds per GiB moved.
//!
//! `--workload soak --duration 10m` instead runs a timed mix of every request in every
//! mode against keys each worker owns, checking every answer (see `soak`).
//!
//! One summary line per phase goes to stdout; progress bars and error details go to
//! stderr. The exit status is non-zero if any request failed or any object came back
//! with the wrong content. Requests are not retried, so every failure is counted.

#![forbid(unsafe_code)]

mod args;
mod data;
mod errors;
mod http_client;
mod ops;
mod phase;
mod s3;
mod soak;
mod sse;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;

use crate::args::{Args, Workload};
use crate::data::Payload;
use crate::ops::Bench;
use crate::phase::Phase;
use crate::sse::Sse;
use crate::stats::human_size;

fn main() -> ExitCode {
    let args = Args::parse_checked();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|runtime| {
            runtime.block_on(async {
                match args.workload {
                    Workload::Bench => run(args).await,
                    Workload::Soak => {
                        let duration = args.duration;
                        soak::run(args, duration).await
                    }
                }
            })
        });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("coffer-bench: some requests failed or returned wrong data");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("coffer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark; `Ok(false)` when it completed but saw failures.
async fn run(args: Args) -> Result<bool, String> {
    // `Args::parse_checked` requires both for the bench workload.
    let (Some(size_bytes), Some(count)) = (args.size, args.count) else {
        return Err("--size and --count are required".into());
    };
    let size = usize::try_from(size_bytes).map_err(|_| "--size is too large".to_string())?;
    println!(
        "coffer-bench endpoint={} bucket={} sse={} size={} ({} bytes) count={} concurrency={}",
        args.endpoint,
        args.bucket,
        args.sse,
        human_size(size_bytes),
        size_bytes,
        count,
        args.concurrency,
    );

    let http = http_client::Hyper::new(args.ca_bundle.as_deref(), args.http2)?;
    let endpoints = args.endpoints();
    let clients = endpoints
        .iter()
        .map(|e| s3::client(&args, e, &http))
        .collect::<Result<Vec<_>, _>>()?;
    let client = clients
        .first()
        .cloned()
        .ok_or("--endpoint names no endpoint")?;
    let server_cpu = ServerCpu {
        http: http.clone(),
        urls: endpoints
            .iter()
            .map(|e| format!("{}/metrics", e.trim_end_matches('/')))
            .collect(),
    };
    let sse = Sse::new(args.sse.clone(), args.seed)?;
    let created = s3::ensure_bucket(&client, &args.bucket, &args.region).await?;
    if created && args.sse == sse::SseMode::Customer {
        s3::allow_sse_c(&client, &args.bucket).await?;
    }
    let seed = args.seed;
    let payload = tokio::task::spawn_blocking(move || Payload::new(size, seed))
        .await
        .map_err(|e| format!("cannot generate object data: {e}"))?;

    let bench = Arc::new(Bench {
        clients,
        bucket: args.bucket.clone(),
        sse,
        payload,
    });
    let phase = |name, transfers_data| Phase {
        name,
        count,
        concurrency: args.concurrency,
        size: size_bytes,
        transfers_data,
    };

    let mut ok = true;
    if !args.skip_put {
        let b = bench.clone();
        let cpu = server_cpu.read().await;
        let put = phase::run(phase("PUT", true), move |i| {
            let b = b.clone();
            async move { b.put(i).await }
        })
        .await;
        println!(
            "{}{}",
            put.summary(),
            server_cpu.since(cpu, put.bytes).await
        );
        ok &= !put.failed();
    }

    let b = bench.clone();
    let cpu = server_cpu.read().await;
    let get = phase::run(phase("GET", true), move |i| {
        let b = b.clone();
        async move { b.get(i).await }
    })
    .await;
    println!(
        "{}{}",
        get.summary(),
        server_cpu.since(cpu, get.bytes).await
    );
    ok &= !get.failed();

    if !args.keep {
        let b = bench.clone();
        let delete = phase::run(phase("DELETE", false), move |i| {
            let b = b.clone();
            async move { b.delete(i).await }
        })
        .await;
        println!("{}", delete.summary());
        ok &= !delete.failed();
    }
    Ok(ok)
}

/// What the servers' `/metrics` say of their work, summed over every endpoint: CPU time and,
/// for a server with an audit trail, what its journal did.
struct ServerCpu {
    http: http_client::Hyper,
    urls: Vec<String>,
}

/// One reading of [`ServerCpu`]'s figures.
#[derive(Clone, Copy, Default)]
struct Reading {
    cpu_seconds: f64,
    /// Audit records on disk, the journal syncs that put them there, how long the records
    /// waited for it and how long the syncs took, in all (seconds).
    audit_records: f64,
    audit_syncs: f64,
    audit_wait_seconds: f64,
    audit_sync_seconds: f64,
}

/// The value of the unlabelled series `name` in a Prometheus text exposition.
fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(name))
        .find_map(|rest| rest.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
}

impl ServerCpu {
    async fn read(&self) -> Option<Reading> {
        let mut total = Reading::default();
        for url in &self.urls {
            let text = self.http.get_text(url).await?;
            total.cpu_seconds += series(&text, "process_cpu_seconds_total")?;
            // Absent until the first record: a server without audited requests yet.
            total.audit_records +=
                series(&text, "coffer_audit_records_appended_total").unwrap_or(0.0);
            total.audit_syncs +=
                series(&text, "coffer_audit_journal_sync_seconds_count").unwrap_or(0.0);
            total.audit_wait_seconds +=
                series(&text, "coffer_audit_record_wait_seconds_sum").unwrap_or(0.0);
            total.audit_sync_seconds +=
                series(&text, "coffer_audit_journal_sync_seconds_sum").unwrap_or(0.0);
        }
        Some(total)
    }

    /// `  server_cpu=…s (… s/GiB)` for a phase that began at `before` and moved `bytes`,
    /// then, if the phase wrote audit records, `  audit: records=… per_sync=… wait=…ms
    /// sync=…ms`: their mean wait for the disk, which every audited request spends on top of
    /// its own work, and the mean time of one journal write and sync, the disk's part of it.
    /// Empty when the server does not say.
    async fn since(&self, before: Option<Reading>, bytes: u64) -> String {
        let (Some(b), Some(a)) = (before, self.read().await) else {
            return String::new();
        };
        let cpu = a.cpu_seconds - b.cpu_seconds;
        let mut line = if bytes > 0 {
            format!(
                "  server_cpu={cpu:.2}s ({:.2} s/GiB)",
                cpu / (bytes as f64 / (1u64 << 30) as f64)
            )
        } else {
            format!("  server_cpu={cpu:.2}s")
        };
        let records = a.audit_records - b.audit_records;
        let syncs = a.audit_syncs - b.audit_syncs;
        if records > 0.0 && syncs > 0.0 {
            line.push_str(&format!(
                "  audit: records={records:.0} per_sync={:.1} wait={:.2}ms sync={:.2}ms",
                records / syncs,
                (a.audit_wait_seconds - b.audit_wait_seconds) / records * 1e3,
                (a.audit_sync_seconds - b.audit_sync_seconds) / syncs * 1e3
            ));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::series;

    #[test]
    fn a_series_is_read_by_its_whole_name() {
        let text = "# TYPE x_total counter\n\
                    x_total_more 5\n\
                    x_total 3.5\n\
                    y{le=\"1\"} 2\n";
        assert_eq!(series(text, "x_total"), Some(3.5));
        assert_eq!(series(text, "x_total_more"), Some(5.0));
        assert_eq!(series(text, "x"), None);
        assert_eq!(series(text, "y"), None);
    }
}
