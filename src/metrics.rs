//! Latencies measured below the server layer (the log's fsync, apply), kept
//! as process-wide Prometheus histograms: several layers record into them
//! and the admin endpoints read them, without threading a handle through
//! storage and consensus.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, Registry};

fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    // Fixed, valid names and buckets: construction cannot fail at run time.
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .unwrap_or_else(|e| unreachable!("metric {name}: {e}"))
}

/// Time to make a log append durable, in ms (ZooKeeper's `fsynctime`).
pub static FSYNC_MS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "fsynctime",
        "Time to fsync a log append, in ms",
        vec![
            0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0,
        ],
    )
});

/// Time to apply one committed log entry (a batch of txns) and queue its replies.
pub static APPLY_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "corral_apply_seconds",
        "Time to apply one committed log entry and queue its replies and notifications",
        prometheus::exponential_buckets(1e-6, 4.0, 12).unwrap_or_default(),
    )
});

/// Both, for `/metrics`.
pub static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let registry = Registry::new();
    for h in [&*FSYNC_MS, &*APPLY_SECONDS] {
        // Registering two distinct names in a fresh registry cannot collide.
        let _ = registry.register(Box::new(h.clone()));
    }
    registry
});

pub fn observe_fsync(d: Duration) {
    FSYNC_MS.observe(d.as_secs_f64() * 1000.0);
}

pub fn observe_apply(d: Duration) {
    APPLY_SECONDS.observe(d.as_secs_f64());
}

/// (count, average ms) of fsyncs so far, for `mntr`.
pub fn fsync_summary() -> (u64, f64) {
    let n = FSYNC_MS.get_sample_count();
    let avg = if n == 0 {
        0.0
    } else {
        FSYNC_MS.get_sample_sum() / n as f64
    };
    (n, avg)
}
