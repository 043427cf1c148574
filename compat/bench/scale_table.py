#!/usr/bin/env python3
"""Turn scale.sh's JSON lines into the Markdown report (stdout).

Every ratio is oriented so that > 1 means Corral is better: ZooKeeper/Corral for
lower-is-better metrics (memory, time, latency, CPU), Corral/ZooKeeper for
higher-is-better ones (rates). Rows marked `info` have no ratio.
"""
import argparse
import datetime
import os
import sys

sys.dont_write_bytecode = True  # importing table.py must not leave __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from table import fmt, fmt_ratio, json_lines, machine, ratio, raw_section  # noqa: E402

SCENARIOS = ("sessions", "watches-data", "watches-recursive")
# Corral's targets (issue 11).
TARGET_SESSION_B = 4096
TARGET_WATCH_B = 100


def load(path):
    """{(server, scenario): {"bench": json, "meta": json}}, raw lines."""
    rows = {}
    objs, raw = json_lines(path)
    for j, parts in objs:
        if len(parts) != 2:
            continue
        slot = "meta" if j.get("op") == "meta" else "bench"
        rows.setdefault((parts[0], parts[1]), {})[slot] = j
    return rows, raw


def dig(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    try:
        return float(d)
    except (TypeError, ValueError):
        return None


def b(*keys):
    return lambda d: dig(d.get("bench", {}), *keys)


def kib_to_mib(*keys):
    return lambda d: (lambda v: None if v is None else v / 1024)(dig(d.get("bench", {}), *keys))


def ms(*keys):
    return lambda d: (lambda v: None if v is None else v / 1000)(dig(d.get("bench", {}), *keys))


def slowdown(q):
    def f(d):
        before = dig(d.get("bench", {}), "probe_before", q)
        held = dig(d.get("bench", {}), "probe_held", q)
        return held / before if before and held is not None else None
    return f


def gc_delta(d, key):
    m = d.get("meta", {})
    a, z = dig(m, "gc_after", key), dig(m, "gc_before", key)
    return None if a is None or z is None else a - z


def heap_used_mib(d):
    g = d.get("meta", {}).get("gc_after")
    if not isinstance(g, dict):
        return None
    used = [g.get(k) for k in ("S0U", "S1U", "EU", "OU")]
    return sum(u for u in used if u is not None) / 1024 if any(u is not None for u in used) else None


def session_metrics(n):
    return [
        ("sessions opened / asked", "info", None,
         lambda d: f"{int(dig(d['bench'], 'opened') or 0):,} / {int(dig(d['bench'], 'count') or 0):,}"
         if "bench" in d and dig(d["bench"], "count") is not None else None),
        ("opening: sessions/s (32 handshakes at a time)", "high", b("opens_per_sec"), None),
        ("server CPU per session opened (µs)", "low", b("server_cpu_us_per_open"), None),
        ("RSS before (MiB)", "low", kib_to_mib("rss_before_kb"), None),
        (f"RSS with {n:,} sessions held (MiB)", "low", kib_to_mib("rss_held_kb"), None),
        ("**RSS per session (bytes)**", "low", b("bytes_per_session"), None),
        ("RSS at the end of the hold (MiB)", "low", kib_to_mib("rss_end_kb"), None),
        ("RSS after closing them all (MiB)", "low", kib_to_mib("rss_closed_kb"), None),
        ("server CPU while held, heartbeats only (% of a core)", "low", b("hold_cpu_pct"), None),
        ("probe getData p50 before (µs)", "low", b("probe_before", "p50_us"), None),
        ("probe getData p50 with the sessions held (µs)", "low", b("probe_held", "p50_us"), None),
        ("probe getData p99 before (µs)", "low", b("probe_before", "p99_us"), None),
        ("probe getData p99 with the sessions held (µs)", "low", b("probe_held", "p99_us"), None),
        ("probe getData max with the sessions held (µs)", "low", b("probe_held", "max_us"), None),
        ("p50 held ÷ p50 before", "low", slowdown("p50_us"), None),
        ("p99 held ÷ p99 before", "low", slowdown("p99_us"), None),
        ("connections in mntr while held", "info", b("mntr_connections_held"), None),
        ("sessions lost while held / close failures", "info", None,
         lambda d: f"{int(dig(d['bench'], 'lost') or 0)} / {int(dig(d['bench'], 'close_failed') or 0)}"
         if "bench" in d and dig(d["bench"], "lost") is not None else None),
    ]


def watch_metrics(kind):
    how = "getData watch" if kind == "data" else "addWatch PERSISTENT_RECURSIVE"
    return [
        ("watches set (sessions × nodes)", "info", None,
         lambda d: f"{int(dig(d['bench'], 'watches') or 0):,} ({int(dig(d['bench'], 'conns') or 0)} × "
         f"{int(dig(d['bench'], 'nodes') or 0):,})" if "bench" in d and dig(d["bench"], "watches") is not None else None),
        (f"time to set them ({how}, s)", "low", b("watch_s"), None),
        ("watches set per second", "high", b("watches_per_sec"), None),
        ("server CPU per watch set (µs)", "low", b("server_cpu_us_per_watch"), None),
        ("RSS before the watches (MiB)", "low", kib_to_mib("rss_before_kb"), None),
        ("RSS with the watches (MiB)", "low", kib_to_mib("rss_watched_kb"), None),
        ("**RSS per watch (bytes)**", "low", b("bytes_per_watch"), None),
        ("zk_watch_count in mntr", "info", b("mntr_watch_count"), None),
        ("setData of every node, one session, 16 in flight (s)", "low", b("sets_s"), None),
        ("**first setData → last notification received (s)**", "low", b("notify_wall_s"), None),
        ("notifications per second", "high", b("notifications_per_sec"), None),
        ("notification delay after its setData, p50 (ms)", "low", ms("notify_delay", "p50_us"), None),
        ("notification delay p99 (ms)", "low", ms("notify_delay", "p99_us"), None),
        ("notification delay max (ms)", "low", ms("notify_delay", "max_us"), None),
        ("server CPU per notification (µs)", "low", b("server_cpu_us_per_notification"), None),
        ("client CPU per notification (µs, the load generator)", "info",
         b("client_cpu_us_per_notification"), None),
        ("RSS after the trigger (MiB)", "low", kib_to_mib("rss_triggered_kb"), None),
        ("notifications received / expected", "info", None,
         lambda d: f"{int(dig(d['bench'], 'notifications') or 0):,} / {int(dig(d['bench'], 'expected') or 0):,}"
         if "bench" in d and dig(d["bench"], "expected") is not None else None),
    ]


def jvm_rows():
    return [
        ("ZooKeeper JVM: young / full / concurrent GCs during the scenario", "info", None,
         lambda d: "/".join(fmt_int(gc_delta(d, k)) for k in ("YGC", "FGC", "CGC"))
         if d.get("meta", {}).get("gc_after") else None),
        ("ZooKeeper JVM: GC time during the scenario (s; young + full + concurrent)", "info",
         lambda d: gc_delta(d, "GCT"), None),
        ("ZooKeeper JVM: heap used at the end (MiB)", "info", heap_used_mib, None),
    ]


def fmt_int(v):
    return "–" if v is None else f"{int(v)}"


def errors_row(d):
    j = d.get("bench")
    if not j:
        return "no result"
    if j.get("fatal"):
        return f"fatal: {j['fatal']}"
    errs = int(j.get("errors") or 0) + int(dig(j, "probe_before", "errors") or 0) + int(dig(j, "probe_held", "errors") or 0)
    conn = int(j.get("conn_errors") or 0) + int(j.get("open_failed") or 0) + int(j.get("lost") or 0)
    s = f"{errs} / {conn}"
    first = j.get("first_conn_error") or j.get("first_error")
    return s + (f" ({first})" if first else "")


def section(w, title, metrics, zd, cd):
    w(f"### {title}")
    w("")
    w("| metric | ZooKeeper | Corral | ratio (>1 = Corral better) |")
    w("|---|---:|---:|---:|")
    for name, better, num, text in metrics:
        if text is not None:
            z, c = text(zd), text(cd)
            w(f"| {name} | {z or '–'} | {c or '–'} | |")
            continue
        z, c = num(zd), num(cd)
        w(f"| {name} | {fmt(z)} | {fmt(c)} | {fmt_ratio(ratio(z, c, better))} |")
    w(f"| error replies / connection errors | {errors_row(zd)} | {errors_row(cd)} | |")
    w("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jsonl")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--command", default="compat/bench/scale.sh")
    ap.add_argument("--params", default="")
    ap.add_argument("--elapsed", type=int, default=None)
    a = ap.parse_args()
    rows, raw = load(a.jsonl)
    m = machine()
    zmeta = next((rows[k]["meta"] for k in rows if k[0] == "zk" and "meta" in rows[k]), {})
    out = []
    w = out.append
    w(f"# Corral vs Apache ZooKeeper 3.8 — scale: sessions and watches ({a.mode})")
    w("")
    w(f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}"
      + (f"; the whole run took {a.elapsed // 60} min {a.elapsed % 60} s" if a.elapsed is not None else ""))
    w(f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Linux {m['kernel']}; "
      "load generator and server share the CPUs, one server at a time, loopback only")
    w(f"- ZooKeeper: Debian package {m['zookeeper']} (`compat/zk/start.sh` as it is: "
      f"heap {zmeta.get('xmx') or '?'}, {zmeta.get('gc') or 'the JVM default GC'}, maxClientCnxns=0), {m['java']}")
    w(f"- Corral: {m['corral']} (`compat/corral/ctl.sh`, `$CORRAL_BIN`, --max-client-cnxns 0)")
    w(f"- Command: `{a.command}`; parameters: {a.params}")
    w("- Each scenario runs on a freshly started server (fresh data directory), ZooKeeper first, then Corral.")
    w("- RSS is `VmRSS` of the server process (ZooKeeper's is the `java` process), read "
      "2 s after each phase. Per-item bytes = RSS delta ÷ items; for the JVM that is heap growth "
      "as much as live data (the heap is not given back), so read it with the heap-used row.")
    w("- Ratio column: **> 1 means Corral is better**: ZooKeeper / Corral for memory, time, latency "
      "and CPU; Corral / ZooKeeper for rates. `info` rows have none.")
    w("")
    corral = lambda sc, key: dig(rows.get(("corral", sc), {}).get("bench", {}), key)  # noqa: E731
    ps = corral("sessions", "bytes_per_session")
    pw = corral("watches-data", "bytes_per_watch")
    pr = corral("watches-recursive", "bytes_per_watch")
    w("Corral against its targets (issue 11): "
      f"{fmt(ps)} B per session (target ≤ {TARGET_SESSION_B:,}), "
      f"{fmt(pw)} B per getData watch and {fmt(pr)} B per recursive watch (target ≤ {TARGET_WATCH_B}).")
    w("")
    n = 0
    for k in rows:
        if k[1] == "sessions":
            n = int(dig(rows[k].get("bench", {}), "count") or n)
    titles = {
        "sessions": (f"Sessions: {n:,} held, pinging every third of their timeout", session_metrics(n)),
        "watches-data": ("Watches: one-shot getData watches, then one setData per node", watch_metrics("data")),
        "watches-recursive": ("Watches: addWatch PERSISTENT_RECURSIVE on each node, then one setData per node",
                              watch_metrics("recursive")),
    }
    for sc in SCENARIOS:
        zd, cd = rows.get(("zk", sc), {}), rows.get(("corral", sc), {})
        if not zd and not cd:
            continue
        title, ms_ = titles[sc]
        section(w, title, ms_ + jvm_rows(), zd, cd)
        t = [rows.get((s, sc), {}).get("meta", {}).get("elapsed_s") for s in ("zk", "corral")]
        la = [rows.get((s, sc), {}).get("meta", {}).get("load_before") for s in ("zk", "corral")]
        w(f"Scenario time: ZooKeeper {t[0]} s, Corral {t[1]} s; load average at the start: "
          f"{la[0]} / {la[1]}.")
        w("")
    out.extend(raw_section(raw, "scale.sh"))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
