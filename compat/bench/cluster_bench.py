#!/usr/bin/env python3
"""Side-by-side cluster benchmark driver (normally run by cluster.sh, inside a private netns).

For each run and each target (zk, corral; the order alternates between runs) this starts a
fresh 3-node ensemble with compat/cluster/cluster.py (127.0.0.11-13, client port 2181 each),
runs the corral-bench workloads with the sessions spread evenly over the three nodes, and
appends one JSON line per corral-bench invocation plus one `meta` line per target and run to
--jsonl. Every ensemble is destroyed (processes killed, data removed) in a finally block, also
on failure, Ctrl-C or SIGTERM.

Exit status: 0 when every ensemble started and every workload finished without an error
reply, a connection error or a stall; 1 otherwise. Slow is never a failure.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cluster"))
import cluster as CL  # noqa: E402  (compat/cluster/cluster.py, reused as is)


def log(msg):
    print(f"[cluster-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def cpu_ticks(pid):
    """utime + stime of pid in clock ticks (1/100 s), None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Bench:
    def __init__(self, a):
        self.a = a
        self.failed = False

    def run(self, label, args, limit):
        """One corral-bench invocation; its JSON line goes to the results file."""
        cmd = [self.a.bench, "--label", label] + args
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=limit)
            out, err, rc = p.stdout.strip(), p.stderr, p.returncode
        except subprocess.TimeoutExpired:
            out, err, rc = "", "", "timeout"
        if not out:
            op = args[args.index("--op") + 1]
            out = json.dumps({"op": op, "label": label, "fatal": f"no result (exit {rc})"})
        with open(self.a.jsonl, "a") as f:
            f.write(out.splitlines()[-1] + "\n")
        with open(self.a.stderr_log, "a") as f:
            f.write(f"== {' '.join(cmd)}\n{err}")
        for line in err.strip().splitlines()[-4:]:
            log(f"  {label}: {line}")
        if rc != 0:
            log(f"WORKLOAD FAILED ({label}: {' '.join(args)}), exit {rc}")
            self.failed = True


def bench_target(a, bench, target, run):
    label = f"{target}/{run}"
    base = os.path.join(a.scratch, f"{target}-{run}")
    cl = CL.Cluster(target, corral_bin=a.corral_bin, run_id=f"b{os.getpid()}-{target}{run}",
                    base_dir=os.path.join(base, "nodes"), use_uids=False)
    meta = {"op": "meta", "label": label, "server": target, "loadavg_before": loadavg()}
    try:
        log(f"run {run}: starting a 3-node {target} ensemble")
        t0 = time.monotonic()
        modes = cl.start(90)
        meta["startup_ms"] = round((time.monotonic() - t0) * 1000, 1)
        leader = next(n for n, m in modes.items() if m == "leader")
        followers = [n for n in CL.NODES if n != leader]
        pids = [cl.nodes[n].proc.pid for n in CL.NODES]
        meta.update({"modes": {CL.addr(n): m for n, m in modes.items()},
                     "leader": f"{CL.addr(leader)}:{CL.CLIENT_PORT}",
                     "followers": [f"{CL.addr(n)}:{CL.CLIENT_PORT}" for n in followers],
                     "pids": pids})
        # Durability: the ensemble's zoo.cfg must not turn fsync off (ZooKeeper's forceSync
        # defaults to yes; Corral's default is the same).
        with open(cl.nodes[1].cfg) as f:
            cfg = f.read()
        meta["force_sync"] = "no" if "forcesync=no" in cfg.lower().replace(" ", "") else "yes"
        log(f"{target} up in {meta['startup_ms']:.0f} ms: leader {CL.addr(leader)}, pids {pids}")
        time.sleep(2)  # let start-up work (JIT, elections' aftermath) settle
        meta["rss_idle_kb"] = [rss_kb(p) for p in pids]
        c0 = [cpu_ticks(p) for p in pids]
        time.sleep(a.idle_secs)
        c1 = [cpu_ticks(p) for p in pids]
        if None not in c0 + c1:
            # % of one core, per node (ticks are 1/100 s)
            meta["idle_cpu_pct"] = [round((y - x) / a.idle_secs, 2) for x, y in zip(c0, c1)]

        every = ",".join(f"{CL.addr(n)}:{CL.CLIENT_PORT}" for n in CL.NODES)
        spid = ",".join(str(p) for p in pids)
        pipe = ["--conns", str(a.conns), "--pipeline", str(a.pipeline),
                "--secs", str(a.secs), "--warmup", str(a.warmup)]
        limit = a.warmup + a.secs + 60
        for op in ("get", "set", "mixed"):
            bench.run(label, ["--op", op, "--addr", every, "--server-pid", spid] + pipe, limit)
        lat = ["--secs", str(a.lat_secs), "--warmup", "1"]
        fol = f"{CL.addr(followers[0])}:{CL.CLIENT_PORT}"
        lead = f"{CL.addr(leader)}:{CL.CLIENT_PORT}"
        bench.run(label + "/follower", ["--op", "latency-create", "--addr", fol,
                                        "--server-pid", spid] + lat, a.lat_secs + 60)
        bench.run(label + "/leader", ["--op", "latency-create", "--addr", lead,
                                      "--server-pid", spid] + lat, a.lat_secs + 60)
        bench.run(label + "/follower", ["--op", "latency-get", "--addr", fol,
                                        "--server-pid", spid] + lat, a.lat_secs + 60)
        meta["rss_end_kb"] = [rss_kb(p) for p in pids]
        # the roles must not have changed under load (an election would distort everything)
        meta["modes_end"] = {CL.addr(n): CL.mode(n) for n in CL.NODES}
        if meta["modes_end"] != meta["modes"]:
            log(f"NOTE: roles changed during the run: {meta['modes']} -> {meta['modes_end']}")
        for n in CL.NODES:
            if not cl.nodes[n].running():
                log(f"node {n} exited during the run:\n{cl.nodes[n].log_tail()}")
                bench.failed = True
    except Exception as e:
        log(f"{target} run {run}: {type(e).__name__}: {e}")
        meta["fatal"] = f"{type(e).__name__}: {e}"
        bench.failed = True
    finally:
        meta["loadavg_after"] = loadavg()
        keep = os.path.join(a.scratch, "logs", f"{target}-{run}") if (bench.failed or a.keep_logs) else None
        cl.destroy(keep_logs_in=keep)
        with open(a.jsonl, "a") as f:
            f.write(json.dumps(meta) + "\n")
        log(f"{target} ensemble stopped (load average {meta['loadavg_after']})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="the corral-bench binary")
    ap.add_argument("--corral-bin", required=True)
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--scratch", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--targets", default="zk,corral")
    ap.add_argument("--conns", type=int, default=30)
    ap.add_argument("--pipeline", type=int, default=16)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--secs", type=float, default=10)
    ap.add_argument("--lat-secs", type=float, default=5)
    ap.add_argument("--idle-secs", type=float, default=5)
    ap.add_argument("--keep-logs", action="store_true")
    a = ap.parse_args()
    a.stderr_log = os.path.join(a.scratch, "bench.stderr")

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    bench = Bench(a)
    targets = [t for t in a.targets.split(",") if t]
    try:
        for run in range(1, a.runs + 1):
            # alternate the order so slow drift of the shared machine favours neither
            order = targets if run % 2 == 1 else list(reversed(targets))
            for t in order:
                bench_target(a, bench, t, run)
    except KeyboardInterrupt as e:
        log(f"interrupted ({e})")
        return 130
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
