//! What the soak counts: operations by kind, latencies, bytes, and every failure by
//! operation and error code.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::errors::describe;
use crate::stats::{human_size, percentile};

/// The kinds of operation a soak worker performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Put,
    Get,
    GetRange,
    Head,
    Delete,
    List,
    Multipart,
    MultipartAbort,
    Copy,
    /// A read of an SSE-C object without its key or with the wrong one, which must be refused.
    Refused,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Put => "PUT",
            Op::Get => "GET",
            Op::GetRange => "GET-RANGE",
            Op::Head => "HEAD",
            Op::Delete => "DELETE",
            Op::List => "LIST",
            Op::Multipart => "MULTIPART",
            Op::MultipartAbort => "MPU-ABORT",
            Op::Copy => "COPY",
            Op::Refused => "REFUSED",
        })
    }
}

/// Why an operation failed.
#[derive(Debug)]
pub enum Failure {
    /// The request failed: `code` is `404 NoSuchKey`, `timeout`, `dispatch failure`, ...
    Error { code: String, message: String },
    /// The request succeeded but the answer was wrong (content, length, header, listing).
    Mismatch(String),
}

impl Failure {
    /// A failure from an SDK error, classified by HTTP status and S3 error code.
    pub fn from_sdk<E>(what: &str, e: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = match e {
            SdkError::ServiceError(se) => format!(
                "{} {}",
                se.raw().status().as_u16(),
                se.err().code().unwrap_or("(no code)")
            ),
            SdkError::TimeoutError(_) => "timeout".into(),
            SdkError::DispatchFailure(_) => "dispatch failure".into(),
            SdkError::ResponseError(_) => "response error".into(),
            SdkError::ConstructionFailure(_) => "construction failure".into(),
            _ => "other".into(),
        };
        Failure::Error {
            code,
            message: format!("{what}: {}", describe(e)),
        }
    }

    pub fn error(code: &str, message: String) -> Self {
        Failure::Error {
            code: code.into(),
            message,
        }
    }
}

/// What one operation moved and checked.
#[derive(Default)]
pub struct Moved {
    /// Payload bytes uploaded.
    pub sent: u64,
    /// Payload bytes downloaded and compared with the model.
    pub verified: u64,
}

/// The figures of one kind of operation.
#[derive(Default)]
pub struct OpTally {
    pub ok: u64,
    /// Failed requests by error code.
    pub errors: BTreeMap<String, u64>,
    pub mismatches: u64,
    pub latencies: Vec<Duration>,
    pub sent: u64,
    pub verified: u64,
}

impl OpTally {
    pub fn failed(&self) -> u64 {
        self.errors.values().sum::<u64>() + self.mismatches
    }
}

/// A worker's (or the whole run's) figures.
#[derive(Default)]
pub struct Tally {
    pub ops: BTreeMap<Op, OpTally>,
}

impl Tally {
    pub fn record(&mut self, op: Op, latency: Duration, outcome: &Result<Moved, Failure>) {
        let t = self.ops.entry(op).or_default();
        match outcome {
            Ok(moved) => {
                t.ok += 1;
                t.latencies.push(latency);
                t.sent += moved.sent;
                t.verified += moved.verified;
            }
            Err(Failure::Error { code, .. }) => *t.errors.entry(code.clone()).or_default() += 1,
            Err(Failure::Mismatch(_)) => t.mismatches += 1,
        }
    }

    pub fn merge(&mut self, other: Tally) {
        for (op, o) in other.ops {
            let t = self.ops.entry(op).or_default();
            t.ok += o.ok;
            for (code, n) in o.errors {
                *t.errors.entry(code).or_default() += n;
            }
            t.mismatches += o.mismatches;
            t.latencies.extend(o.latencies);
            t.sent += o.sent;
            t.verified += o.verified;
        }
    }

    pub fn passed(&self) -> u64 {
        self.ops.values().map(|t| t.ok).sum()
    }

    pub fn failed(&self) -> u64 {
        self.ops.values().map(OpTally::failed).sum()
    }

    /// One line per kind of operation, then the failures by code and the totals.
    pub fn report(&self, elapsed: Duration) -> Vec<String> {
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        let mut lines = Vec::new();
        for (op, t) in &self.ops {
            let mut sorted = t.latencies.clone();
            sorted.sort_unstable();
            let ms = |p| {
                percentile(&sorted, p).map_or("-".to_string(), |d: Duration| {
                    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
                })
            };
            lines.push(format!(
                "soak op={op:<10} ok={:<7} failed={:<4} {:>8.2} ops/s  p50={} p99={} max={}  sent={} verified={}",
                t.ok,
                t.failed(),
                t.ok as f64 / secs,
                ms(50.0),
                ms(99.0),
                ms(100.0),
                human_size(t.sent),
                human_size(t.verified),
            ));
            for (code, n) in &t.errors {
                lines.push(format!("soak error op={op} code={code:?} count={n}"));
            }
            if t.mismatches > 0 {
                lines.push(format!("soak mismatch op={op} count={}", t.mismatches));
            }
        }
        let sent: u64 = self.ops.values().map(|t| t.sent).sum();
        let verified: u64 = self.ops.values().map(|t| t.verified).sum();
        lines.push(format!(
            "soak total ok={} failed={} elapsed={:.1}s {:.2} ops/s sent={} ({sent} B) verified={} ({verified} B)",
            self.passed(),
            self.failed(),
            secs,
            self.passed() as f64 / secs,
            human_size(sent),
            human_size(verified),
        ));
        lines
    }
}

/// Counters all workers update, for progress lines during a long run and for printing
/// only the first few failures in full.
#[derive(Default)]
pub struct Live {
    pub ops: AtomicU64,
    pub failures: AtomicU64,
}

/// How many failures are printed in full; the rest are only counted.
const PRINTED_FAILURES: u64 = 20;

impl Live {
    pub fn record(&self, worker: usize, op: Op, outcome: &Result<Moved, Failure>) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        if let Err(failure) = outcome {
            let n = self.failures.fetch_add(1, Ordering::Relaxed);
            if n < PRINTED_FAILURES {
                let text = match failure {
                    Failure::Error { code, message } => format!("error [{code}] {message}"),
                    Failure::Mismatch(message) => format!("MISMATCH {message}"),
                };
                eprintln!("soak: worker {worker} {op}: {text}");
            } else if n == PRINTED_FAILURES {
                eprintln!("soak: further failures are only counted");
            }
        }
    }
}
