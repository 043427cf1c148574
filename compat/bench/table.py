#!/usr/bin/env python3
"""Turn run.sh's JSON lines into the Markdown report (stdout).

Every ratio is oriented so that > 1 means Corral is better: Corral/ZooKeeper
for higher-is-better metrics (throughput), ZooKeeper/Corral for
lower-is-better ones (latency, memory, CPU, start-up time).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

SERVERS = ("zk", "corral")


def sh(cmd):
    try:
        out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20)
        return (out.stdout + out.stderr).strip()
    except Exception as e:  # noqa: BLE001 - best effort machine description
        return f"? ({e})"


def machine():
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or platform.machine()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rev = sh(f"git -C {root} rev-parse --short HEAD")
    dirty = sh(f"git -C {root} status --porcelain --untracked-files=no")
    return {
        "nproc": os.cpu_count(),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "cpu": model,
        "kernel": platform.release(),
        "zookeeper": sh("dpkg-query -W -f='${Version}' zookeeper"),
        "java": sh("java -version 2>&1 | head -1"),
        "corral": rev + (" (with uncommitted changes)" if dirty else ""),
    }


def json_lines(path):
    """The JSON objects of a results file, one per line with its label split
    at "/", and every non-empty line as it is (for the raw section)."""
    objs, raw = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            raw.append(line)
            try:
                j = json.loads(line)
            except json.JSONDecodeError:
                continue
            objs.append((j, j.get("label", "").split("/")))
    return objs, raw


def raw_section(raw, source):
    """The closing section of a results file: the JSON lines as they came."""
    return ["## Raw results (one JSON line per corral-bench invocation; "
            f"`meta` lines from {source})", "", "```", *raw, "```"]


def load(path):
    """{(server, run): {op: json}}, raw lines. A label `server/run/role` (the
    cluster benchmark's per-node rows) files its line under `op@role`."""
    rows = {}
    objs, raw = json_lines(path)
    for j, parts in objs:
        if len(parts) not in (2, 3) or parts[0] not in SERVERS:
            continue
        key = j.get("op") + (f"@{parts[2]}" if len(parts) == 3 else "")
        rows.setdefault((parts[0], int(parts[1])), {})[key] = j
    return rows, raw


def get(d, op, key):
    j = d.get(op)
    if not j or j.get(key) is None:
        return None
    return float(j[key])


def meta(d, fn):
    m = d.get("meta")
    if not m:
        return None
    try:
        return fn(m)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, StopIteration):
        return None


def summary(w, ms, rows, runs):
    """The summary table across runs: medians, and the spread of the per-run ratios.
    `ms` is [(title, better, extractor)], `rows` {(server, run): {op: json}}."""
    w(f"## Summary (median of {len(runs)} run{'s' if len(runs) != 1 else ''})")
    w("")
    w("| metric | ZooKeeper | Corral | ratio (>1 = Corral better) | ratio min–max over runs | ZK spread | Corral spread |")
    w("|---|---:|---:|---:|---:|---:|---:|")

    def spread(vals):
        vals = [v for v in vals if v is not None]
        if len(vals) < 2:
            return "–"
        mean = statistics.mean(vals)
        return f"±{100 * statistics.pstdev(vals) / mean:.0f}%" if mean else "–"

    for title, better, fn in ms:
        zv = [fn(rows.get(("zk", r), {})) for r in runs]
        cv = [fn(rows.get(("corral", r), {})) for r in runs]
        zs = [v for v in zv if v is not None]
        cs = [v for v in cv if v is not None]
        zmed = statistics.median(zs) if zs else None
        cmed = statistics.median(cs) if cs else None
        rs = [ratio(z, c, better) for z, c in zip(zv, cv)]
        rs = [r for r in rs if r is not None]
        rng = f"{min(rs):.2f}–{max(rs):.2f}×" if len(rs) > 1 else "–"
        w(f"| {title} | {fmt(zmed)} | {fmt(cmed)} | {fmt_ratio(ratio(zmed, cmed, better))} | {rng} | {spread(zv)} | {spread(cv)} |")


def metrics(load_count):
    # (title, better, extractor)
    lat = "µs"
    pipe = "32 conns × 16 in flight"
    return [
        ("start-up to first `ruok`→`imok` (ms)", "low",
         lambda d: meta(d, lambda m: (m["wait"]["imok_epoch_ns"] - m["t0_ns"]) / 1e6)),
        ("start-up to first served session (ms)", "low",
         lambda d: meta(d, lambda m: (m["wait"]["ready_epoch_ns"] - m["t0_ns"]) / 1e6)),
        ("RSS idle after start (MB)", "low", lambda d: meta(d, lambda m: m["rss_idle_kb"] / 1024)),
        ("CPU while idle (% of one core)", "low", lambda d: meta(d, lambda m: float(m["idle_cpu_pct"]))),
        (f"RSS after {load_count:,} znodes of 100 B (MB)", "low",
         lambda d: meta(d, lambda m: m["rss_loaded_kb"] / 1024)),
        (f"load: {load_count:,} sequential creates (ops/s, {pipe})", "high",
         lambda d: get(d, "load", "ops_per_sec")),
        (f"getData throughput (ops/s, {pipe})", "high", lambda d: get(d, "get", "ops_per_sec")),
        (f"getData p50 ({lat}, pipelined)", "low", lambda d: get(d, "get", "p50_us")),
        (f"getData p99 ({lat}, pipelined)", "low", lambda d: get(d, "get", "p99_us")),
        (f"getData p99.9 ({lat}, pipelined)", "low", lambda d: get(d, "get", "p999_us")),
        (f"setData throughput, durable (ops/s, {pipe})", "high", lambda d: get(d, "set", "ops_per_sec")),
        (f"setData p50 ({lat}, pipelined)", "low", lambda d: get(d, "set", "p50_us")),
        (f"setData p99 ({lat}, pipelined)", "low", lambda d: get(d, "set", "p99_us")),
        (f"setData p99.9 ({lat}, pipelined)", "low", lambda d: get(d, "set", "p999_us")),
        (f"mixed 90% get / 10% set (ops/s, {pipe})", "high", lambda d: get(d, "mixed", "ops_per_sec")),
        (f"mixed p99 ({lat}, pipelined)", "low", lambda d: get(d, "mixed", "p99_us")),
        (f"create throughput, sequential (ops/s, {pipe})", "high", lambda d: get(d, "create", "ops_per_sec")),
        (f"create p99 ({lat}, pipelined)", "low", lambda d: get(d, "create", "p99_us")),
        (f"synchronous getData p50 ({lat}, 1 conn, 1 in flight)", "low", lambda d: get(d, "latency-get", "p50_us")),
        (f"synchronous getData p99 ({lat})", "low", lambda d: get(d, "latency-get", "p99_us")),
        (f"synchronous create p50 ({lat}, 1 conn, 1 in flight)", "low", lambda d: get(d, "latency-create", "p50_us")),
        (f"synchronous create p99 ({lat})", "low", lambda d: get(d, "latency-create", "p99_us")),
        ("server CPU per getData (µs, pipelined)", "low", lambda d: get(d, "get", "server_cpu_us_per_op")),
        ("server CPU per setData (µs, pipelined)", "low", lambda d: get(d, "set", "server_cpu_us_per_op")),
        ("server CPU per create (µs, pipelined)", "low", lambda d: get(d, "create", "server_cpu_us_per_op")),
        ("server CPU per synchronous getData (µs)", "low", lambda d: get(d, "latency-get", "server_cpu_us_per_op")),
        ("server CPU per synchronous create (µs)", "low", lambda d: get(d, "latency-create", "server_cpu_us_per_op")),
        ("acknowledged setData per fsync-family call (under strace)", "info",
         lambda d: meta(d, lambda m: m["strace_set_ops"] / m["strace_fsyncs"] if m["strace_fsyncs"] else None)),
    ]


def ratio(zk, co, better):
    if zk is None or co is None or better == "info":
        return None
    if better == "high":
        return co / zk if zk > 0 else None
    return zk / co if co > 0 else None


def fmt(v):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}×"


def errors(d):
    total, conn = 0, 0
    for op, j in d.items():
        if op == "meta":
            continue
        total += int(j.get("errors") or 0)
        conn += int(j.get("conn_errors") or 0)
        if j.get("fatal"):
            conn += 1
    return total, conn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jsonl")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--command", default="compat/bench/run.sh")
    ap.add_argument("--params", default="")
    a = ap.parse_args()
    rows, raw = load(a.jsonl)
    runs = sorted({r for (_, r) in rows})
    load_count = 0
    for d in rows.values():
        lc = meta(d, lambda m: int(m["load_count"]))
        if lc:
            load_count = lc
    ms = metrics(load_count)
    m = machine()
    out = []
    w = out.append
    w(f"# Corral vs Apache ZooKeeper 3.8 — side-by-side benchmark ({a.mode})")
    w("")
    w(f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    w(f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Linux {m['kernel']}; "
      "load generator and server share the CPUs, one server at a time, loopback only")
    w(f"- ZooKeeper: Debian package {m['zookeeper']} (`compat/zk/start.sh`, forceSync on = its default, -Xmx512m), {m['java']}")
    w(f"- Corral: {m['corral']} (`compat/corral/ctl.sh`, target/release/corral, forceSync on = its default)")
    w(f"- Command: `{a.command}`; parameters: {a.params}")
    w("- Ratio column: **> 1 means Corral is better**. Throughput: Corral / ZooKeeper; "
      "latency, memory, CPU and start-up time: ZooKeeper / Corral.")
    w("- Latencies are client-observed (request written → reply read) in µs; pipelined latencies "
      "include queueing behind the 512 outstanding requests.")
    w("")

    summary(w, ms, rows, runs)
    w("")
    w("Spread = population standard deviation / mean across runs.")
    w("")
    for r in runs:
        w(f"## Run {r}")
        w("")
        w("| metric | ZooKeeper | Corral | ratio (>1 = Corral better) |")
        w("|---|---:|---:|---:|")
        zd, cd = rows.get(("zk", r), {}), rows.get(("corral", r), {})
        for title, better, fn in ms:
            z, c = fn(zd), fn(cd)
            w(f"| {title} | {fmt(z)} | {fmt(c)} | {fmt_ratio(ratio(z, c, better))} |")
        ze, zc = errors(zd)
        ce, cc = errors(cd)
        w(f"| error replies / connection errors | {ze} / {zc} | {ce} / {cc} | |")
        w("")
    out.extend(raw_section(raw, "run.sh"))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
