//! Counters the four-letter words report.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub struct Stats {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    latency_count: AtomicU64,
    latency_total_us: AtomicU64,
    latency_min_us: AtomicU64,
    latency_max_us: AtomicU64,
}

impl Stats {
    pub fn record_latency(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if self.latency_count.fetch_add(1, Ordering::Relaxed) == 0 {
            self.latency_min_us.store(us, Ordering::Relaxed);
        } else {
            self.latency_min_us.fetch_min(us, Ordering::Relaxed);
        }
        self.latency_total_us.fetch_add(us, Ordering::Relaxed);
        self.latency_max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// (min, avg, max) in ms, as ZooKeeper reports them.
    pub fn latency_ms(&self) -> (f64, f64, f64) {
        let n = self.latency_count.load(Ordering::Relaxed);
        if n == 0 {
            return (0.0, 0.0, 0.0);
        }
        let ms = |us: u64| us as f64 / 1000.0;
        (
            ms(self.latency_min_us.load(Ordering::Relaxed)),
            ms(self.latency_total_us.load(Ordering::Relaxed)) / n as f64,
            ms(self.latency_max_us.load(Ordering::Relaxed)),
        )
    }
}
