//! Phase results and their one-line summary.

use std::time::Duration;

/// What one phase measured.
pub struct PhaseReport {
    pub name: &'static str,
    /// Requests issued.
    pub count: u64,
    pub concurrency: u64,
    /// Object size in bytes.
    pub size: u64,
    /// Whether the phase moves object data (PUT, GET) or not (DELETE).
    pub transfers_data: bool,
    /// Wall time from the first request to the last response.
    pub elapsed: Duration,
    /// Payload bytes moved by successful requests.
    pub bytes: u64,
    /// Latencies of the successful requests.
    pub latencies: Vec<Duration>,
    pub errors: u64,
    /// Objects whose content did not match (GET only).
    pub mismatches: u64,
}

impl PhaseReport {
    pub fn failed(&self) -> bool {
        self.errors > 0 || self.mismatches > 0
    }

    /// `PUT    n=16 size=64.00MiB c=4  elapsed=3.21s  399.1 MiB/s  4.98 ops/s  p50=812.3ms ...`
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let per_sec = |x: f64| if secs > 0.0 { x / secs } else { 0.0 };
        let throughput = if self.transfers_data {
            format!("{:.1} MiB/s", per_sec(self.bytes as f64 / MIB))
        } else {
            "- MiB/s".to_string()
        };
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let mut line = format!(
            "{:<6} n={} size={} c={}  elapsed={:.2}s  {}  {:.2} ops/s  p50={} p99={} errors={}",
            self.name,
            self.count,
            human_size(self.size),
            self.concurrency,
            secs,
            throughput,
            per_sec(self.count as f64),
            fmt_latency(percentile(&sorted, 50.0)),
            fmt_latency(percentile(&sorted, 99.0)),
            self.errors,
        );
        if self.mismatches > 0 {
            line.push_str(&format!(" mismatches={}", self.mismatches));
        }
        line
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Nearest-rank percentile of an ascending list; `None` when it is empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn fmt_latency(d: Option<Duration>) -> String {
    match d {
        None => "-".to_string(),
        Some(d) => {
            let ms = d.as_secs_f64() * 1000.0;
            if ms < 10.0 {
                format!("{ms:.2}ms")
            } else {
                format!("{ms:.1}ms")
            }
        }
    }
}

/// `67108864` → `64.00MiB`, `512` → `512B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::{human_size, percentile};
    use std::time::Duration;

    fn ms(list: &[u64]) -> Vec<Duration> {
        list.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentiles_nearest_rank() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&sorted, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&sorted, 0.0), Some(Duration::from_millis(1)));

        let small = ms(&[10, 20, 30]);
        assert_eq!(percentile(&small, 50.0), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&small, 99.0), Some(Duration::from_millis(30)));
        assert_eq!(percentile(&ms(&[7]), 99.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4096), "4.00KiB");
        assert_eq!(human_size(64 << 20), "64.00MiB");
        assert_eq!(human_size(3 << 30), "3.00GiB");
    }
}
