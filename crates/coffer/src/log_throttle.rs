//! A warning that may repeat in a tight loop (every failed `accept` while descriptors are
//! exhausted) is written at most once per interval, with the count of repeats held back
//! since the last line written, so a fault cannot fill the disk with its own log.

use std::time::{Duration, Instant};

/// Decides which occurrences of one repeated event are written.
pub struct LogThrottle {
    interval: Duration,
    last_written: Option<Instant>,
    held_back: u64,
}

impl LogThrottle {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_written: None,
            held_back: 0,
        }
    }

    /// `Some(n)` when this occurrence should be written, `n` being how many were held back
    /// since the last one written; `None` when it should be counted and dropped.
    pub fn admit(&mut self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&mut self, now: Instant) -> Option<u64> {
        match self.last_written {
            Some(t) if now.saturating_duration_since(t) < self.interval => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last_written = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_counting_the_repeats_in_between() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut t = LogThrottle::new(second);
        assert_eq!(t.admit_at(start), Some(0));
        for i in 1..=1000 {
            assert_eq!(t.admit_at(start + Duration::from_micros(i)), None);
        }
        assert_eq!(t.admit_at(start + second), Some(1000));
        assert_eq!(t.admit_at(start + second + Duration::from_millis(1)), None);
        assert_eq!(t.admit_at(start + 3 * second), Some(1));
    }
}
