//! This process's CPU time and resident memory, set on each `/metrics` scrape: what a
//! benchmark divides by the bytes it moved to report server CPU per GiB (HTTPS against HTTP,
//! say) without a profiler.

/// Seconds of CPU (user and system) this process has used, and its resident set in bytes,
/// from `/proc/self/stat`.
fn read() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after it start past its ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12,
    // rss (24, in pages) at 21.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let pages: f64 = fields.get(21)?.parse().ok()?;
    Some((ticks / clock_ticks(), pages * page_size()))
}

#[allow(unsafe_code)]
fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the running system and has no other effect.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as f64 } else { 100.0 }
}

#[allow(unsafe_code)]
fn page_size() -> f64 {
    // SAFETY: as above.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as f64 } else { 4096.0 }
}

/// Sets `process_cpu_seconds_total` and `process_resident_memory_bytes` (Prometheus's
/// usual names for them) to their values now.
pub fn record() {
    if let Some((cpu, rss)) = read() {
        metrics::gauge!("process_cpu_seconds_total").set(cpu);
        metrics::gauge!("process_resident_memory_bytes").set(rss);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_grows_with_work_and_memory_is_plausible() {
        let (before, rss) = super::read().unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(150) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let (after, _) = super::read().unwrap();
        assert!(after - before >= 0.05, "{before} -> {after}");
        assert!(rss > 1e6 && rss < 1e11, "{rss}");
    }
}
