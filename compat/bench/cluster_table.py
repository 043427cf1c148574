#!/usr/bin/env python3
"""Turn cluster.sh's JSON lines into the Markdown report (stdout): 3-node ZooKeeper vs 3-node
Corral. Every ratio is oriented so that > 1 means Corral is better (Corral/ZooKeeper for
throughput, ZooKeeper/Corral for latency, memory, CPU and start-up time).

With --failover-dir DIR the failover section of failover_table.py (from the compat/cluster
results JSON in DIR) is appended.
"""
import argparse
import datetime
import hashlib
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import failover_table  # noqa: E402
from table import fmt, fmt_ratio, get, load, machine, meta, ratio, raw_section, summary  # noqa: E402


def role_rate(d, op, role, key="ops_per_sec"):
    """A per-address figure of the sessions on the leader, or the mean over the two followers."""
    j, m = d.get(op), d.get("meta")
    if not j or not m or not j.get("per_addr"):
        return None
    if role == "leader":
        want = [m["leader"]]
    else:
        want = m["followers"]
    vals = [p.get(key) for p in j["per_addr"] if p["addr"] in want]
    vals = [float(v) for v in vals if v is not None]
    return statistics.mean(vals) if len(vals) == len(want) else None


def metrics(conns, pipeline):
    per = conns // 3
    pipe = f"{conns} conns × {pipeline} in flight, {per} per node"
    return [
        ("start-up: launch → one leader + two followers serving (ms)", "low",
         lambda d: meta(d, lambda m: m["startup_ms"])),
        ("RSS idle after start, 3 nodes summed (MB)", "low",
         lambda d: meta(d, lambda m: sum(m["rss_idle_kb"]) / 1024)),
        ("CPU while idle, 3 nodes summed (% of one core)", "low",
         lambda d: meta(d, lambda m: sum(m["idle_cpu_pct"]))),
        ("RSS after the workloads, 3 nodes summed (MB)", "low",
         lambda d: meta(d, lambda m: sum(m["rss_end_kb"]) / 1024)),
        (f"getData throughput (ops/s, {pipe})", "high", lambda d: get(d, "get", "ops_per_sec")),
        ("getData p50 (µs, pipelined)", "low", lambda d: get(d, "get", "p50_us")),
        ("getData p99 (µs, pipelined)", "low", lambda d: get(d, "get", "p99_us")),
        ("  getData ops/s of the leader's sessions", "high", lambda d: role_rate(d, "get", "leader")),
        ("  getData ops/s of a follower's sessions (mean of 2)", "high", lambda d: role_rate(d, "get", "follower")),
        (f"setData throughput, durable (ops/s, {pipe})", "high", lambda d: get(d, "set", "ops_per_sec")),
        ("setData p50 (µs, pipelined)", "low", lambda d: get(d, "set", "p50_us")),
        ("setData p99 (µs, pipelined)", "low", lambda d: get(d, "set", "p99_us")),
        ("  setData ops/s of the leader's sessions", "high", lambda d: role_rate(d, "set", "leader")),
        ("  setData ops/s of a follower's sessions (mean of 2)", "high", lambda d: role_rate(d, "set", "follower")),
        ("  setData p99 of the leader's sessions (µs)", "low", lambda d: role_rate(d, "set", "leader", "p99_us")),
        ("  setData p99 of a follower's sessions (µs, mean of 2)", "low", lambda d: role_rate(d, "set", "follower", "p99_us")),
        (f"mixed 90% get / 10% set (ops/s, {pipe})", "high", lambda d: get(d, "mixed", "ops_per_sec")),
        ("mixed p50 (µs, pipelined)", "low", lambda d: get(d, "mixed", "p50_us")),
        ("mixed p99 (µs, pipelined)", "low", lambda d: get(d, "mixed", "p99_us")),
        ("synchronous create through a follower, p50 (µs, 1 conn, 1 in flight)", "low",
         lambda d: get(d, "latency-create@follower", "p50_us")),
        ("synchronous create through a follower, p99 (µs)", "low",
         lambda d: get(d, "latency-create@follower", "p99_us")),
        ("synchronous create through the leader, p50 (µs)", "low",
         lambda d: get(d, "latency-create@leader", "p50_us")),
        ("synchronous create through the leader, p99 (µs)", "low",
         lambda d: get(d, "latency-create@leader", "p99_us")),
        ("synchronous getData on a follower, p50 (µs)", "low",
         lambda d: get(d, "latency-get@follower", "p50_us")),
        ("synchronous getData on a follower, p99 (µs)", "low",
         lambda d: get(d, "latency-get@follower", "p99_us")),
        ("cluster CPU per getData (µs, 3 nodes summed, pipelined)", "low",
         lambda d: get(d, "get", "server_cpu_us_per_op")),
        ("cluster CPU per setData (µs, 3 nodes summed, pipelined)", "low",
         lambda d: get(d, "set", "server_cpu_us_per_op")),
        ("cluster CPU per mixed op (µs, 3 nodes summed, pipelined)", "low",
         lambda d: get(d, "mixed", "server_cpu_us_per_op")),
        ("cluster CPU per synchronous create through a follower (µs)", "low",
         lambda d: get(d, "latency-create@follower", "server_cpu_us_per_op")),
    ]


def errors(d):
    total, conn = 0, 0
    for op, j in d.items():
        if op == "meta":
            if j.get("fatal"):
                conn += 1
            continue
        total += int(j.get("errors") or 0)
        conn += int(j.get("conn_errors") or 0)
        if j.get("fatal"):
            conn += 1
    return total, conn


def binary_id(path):
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        mt = datetime.datetime.fromtimestamp(os.path.getmtime(path)).strftime("%Y-%m-%d %H:%M")
        return f"sha256 {h.hexdigest()[:12]}, built {mt}"
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jsonl")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--command", default="compat/bench/cluster.sh")
    ap.add_argument("--params", default="")
    ap.add_argument("--corral-bin", default="")
    ap.add_argument("--conns", type=int, default=30)
    ap.add_argument("--pipeline", type=int, default=16)
    ap.add_argument("--failover-dir")
    a = ap.parse_args()
    rows, raw = load(a.jsonl)
    runs = sorted({r for (_, r) in rows})
    ms = metrics(a.conns, a.pipeline)
    m = machine()
    loads = [x for d in rows.values() if d.get("meta")
             for x in (d["meta"].get("loadavg_before", [None])[0], d["meta"].get("loadavg_after", [None])[0])
             if x is not None]
    out = []
    w = out.append
    w(f"# 3-node Corral vs 3-node Apache ZooKeeper 3.8 — side-by-side cluster benchmark ({a.mode})")
    w("")
    w(f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    w(f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Linux {m['kernel']}; the three "
      "nodes of one ensemble and the load generator share the CPUs; one ensemble at a time, "
      "fresh data directories, loopback only (127.0.0.11-13:2181, private network namespace)")
    if loads:
        w(f"- Load average (1 min) at the start/end of each ensemble's block: "
          f"{min(loads):.2f}–{max(loads):.2f} (other work shares the machine)")
    w(f"- ZooKeeper: Debian package {m['zookeeper']}, QuorumPeerMain per node "
      f"(`compat/cluster/cluster.py`: -Xmx256m, serial GC, tickTime 1000, forceSync on = its default), {m['java']}")
    cb = a.corral_bin or "target/release/corral"
    w(f"- Corral: `{cb}` ({binary_id(cb) if a.corral_bin else m['corral']}), `corral serve --config zoo.cfg` "
      "with the same zoo.cfg, forceSync on = its default")
    w(f"- Command: `{a.command}`; parameters: {a.params}")
    w("- Sessions are spread evenly: connection i goes to node i mod 3. Writes from a follower's "
      "sessions are forwarded to the leader by the follower (both servers), reads are answered "
      "locally. Per-role rows (indented) split the same run by the node the sessions were on.")
    w("- Ratio column: **> 1 means Corral is better**. Throughput: Corral / ZooKeeper; "
      "latency, memory, CPU and start-up time: ZooKeeper / Corral.")
    w("- Latencies are client-observed (request written → reply read) in µs; pipelined latencies "
      "include queueing behind the outstanding requests. CPU is utime+stime of the three server "
      "processes over the measured window ÷ requests answered.")
    w("")
    summary(w, ms, rows, runs)
    ze = [errors(rows.get(("zk", r), {})) for r in runs]
    ce = [errors(rows.get(("corral", r), {})) for r in runs]
    w(f"| error replies / connection errors (all runs) | {sum(e for e, _ in ze)} / {sum(c for _, c in ze)} "
      f"| {sum(e for e, _ in ce)} / {sum(c for _, c in ce)} | | | | |")
    w("")
    w("Spread = population standard deviation / mean across runs.")
    w("")
    for r in runs:
        zd, cd = rows.get(("zk", r), {}), rows.get(("corral", r), {})
        lead = lambda d: meta(d, lambda m: m["leader"].split(":")[0]) or "?"
        la = lambda d: meta(d, lambda m: f"{m['loadavg_before'][0]:.2f}→{m['loadavg_after'][0]:.2f}") or "?"
        w(f"## Run {r}")
        w("")
        w(f"Leaders: ZooKeeper {lead(zd)}, Corral {lead(cd)}. Load average (1 min) over the block: "
          f"ZooKeeper {la(zd)}, Corral {la(cd)}.")
        w("")
        w("| metric | ZooKeeper | Corral | ratio (>1 = Corral better) |")
        w("|---|---:|---:|---:|")
        for title, better, fn in ms:
            z, c = fn(zd), fn(cd)
            w(f"| {title} | {fmt(z)} | {fmt(c)} | {fmt_ratio(ratio(z, c, better))} |")
        (zer, zc), (cer, cc) = errors(zd), errors(cd)
        w(f"| error replies / connection errors | {zer} / {zc} | {cer} / {cc} | |")
        for s, d in (("zk", zd), ("corral", cd)):
            f = meta(d, lambda m: m.get("fatal"))
            if f:
                w(f"\n**{s} run {r} did not complete:** {f}")
            ch = meta(d, lambda m: m["modes_end"] != m["modes"] and m["modes_end"])
            if ch:
                w(f"\n**{s} run {r}: roles changed during the run** (end: {ch})")
        w("")
    if a.failover_dir:
        w("")
        out.extend(failover_table.render(a.failover_dir))
        w("")
    out.extend(raw_section(raw, "cluster_bench.py"))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
