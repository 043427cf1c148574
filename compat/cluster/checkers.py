"""Checkers of the cluster fault harness. Pure functions of recorded data (no network), so
test_checkers.py can feed each one a bad history and expect a failure.

Every checker returns a Check: ok (bool), counts (dict, printed as k=v) and problems (list of
human-readable lines, empty when ok).
"""
import bisect
import math
import subprocess
import time
from dataclasses import dataclass, field


@dataclass
class Check:
    name: str
    ok: bool
    counts: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    skipped: bool = False

    def line(self):
        status = "SKIP" if self.skipped else ("PASS" if self.ok else "FAIL")
        kv = " ".join(f"{k}={v}" for k, v in self.counts.items())
        s = f"{self.name}: {status} {kv}".rstrip()
        if self.problems:
            s += " | " + "; ".join(self.problems[:5])
            if len(self.problems) > 5:
                s += f"; ... ({len(self.problems)} problems)"
        return s


# --------------------------------------------------------------------------------------------
# 1. register: lincheck over a text history
# --------------------------------------------------------------------------------------------

def check_register(history_text, lincheck_bin, timeout_secs=60, counts=None):
    """Runs `lincheck` on the history (its text format). Exit 0 = linearizable (pass),
    1 = not linearizable, 2 = unknown (a search limit was hit), 3 = bad input: all fail."""
    counts = dict(counts or {})
    r = subprocess.run([lincheck_bin, "--timeout-secs", str(timeout_secs)], input=history_text,
                       capture_output=True, text=True, timeout=timeout_secs + 30)
    verdict = {0: "linearizable", 1: "NOT-linearizable", 2: "unknown", 3: "bad-input"}.get(
        r.returncode, f"exit-{r.returncode}")
    counts["lincheck"] = verdict
    problems = []
    if r.returncode != 0:
        out = (r.stdout + r.stderr).strip().splitlines()
        problems = [f"lincheck: {verdict}"] + out[-12:]
    return Check("register", r.returncode == 0, counts, problems)


def register_counts(events):
    """events: list of (time, process, kind, rest) as written to the history."""
    c = {"ops": 0, "ok": 0, "fail": 0, "info": 0}
    for e in events:
        if e[2] == "invoke":
            c["ops"] += 1
        elif e[2] in ("ok", "fail", "info"):
            c[e[2]] += 1
    return c


# --------------------------------------------------------------------------------------------
# 2. no lost acknowledged writes: sequential creates
# --------------------------------------------------------------------------------------------

def seq_number(name):
    return int(name.rsplit("-", 1)[1])


def seq_token(name):
    """c3-17-0000000042 -> c3-17"""
    return name.rsplit("-", 1)[0]


def check_seq(attempts, present):
    """attempts: list of dicts {token, invoke, ret, outcome ('ok'|'fail'|'info'), name (ok only)}
    where name is the created child name (token + '-' + 10-digit sequence number).
    present: the child names found at the end (after the cluster healed and synced).

    Fails when: an acknowledged create is missing (lost write); a present node was never
    attempted or was answered with a definite failure (phantom); a token exists twice
    (duplicate); an acknowledged create's name differs from the present one; or the sequence
    numbers contradict real time (create A acknowledged before create B was invoked, yet
    seq(A) >= seq(B))."""
    problems = []
    by_token = {a["token"]: a for a in attempts}
    present_tokens = {}
    for name in present:
        present_tokens.setdefault(seq_token(name), []).append(name)
    acked = [a for a in attempts if a["outcome"] == "ok"]
    unknown = [a for a in attempts if a["outcome"] == "info"]
    lost = [a for a in acked if a["name"] not in present_tokens.get(a["token"], [])]
    for a in lost:
        problems.append(f"lost acknowledged create {a['name']}")
    phantom = 0
    for tok, names in present_tokens.items():
        a = by_token.get(tok)
        if a is None:
            phantom += 1
            problems.append(f"node {names[0]} was never attempted")
        elif a["outcome"] == "fail":
            phantom += 1
            problems.append(f"node {names[0]} exists but its create failed definitely")
        if len(names) > 1:
            problems.append(f"token {tok} created {len(names)} times: {sorted(names)}")
    dup = sum(len(v) - 1 for v in present_tokens.values() if len(v) > 1)
    # real-time order of sequence numbers among acknowledged creates
    order_bad = 0
    by_ret = sorted(acked, key=lambda a: a["ret"])
    rets = [a["ret"] for a in by_ret]
    prefix_max = []
    m = -1
    for a in by_ret:
        m = max(m, seq_number(a["name"]))
        prefix_max.append(m)
    for b in acked:
        i = bisect.bisect_left(rets, b["invoke"])  # ops that returned strictly before b's invoke
        if i > 0 and prefix_max[i - 1] >= seq_number(b["name"]):
            order_bad += 1
            if order_bad <= 3:
                problems.append(f"{b['name']} invoked after a create with sequence "
                                f">= {prefix_max[i - 1]} was acknowledged")
    counts = {"attempted": len(attempts), "acked": len(acked), "unknown": len(unknown),
              "present": len(present), "lost": len(lost), "phantom": phantom,
              "duplicates": dup, "order_violations": order_bad}
    return Check("seq", not problems, counts, problems)


# --------------------------------------------------------------------------------------------
# 3. sessions survive the fault
# --------------------------------------------------------------------------------------------

def check_session(rec):
    """rec: {connected_to, target, session_before, session_after, states: [names],
    ephemeral_owner (int or None, as seen by another client at the end), expired (bool)}"""
    problems = []
    if rec.get("connected_to") != rec.get("target"):
        problems.append(f"session client was connected to node {rec.get('connected_to')}, "
                        f"not the faulted node {rec.get('target')}")
    if "LOST" in rec["states"] or rec.get("expired"):
        problems.append("session LOST/expired")
    if rec["session_after"] != rec["session_before"]:
        problems.append(f"session id changed {rec['session_before']:#x} -> "
                        f"{rec['session_after'] or 0:#x}")
    if rec["ephemeral_owner"] is None:
        problems.append("ephemeral node gone")
    elif rec["ephemeral_owner"] != rec["session_before"]:
        problems.append(f"ephemeral owned by {rec['ephemeral_owner']:#x}, "
                        f"not {rec['session_before']:#x}")
    counts = {"session": f"{rec['session_before']:#x}", "node": rec.get("connected_to"),
              "states": ">".join(rec["states"]) or "-",
              "ephemeral": "kept" if rec["ephemeral_owner"] == rec["session_before"] else "LOST"}
    return Check("session", not problems, counts, problems)


# --------------------------------------------------------------------------------------------
# 4. Curator InterProcessMutex
# --------------------------------------------------------------------------------------------

def parse_worker_line(line):
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split())}


def finish_workers(procs, stopfile, timeout=60):
    """Tell the mutex workers (procs: [(Popen, output file)]) to stop by creating stopfile,
    wait for them (killing any still running after timeout) and read each one's result
    line: a dict per worker, None for one that wrote none."""
    open(stopfile, "w").close()
    deadline = time.monotonic() + timeout
    results = []
    for proc, out in procs:
        try:
            proc.wait(max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        try:
            with open(out) as f:
                results.append(parse_worker_line(f.read().strip()))
        except (OSError, ValueError):
            results.append(None)
    return results


def check_curator(workers, counter, expected_workers):
    """workers: list of dicts parsed from MutexWorker's result line (None for a JVM that wrote
    none: crashed or hung). counter: final value of the counter znode.
    Pass: every JVM reported; no overlap (file lock or holder ephemeral) and no version conflict
    inside the lock; increments <= counter <= increments + uncertain; no LOST session; at least
    one increment."""
    problems = []
    missing = sum(1 for w in workers if w is None) + max(0, expected_workers - len(workers))
    ws = [w for w in workers if w is not None]
    tot = {k: sum(w.get(k, 0) for w in ws) for k in
           ("acquisitions", "increments", "uncertain", "conflicts", "overlaps", "errors", "lost")}
    if missing:
        problems.append(f"{missing} JVM(s) reported nothing")
    if tot["overlaps"]:
        problems.append(f"{tot['overlaps']} overlapping lock holders")
    if tot["conflicts"]:
        problems.append(f"{tot['conflicts']} version conflicts inside the lock")
    if tot["lost"]:
        problems.append(f"{tot['lost']} Curator sessions LOST")
    if counter is None:
        problems.append("counter unreadable")
    elif not (tot["increments"] <= counter <= tot["increments"] + tot["uncertain"]):
        problems.append(f"counter {counter} != increments {tot['increments']}"
                        + (f" (+ up to {tot['uncertain']} uncertain)" if tot["uncertain"] else ""))
    if tot["increments"] == 0 and not missing:
        problems.append("no increment at all")
    counts = {"jvms": len(ws), "counter": counter, **tot}
    return Check("curator", not problems, counts, problems)


# --------------------------------------------------------------------------------------------
# 5. convergence: identical trees on every node
# --------------------------------------------------------------------------------------------

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")


# Stat fields that legitimately differ between nodes. ZooKeeper writes /zookeeper/config on each
# server from its own configuration (not through a transaction), stamping the local time.
LOCAL_FIELDS = {"/zookeeper/config": {"mtime"}}


def check_convergence(trees, local_fields=LOCAL_FIELDS):
    """trees: {node: {path: (data_bytes, {stat field: value})}} walked on each node after sync.
    Pass when all trees have the same paths, data and every Stat field."""
    problems = []
    nodes = sorted(trees)
    if len(nodes) < 2:
        return Check("convergence", False, {"nodes": len(nodes)}, ["fewer than 2 trees"])
    ref_n = nodes[0]
    ref = trees[ref_n]
    diffs = 0
    for n in nodes[1:]:
        t = trees[n]
        for p in sorted(set(ref) - set(t)):
            diffs += 1
            problems.append(f"{p} on node {ref_n} but not on node {n}")
        for p in sorted(set(t) - set(ref)):
            diffs += 1
            problems.append(f"{p} on node {n} but not on node {ref_n}")
        for p in sorted(set(ref) & set(t)):
            (d1, s1), (d2, s2) = ref[p], t[p]
            if d1 != d2:
                diffs += 1
                problems.append(f"{p}: data differs between nodes {ref_n} and {n}")
            for f in STAT_FIELDS:
                if f in local_fields.get(p, ()):
                    continue
                if s1.get(f) != s2.get(f):
                    diffs += 1
                    problems.append(f"{p}: {f} {s1.get(f)} on node {ref_n}, {s2.get(f)} on node {n}")
    counts = {"nodes": len(nodes), "znodes": len(ref), "differences": diffs}
    return Check("convergence", diffs == 0, counts, problems)


# --------------------------------------------------------------------------------------------
# 6. failover metrics
# --------------------------------------------------------------------------------------------

def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, math.ceil(p / 100.0 * len(xs)) - 1))  # nearest rank
    return xs[k]


def failover_metrics(writes, t_fault, t_heal, target, window_before=5e9, window_after=5e9,
                     t_end=None):
    """writes: list of dicts {invoke, ret, outcome ('ok'|'fail'|'info'), node} for writes
    (setData, CAS, sequential create), times in ns on one monotonic clock; node = the server
    the client was connected to when the answer came.
    failover_ms: from the fault to the first write that was invoked after the fault and
    acknowledged (ok) by a node other than the faulted one.
    p99/p50/max_ms: latency of acknowledged writes invoked in [fault - before, heal + after].
    max_gap_ms: the longest time in [fault, end] with no write acknowledged anywhere."""
    oks = [w for w in writes if w["outcome"] == "ok" and w["ret"] is not None]
    after = [w["ret"] for w in oks if w["invoke"] >= t_fault and w["node"] != target]
    failover = (min(after) - t_fault) / 1e6 if after else None
    lo, hi = t_fault - window_before, t_heal + window_after
    lat = [(w["ret"] - w["invoke"]) / 1e6 for w in oks if lo <= w["invoke"] <= hi]
    end = t_end if t_end is not None else hi
    acks = sorted(w["ret"] for w in oks if t_fault <= w["ret"] <= end)
    gap, prev = 0.0, t_fault
    for r in acks + [end]:
        gap = max(gap, (r - prev) / 1e6)
        prev = r
    info = sum(1 for w in writes if w["outcome"] == "info" and lo <= w["invoke"] <= hi)
    r = lambda x: None if x is None else round(x, 1)
    return {"failover_ms": r(failover), "p50_ms": r(percentile(lat, 50)),
            "p99_ms": r(percentile(lat, 99)), "max_ms": r(max(lat) if lat else None),
            "max_gap_ms": r(gap), "writes_in_window": len(lat), "unknown_in_window": info}


def check_failover(metrics, sessions_lost, acked_lost):
    problems = []
    if metrics.get("failover_ms") is None:
        problems.append("no write acknowledged by another node after the fault")
    if sessions_lost:
        problems.append(f"{sessions_lost} sessions lost")
    if acked_lost:
        problems.append(f"{acked_lost} acknowledged writes lost")
    counts = dict(metrics)
    counts["sessions_lost"] = sessions_lost
    counts["acked_lost"] = acked_lost
    return Check("failover", not problems, counts, problems)
