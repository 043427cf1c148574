//! Per-connection counters, their merge, and the one-line JSON result.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use jute::ErrorCode;

use crate::Args;

/// Latencies are recorded in nanoseconds, 1 ns to 60 s, 3 significant digits.
const HIST_MAX_NS: u64 = 60_000_000_000;

#[derive(Clone)]
pub struct Stats {
    /// Successful replies received inside the measured window.
    pub ok: u64,
    /// Error replies by code, whenever they arrived (warm-up included).
    pub errors: BTreeMap<i32, u64>,
    /// Latency of the successful measured replies, ns.
    pub hist: Histogram<u64>,
    /// Connection-level failures: i/o, protocol violations, stalls.
    pub conn_errors: Vec<String>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            ok: 0,
            errors: BTreeMap::new(),
            // The bounds are constants that Histogram accepts (low >= 1, high >= 2 * low, sigfig <= 5).
            hist: Histogram::new_with_bounds(1, HIST_MAX_NS, 3)
                .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid")),
            conn_errors: Vec::new(),
        }
    }

    pub fn record(&mut self, ns: u64) {
        self.hist.saturating_record(ns.clamp(1, HIST_MAX_NS));
    }

    pub fn merge(&mut self, other: Stats) {
        self.ok += other.ok;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        // Same bounds on both sides, so adding cannot fail; saturate rather than panic if it did.
        if self.hist.add(&other.hist).is_err() {
            for v in other.hist.iter_recorded() {
                self.hist
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.conn_errors.extend(other.conn_errors);
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The counters of the connections that went to one address.
pub struct AddrStats {
    pub addr: String,
    pub conns: usize,
    pub stats: Stats,
}

pub struct Report {
    pub json: String,
    pub human: String,
    pub failed: bool,
}

/// Where the CPU figures come from, measured around the window.
pub struct Cpu {
    pub server_us: Option<u64>,
    pub client_us: Option<u64>,
}

pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "null".to_string(), |v| format!("{v:.2}"))
}

fn code_name(code: i32) -> String {
    ErrorCode::from_code(code).map_or_else(|| format!("{code}"), |c| format!("{c:?}({code})"))
}

/// The report of a run: totals over every address, and with several addresses a `per_addr`
/// array (connections, successful ops, ops/s, p50/p99, errors of each address's sessions).
pub fn build(args: &Args, per_addr: &[AddrStats], elapsed_s: f64, cpu: Cpu) -> Report {
    let mut total = Stats::new();
    for a in per_addr {
        total.merge(a.stats.clone());
    }
    let stats = &total;
    let us = |q: f64| stats.hist.value_at_quantile(q) as f64 / 1000.0;
    let have = !stats.hist.is_empty();
    let lat = |q: f64| if have { Some(us(q)) } else { None };
    let ops_per_sec = if elapsed_s > 0.0 {
        stats.ok as f64 / elapsed_s
    } else {
        0.0
    };
    let per_op =
        |total: Option<u64>| total.and_then(|t| (stats.ok > 0).then(|| t as f64 / stats.ok as f64));
    let server_cpu = per_op(cpu.server_us);
    let client_cpu = per_op(cpu.client_us);
    let errors = stats.error_total();
    let mut codes = String::from("{");
    for (i, (code, n)) in stats.errors.iter().enumerate() {
        if i > 0 {
            codes.push(',');
        }
        let _ = write!(codes, "{}:{n}", json_str(&code_name(*code)));
    }
    codes.push('}');
    let first_conn_error = stats.conn_errors.first().map(String::as_str);
    let mut json = format!(
        concat!(
            "{{\"op\":{},\"label\":{},\"addr\":{},\"conns\":{},\"pipeline\":{},",
            "\"secs\":{:.3},\"value_size\":{},\"ops\":{},\"elapsed_s\":{:.3},",
            "\"ops_per_sec\":{:.1},\"mean_us\":{},\"p50_us\":{},\"p99_us\":{},",
            "\"p999_us\":{},\"max_us\":{},\"errors\":{},\"error_codes\":{},",
            "\"conn_errors\":{},\"first_conn_error\":{},",
            "\"server_cpu_us_per_op\":{},\"client_cpu_us_per_op\":{}"
        ),
        json_str(args.op.name()),
        json_str(&args.label),
        json_str(&args.addr),
        args.conns,
        args.pipeline,
        args.secs,
        args.value_size,
        stats.ok,
        elapsed_s,
        ops_per_sec,
        opt(have.then(|| stats.hist.mean() / 1000.0)),
        opt(lat(0.5)),
        opt(lat(0.99)),
        opt(lat(0.999)),
        opt(have.then(|| stats.hist.max() as f64 / 1000.0)),
        errors,
        codes,
        stats.conn_errors.len(),
        first_conn_error.map_or_else(|| "null".to_string(), json_str),
        opt(server_cpu),
        opt(client_cpu),
    );
    if per_addr.len() > 1 {
        json.push_str(",\"per_addr\":[");
        for (i, a) in per_addr.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            let s = &a.stats;
            let q = |p: f64| {
                opt((!s.hist.is_empty()).then(|| s.hist.value_at_quantile(p) as f64 / 1000.0))
            };
            let rate = if elapsed_s > 0.0 {
                s.ok as f64 / elapsed_s
            } else {
                0.0
            };
            let _ = write!(
                json,
                concat!(
                    "{{\"addr\":{},\"conns\":{},\"ops\":{},\"ops_per_sec\":{:.1},",
                    "\"p50_us\":{},\"p99_us\":{},\"errors\":{},\"conn_errors\":{}}}"
                ),
                json_str(&a.addr),
                a.conns,
                s.ok,
                rate,
                q(0.5),
                q(0.99),
                s.error_total(),
                s.conn_errors.len()
            );
        }
        json.push(']');
    }
    json.push('}');
    let fmt_us = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}µs"));
    let mut human = format!(
        "{} {}: {} ops in {:.2}s = {:.0} ops/s; p50 {} p99 {} p99.9 {}; errors {}, connection errors {}",
        args.op.name(),
        args.addr,
        stats.ok,
        elapsed_s,
        ops_per_sec,
        fmt_us(lat(0.5)),
        fmt_us(lat(0.99)),
        fmt_us(lat(0.999)),
        errors,
        stats.conn_errors.len(),
    );
    if let Some(s) = server_cpu {
        let _ = write!(human, "; server CPU {s:.1}µs/op");
    }
    if let Some(c) = client_cpu {
        let _ = write!(human, "; client CPU {c:.1}µs/op");
    }
    if per_addr.len() > 1 {
        for a in per_addr {
            let s = &a.stats;
            let rate = if elapsed_s > 0.0 {
                s.ok as f64 / elapsed_s
            } else {
                0.0
            };
            let p = |q: f64| {
                fmt_us((!s.hist.is_empty()).then(|| s.hist.value_at_quantile(q) as f64 / 1000.0))
            };
            let _ = write!(
                human,
                "\n  {} ({} conns): {:.0} ops/s, p50 {} p99 {}, errors {}, connection errors {}",
                a.addr,
                a.conns,
                rate,
                p(0.5),
                p(0.99),
                s.error_total(),
                s.conn_errors.len()
            );
        }
    }
    for e in stats.conn_errors.iter().take(5) {
        let _ = write!(human, "\n  connection error: {e}");
    }
    let failed = errors > 0 || !stats.conn_errors.is_empty() || stats.ok == 0;
    Report {
        json,
        human,
        failed,
    }
}
