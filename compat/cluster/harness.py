#!/usr/bin/env python3
"""Process-level fault harness for a 3-node ZooKeeper-compatible ensemble (see README.md).

Usage (normally via run.sh): harness.py --target zk|corral [--short|--long] [--faults LIST]

For each fault: fresh paths under /corral-cluster/<fault>-<rep>, workloads started (register,
seq, session, Curator mutex), the fault injected and healed, workloads stopped, cluster healthy
again, then every checker runs and prints one line. Exits 1 if anything failed.
"""
import argparse
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, NoNodeError, NodeExistsError

import checkers as CK
import cluster as CL
from cluster import log

HERE = os.path.dirname(os.path.abspath(__file__))
SESSION_TIMEOUT = 10.0  # seconds, for every client of the harness
OP_TIMEOUT = 15.0       # a client op not answered within this is recorded as unknown (info)

PROFILES = {
    # CI: each fault once, small workloads
    "short": dict(reps=1, warmup=3.0, post=4.0, kill_down=5.0, partition_hold=13.0,
                  stop_extra=3.0, reg_clients=3, seq_clients=2, pause=0.02, curator_jvms=2,
                  curator_threads=2, lincheck_timeout=60),
    # by hand: 3 repetitions, longer windows, more clients
    "long": dict(reps=3, warmup=8.0, post=8.0, kill_down=10.0, partition_hold=20.0,
                 stop_extra=5.0, reg_clients=4, seq_clients=3, pause=0.01, curator_jvms=3,
                 curator_threads=2, lincheck_timeout=300),
}
ALL_FAULTS = ["kill9-leader", "kill9-follower", "stop-leader", "partition-leader",
              "rolling-restart"]
CURATOR_CP = ":".join(["/usr/share/java/curator-recipes.jar",
                       "/usr/share/java/curator-framework.jar",
                       "/usr/share/java/curator-client.jar", "/usr/share/java/zookeeper.jar",
                       "/usr/share/java/slf4j-nop.jar"])


def now():
    return time.monotonic_ns()


def make_client(hosts, randomize=True):
    return KazooClient(hosts=hosts, timeout=SESSION_TIMEOUT, randomize_hosts=randomize,
                       connection_retry=dict(max_tries=-1, delay=0.05, backoff=1.5,
                                             max_delay=0.5))


def connected_node(client):
    """Which node (1..3) the client is connected to right now, or None."""
    try:
        ip = client._connection._socket.getpeername()[0]
        return int(ip.rsplit(".", 1)[1]) - 10
    except Exception:
        return None


class Tracked:
    """A kazoo client that remembers its state changes and session ids."""

    def __init__(self, name, hosts, randomize=True):
        self.name = name
        self.c = make_client(hosts, randomize)
        self.states = []
        self.lost = False
        self.c.add_listener(self._listen)

    def _listen(self, st):
        self.states.append(str(st))
        if st == KazooState.LOST:
            self.lost = True

    def start(self):
        self.c.start(timeout=30)
        self.states.clear()
        self.session = self.c.client_id[0]
        return self

    def session_changed(self):
        cid = self.c.client_id
        return self.lost or cid is None or cid[0] != self.session

    def close(self):
        try:
            self.c.stop()
            self.c.close()
        except Exception:
            pass


# --------------------------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------------------------

class Recorder:
    """Shared, thread-safe (GIL + lock) record of history lines and writes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = []   # (time, process, kind, rest) for lincheck
        self.writes = []   # dicts for failover metrics
        self.seq = []      # attempts for the seq checker
        self.unexpected = []

    def ev(self, t, proc, kind, rest=""):
        with self.lock:
            self.events.append((t, proc, kind, rest))

    def history_text(self):
        with self.lock:
            return "".join(f"{t} {p} {k} {r}".rstrip() + "\n" for t, p, k, r in self.events)


def register_worker(idx, tc, key, rec, stop, pause, t0):
    c, name = tc.c, f"r{idx}"
    n, last_version = 0, 0
    rnd = random.Random(idx * 7919 + int(time.time()))
    while not stop.is_set():
        n += 1
        r = rnd.random()
        op = "read" if r < 0.4 else ("write" if r < 0.7 else "cas")
        val = idx * 10**9 + n
        t_inv = now() - t0
        w = None
        try:
            if op == "read":
                rec.ev(t_inv, name, "invoke", f"{key} read")
                # Plain ZooKeeper reads are served by the local server and may be stale
                # (sequential consistency); sync first makes the read linearizable.
                s = c.sync_async(key)
                g = c.get_async(key)
                s.get(timeout=OP_TIMEOUT)
                data, st = g.get(timeout=OP_TIMEOUT)
                t_ret = now() - t0
                v = data.decode() if data else "nil"
                rec.ev(t_ret, name, "ok", f"{v} {st.version}")
                last_version = st.version
            else:
                if op == "write":
                    rec.ev(t_inv, name, "invoke", f"{key} write {val}")
                    a = c.set_async(key, str(val).encode(), -1)
                else:
                    rec.ev(t_inv, name, "invoke", f"{key} cas {last_version} {val}")
                    a = c.set_async(key, str(val).encode(), last_version)
                w = {"invoke": t_inv, "ret": None, "outcome": "info", "node": None}
                rec.writes.append(w)
                st = a.get(timeout=OP_TIMEOUT)
                t_ret = now() - t0
                w.update(ret=t_ret, outcome="ok", node=connected_node(c))
                rec.ev(t_ret, name, "ok", str(st.version))
                last_version = st.version
        except BadVersionError:
            t_ret = now() - t0
            if w is not None:
                w.update(ret=t_ret, outcome="fail", node=connected_node(c))
            rec.ev(t_ret, name, "fail", "badversion")
        except NoNodeError as e:  # a definite answer, and a bug: the znode always exists
            rec.unexpected.append(f"{name} {op}: {e!r}")
            rec.ev(now() - t0, name, "fail")
        except Exception as e:  # connection loss, timeout, session expired: unknown outcome
            rec.ev(now() - t0, name, "info", type(e).__name__)
        stop.wait(pause)


def seq_worker(idx, tc, parent, rec, stop, pause, t0):
    c = tc.c
    n = 0
    while not stop.is_set():
        token = f"c{idx}-{n}"
        n += 1
        a = {"token": token, "invoke": now() - t0, "ret": None, "outcome": "info", "name": None}
        w = {"invoke": a["invoke"], "ret": None, "outcome": "info", "node": None}
        rec.seq.append(a)
        rec.writes.append(w)
        try:
            path = c.create_async(f"{parent}/{token}-", b"", sequence=True).get(timeout=OP_TIMEOUT)
            t_ret = now() - t0
            a.update(ret=t_ret, outcome="ok", name=path.rsplit("/", 1)[1])
            w.update(ret=t_ret, outcome="ok", node=connected_node(c))
        except (NoNodeError, NodeExistsError) as e:
            a["outcome"] = "fail"
            rec.unexpected.append(f"seq {token}: {e!r}")
        except Exception:
            pass  # unknown outcome
        stop.wait(pause)


def call(c, op, *args, **kw):
    """c.<op>(...) through kazoo's async API with a bound: kazoo's blocking calls wait forever
    while disconnected."""
    return getattr(c, op + "_async")(*args, **kw).get(timeout=OP_TIMEOUT)


def walk_tree(n):
    """The whole tree as node n sees it after `sync`: {path: (data, {stat fields})}."""
    c = make_client(f"{CL.addr(n)}:{CL.CLIENT_PORT}")
    c.start(timeout=30)
    try:
        c.sync("/")
        tree, level = {}, ["/"]
        while level:
            reqs = [(p, c.get_async(p), c.get_children_async(p)) for p in level]
            nxt = []
            for p, g, ch in reqs:
                data, st = g.get(timeout=30)
                kids = ch.get(timeout=30)
                tree[p] = (data, {f: getattr(st, f) for f in CK.STAT_FIELDS})
                nxt += [(p.rstrip("/") + "/" + k) for k in kids]
            level = nxt
        return tree
    finally:
        c.stop()
        c.close()


def delete_tree(c, path):
    """Delete path and everything under it, children in parallel (async)."""
    try:
        kids = call(c, "get_children", path)
    except NoNodeError:
        return
    stats = [(k, c.exists_async(f"{path}/{k}")) for k in kids]
    for k, st in stats:
        st = st.get(timeout=OP_TIMEOUT)
        if st and st.numChildren:
            delete_tree(c, f"{path}/{k}")
    pending = [c.delete_async(f"{path}/{k}") for k in kids]
    for p in pending:
        try:
            p.get(timeout=OP_TIMEOUT)
        except NoNodeError:
            pass
    try:
        call(c, "delete", path)
    except NoNodeError:
        pass


# --------------------------------------------------------------------------------------------
# one fault phase
# --------------------------------------------------------------------------------------------

class Harness:
    def __init__(self, args, prof, cluster, lincheck, results_dir, scratch):
        self.args, self.p, self.cl = args, prof, cluster
        self.lincheck, self.results_dir, self.scratch = lincheck, results_dir, scratch
        self.jvms = []
        self.rows = []

    def curator_start(self, base, phase_secs):
        jdir = os.path.join(self.scratch, "curator")
        os.makedirs(jdir, exist_ok=True)
        stopfile = os.path.join(jdir, "stop")
        if os.path.exists(stopfile):
            os.remove(stopfile)
        lockfile = os.path.join(jdir, "lockfile")
        open(lockfile, "w").close()
        cp = os.path.join(self.args.java_build, ":") + CURATOR_CP
        procs = []
        for j in range(self.p["curator_jvms"]):
            out = os.path.join(jdir, f"result-{j}")
            if os.path.exists(out):
                os.remove(out)
            errlog = open(os.path.join(jdir, f"jvm-{j}.log"), "ab")
            cmd = ["java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                   "-XX:-UsePerfData", "-cp", cp, "corral.cluster.MutexWorker",
                   CL.connect_string(), f"{base}/mutex/lock", f"{base}/mutex/counter",
                   f"{base}/mutex/holder", lockfile, str(self.p["curator_threads"]), stopfile,
                   str(int((phase_secs + 120) * 1000)), out, f"j{j}"]
            pr = subprocess.Popen(cmd, stdout=errlog, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
            errlog.close()
            self.cl.record_pid(pr.pid)
            procs.append((pr, out))
        self.jvms = procs
        return stopfile

    def curator_finish(self, stopfile, timeout=60):
        results = CK.finish_workers(self.jvms, stopfile, timeout)
        self.jvms = []
        return results

    def kill_jvms(self):
        for pr, _ in self.jvms:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
        self.jvms = []

    def choose_target(self, fault):
        lead = self.cl.leader()
        if fault.endswith("-leader"):
            return lead
        return random.choice([n for n in CL.NODES if n != lead])

    def phase(self, fault, rep):
        p, cl = self.p, self.cl
        tag = f"{fault}#{rep}" if self.p["reps"] > 1 else fault
        print(f"== {tag}", flush=True)
        cl.wait_healthy(60)
        base = f"/corral-cluster/{fault}-{rep}"
        adm = make_client(CL.connect_string())
        adm.start(timeout=30)
        clients = []
        stop = threading.Event()
        threads = []
        stopfile = None
        chk = None
        checks = []
        skipped_reason = None
        try:
            call(adm, "ensure_path", "/corral-cluster")
            delete_tree(adm, base)
            for sub in ("seq", "session", "mutex"):
                call(adm, "ensure_path", f"{base}/{sub}")
            key = f"{base}/reg"
            call(adm, "create", key, b"")
            call(adm, "create", f"{base}/mutex/counter", b"0")

            target = self.choose_target(fault)
            modes = cl.modes()
            log(f"modes {modes}; faulted node: {target}")

            # 3. session client: connected to the node that will be faulted
            others = [n for n in CL.NODES if n != target]
            sess = Tracked("session", CL.connect_string([target] + others), randomize=False)
            sess.start()
            clients.append(sess)
            sess_node = connected_node(sess.c)
            sess.c.set_hosts(CL.connect_string(), randomize_hosts=True)  # later: any node
            call(sess.c, "create", f"{base}/session/eph", b"held", ephemeral=True)

            # 4. Curator JVMs
            phase_secs = p["warmup"] + p["post"] + 60
            stopfile = self.curator_start(base, phase_secs)

            # 1./2. kazoo workload clients
            rec = Recorder()
            t0 = now()
            for i in range(p["reg_clients"]):
                tc = Tracked(f"r{i}", CL.connect_string()).start()
                clients.append(tc)
                threads.append(threading.Thread(target=register_worker, daemon=True, args=(
                    i, tc, key, rec, stop, p["pause"], t0)))
            for i in range(p["seq_clients"]):
                tc = Tracked(f"s{i}", CL.connect_string()).start()
                clients.append(tc)
                threads.append(threading.Thread(target=seq_worker, daemon=True, args=(
                    i, tc, f"{base}/seq", rec, stop, p["pause"], t0)))
            for t in threads:
                t.start()
            # the Curator JVMs are running once the counter moved
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and call(adm, "get", f"{base}/mutex/counter")[1].version == 0:
                time.sleep(0.2)
            time.sleep(p["warmup"])

            # ---- the fault
            t_fault, t_heal, note = self.inject(fault, target)
            if note and note.startswith("SKIP"):
                skipped_reason = note
            elif note and note.startswith("FAIL"):
                checks.append(CK.Check("partition", False, {"target": target}, [note[5:]]))
            elif note:
                log(note)
            time.sleep(p["post"])
            t_end = now() - t0
            stop.set()
            for t in threads:
                t.join(OP_TIMEOUT + 5)
            cur_results = self.curator_finish(stopfile)
            stopfile = None
            cl.wait_healthy(60)
            log(f"healed; modes {cl.modes()}")

            # ---- checks, each on its own: one that cannot collect its data fails alone.
            # A fresh client: the old ones may have seen a zxid the ensemble no longer has
            # (after the self-test wipe), and ZooKeeper refuses such clients.
            chk = make_client(CL.connect_string())
            chk.start(timeout=30)
            sessions_lost = 0

            def run_check(name, fn):
                try:
                    checks.append(fn())
                except Exception as e:
                    checks.append(CK.Check(name, False, {}, [f"could not check: {e!r}"]))

            def register():
                # a final synced read through the fresh client closes the history: it must see
                # the last acknowledged write (and the znode must still exist)
                t_inv = now() - t0
                try:
                    chk.sync_async(key).get(timeout=OP_TIMEOUT)
                    data, st = call(chk, "get", key)
                    rec.ev(t_inv, "final", "invoke", f"{key} read")
                    rec.ev(now() - t0, "final", "ok",
                           f"{data.decode() if data else 'nil'} {st.version}")
                except NoNodeError:
                    rec.unexpected.append(f"final read: the register znode {key} is gone")
                hist = rec.history_text()
                with open(os.path.join(self.results_dir,
                                       f"cluster-{cl.target}-{fault}-{rep}.history"), "w") as f:
                    f.write(hist)
                rc = CK.register_counts(rec.events)
                if rec.unexpected:
                    rc["unexpected"] = len(rec.unexpected)
                reg = CK.check_register(hist, self.lincheck, p["lincheck_timeout"], rc)
                if rec.unexpected:
                    reg.ok = False
                    reg.problems += rec.unexpected[:5]
                return reg

            def seq():
                try:
                    present = call(chk, "get_children", f"{base}/seq")
                except NoNodeError:
                    present = []
                return CK.check_seq(rec.seq, present)

            def session():
                eph = call(chk, "exists", f"{base}/session/eph")
                srec = {"connected_to": sess_node, "target": target,
                        "session_before": sess.session,
                        "session_after": sess.c.client_id[0] if sess.c.client_id else None,
                        "states": list(sess.states), "expired": sess.lost,
                        "ephemeral_owner": eph.ephemeralOwner if eph else None}
                return CK.check_session(srec)

            counter = None

            def curator():
                nonlocal counter
                try:
                    counter = int(call(chk, "get", f"{base}/mutex/counter")[0])
                except NoNodeError:
                    counter = None
                return CK.check_curator(cur_results, counter, p["curator_jvms"])

            run_check("register", register)
            run_check("seq", seq)
            run_check("session", session)
            run_check("curator", curator)

            # close every client (sessions end cleanly) before comparing trees
            sessions_lost = sum(1 for c in clients if c.session_changed())
            sessions_lost += sum((w or {}).get("lost", 0) for w in cur_results)
            for c in clients:
                c.close()
            clients = []
            run_check("convergence", self.convergence)

            def failover():
                metrics = CK.failover_metrics(rec.writes, t_fault - t0, t_heal - t0, target,
                                              t_end=t_end)
                incr = sum(w["increments"] for w in cur_results if w)
                cur_short = incr - (counter or 0) if incr > (counter or 0) else 0
                seq_lost = next((c.counts.get("lost", 0) for c in checks if c.name == "seq"), 0)
                return CK.check_failover(metrics, sessions_lost, seq_lost + cur_short)

            run_check("failover", failover)
        finally:
            stop.set()
            if stopfile:
                open(stopfile, "w").close()
            self.kill_jvms()
            for c in clients:
                c.close()
            for z in (chk, adm):
                if z is None:
                    continue
                try:
                    if z.connected:
                        delete_tree(z, base)
                        break
                except Exception as e:
                    log(f"cleanup of {base}: {e!r}")
            for z in (chk, adm):
                if z is not None:
                    z.stop()
                    z.close()

        if skipped_reason:
            for c in checks:
                c.skipped = True
            print(f"{tag}: {skipped_reason}")
        for c in checks:
            print(f"{tag} {c.line()}", flush=True)
        ok = all(c.ok for c in checks)
        status = "SKIP" if skipped_reason else ("PASS" if ok else "FAIL")
        self.rows.append({"fault": fault, "rep": rep, "target_node": target, "status": status,
                          "note": skipped_reason or note or "",
                          "checks": {c.name: {"ok": c.ok, "counts": c.counts,
                                              "problems": c.problems[:20]} for c in checks}})
        return status

    def inject(self, fault, target):
        """Returns (t_fault, t_heal, note) with times from now() (absolute ns)."""
        p, cl, node = self.p, self.cl, self.cl.nodes[target]
        note = ""
        if fault in ("kill9-leader", "kill9-follower"):
            log(f"kill -9 node {target}")
            t_fault = now()
            node.kill9()
            time.sleep(p["kill_down"])
            log(f"restart node {target}; modes {cl.modes()}")
            node.start()
            t_heal = now()
        elif fault == "stop-leader":
            hold = SESSION_TIMEOUT + p["stop_extra"]
            log(f"SIGSTOP node {target} for {hold:.0f}s")
            t_fault = now()
            node.pause()
            time.sleep(hold)
            log(f"SIGCONT node {target}; modes {cl.modes()}")
            node.resume()
            t_heal = now()
        elif fault == "partition-leader":
            log(f"partition node {target} from the others for {p['partition_hold']:.0f}s")
            cl.partition(target)
            t_fault = now()  # after the rules are committed (iptables-restore can take a while)
            effective, seen = self.watch_partition(target, p["partition_hold"])
            log(f"heal; modes while partitioned: {seen}")
            cl.heal()
            t_heal = now()
            if not effective:
                why = ("the partitioned leader kept or regained its role, or the two others "
                       f"elected no leader ({seen})")
                if cl.target == "zk" and not cl.use_uids:
                    # ZooKeeper's peer connections leave from 127.0.0.1: address rules miss them
                    note = f"SKIP partition ineffective without per-node uids: {why}"
                else:
                    note = f"FAIL partition: {why}"
        elif fault == "selftest-wipe":
            # Not a fault a real server survives: proves the checkers bite on a real ensemble.
            # kill -9 every node, delete everything in their dataDirs but myid, restart.
            log("self-test: kill -9 all nodes, wipe their data, restart (checkers must FAIL)")
            t_fault = now()
            for n in CL.NODES:
                cl.nodes[n].kill9()
            for n in CL.NODES:
                d = cl.nodes[n].data
                for e in os.listdir(d):
                    if e != "myid":
                        pe = os.path.join(d, e)
                        shutil.rmtree(pe) if os.path.isdir(pe) else os.remove(pe)
            for n in CL.NODES:
                cl.nodes[n].start()
            cl.wait_healthy(60)
            t_heal = now()
            note = "self-test: all data wiped on purpose, the checkers must FAIL"
        elif fault == "rolling-upgrade":
            # the cluster runs --upgrade-from's binary; each node comes back on --corral-bin
            t_fault = now()
            old, cl.corral_bin = cl.corral_bin, self.args.corral_bin
            lead = cl.leader()
            order = [n for n in CL.NODES if n != lead] + [lead]
            cl.rolling_restart(order=order)
            t_heal = now()
            note = f"upgrade {old} -> {cl.corral_bin}, order {order}"
        elif fault == "rolling-restart":
            t_fault = now()
            others = [n for n in CL.NODES if n != target]
            lead = cl.leader()
            order = [target] + [n for n in others if n != lead] + ([lead] if lead != target else [])
            cl.rolling_restart(order=order)
            t_heal = now()
            note = f"restart order {order}"
        else:
            raise ValueError(fault)
        return t_fault, t_heal, note

    def watch_partition(self, target, hold):
        """Poll modes during the partition. Effective when the target stops serving as leader/
        follower and the two others elect a leader among themselves, and it stays that way."""
        deadline = time.monotonic() + hold
        effective, seen, regained = False, [], False
        while time.monotonic() < deadline:
            m = self.cl.modes()
            if not seen or seen[-1] != m:
                seen.append(m)
            others = [m[n] for n in CL.NODES if n != target]
            cut = m[target] not in ("leader", "follower")
            if cut and sorted(others) == ["follower", "leader"]:
                effective = True
            elif effective and m[target] in ("leader", "follower"):
                regained = True
            time.sleep(0.5)
        compact = " -> ".join("/".join(f"{n}:{v}" for n, v in s.items()) for s in seen[:6])
        return effective and not regained, compact

    def convergence(self):
        last = None
        for attempt in range(3):
            trees = {n: walk_tree(n) for n in CL.NODES}
            last = CK.check_convergence(trees)
            if last.ok:
                break
            time.sleep(2)
        last.counts["walks"] = attempt + 1
        return last


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True, choices=["zk", "corral"])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--short", action="store_const", dest="profile", const="short")
    g.add_argument("--long", action="store_const", dest="profile", const="long")
    ap.add_argument("--faults", default=",".join(ALL_FAULTS))
    ap.add_argument("--reps", type=int)
    ap.add_argument("--corral-bin")
    ap.add_argument("--upgrade-from", metavar="OLD_BIN",
                    help="start on this corral binary and run the rolling-upgrade fault first: "
                         "every node is restarted, one at a time, on --corral-bin")
    ap.add_argument("--lincheck", required=True)
    ap.add_argument("--java-build", required=True)
    ap.add_argument("--results-dir", required=True)
    ap.add_argument("--run-id", default=str(os.getpid()))
    ap.add_argument("--scratch", help="temp dir for the cluster (created by run.sh)")
    args = ap.parse_args()
    prof = dict(PROFILES[args.profile or "short"])
    if args.reps:
        prof["reps"] = args.reps
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    for f in faults:
        if f not in ALL_FAULTS + ["selftest-wipe"]:
            ap.error(f"unknown fault {f}; known: {','.join(ALL_FAULTS)}")
    os.makedirs(args.results_dir, exist_ok=True)
    # kazoo's connection warnings (expected during faults) go to a file, not the console
    logging.basicConfig(filename=os.path.join(args.results_dir, f"cluster-{args.target}-clients.log"),
                        filemode="w", level=logging.INFO,
                        format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")

    # SIGTERM/SIGHUP -> KeyboardInterrupt, so the finally blocks clean up
    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    use_uids = None
    if os.environ.get("CLUSTER_NODE_UIDS") == "0":
        use_uids = False
    if args.upgrade_from:
        if args.target != "corral":
            ap.error("--upgrade-from is for --target corral")
        faults = ["rolling-upgrade"] + [f for f in faults if f != "rolling-upgrade"]
    cl = CL.Cluster(args.target, corral_bin=args.upgrade_from or args.corral_bin,
                    run_id=args.run_id,
                    base_dir=os.path.join(args.scratch, "nodes") if args.scratch else None,
                    use_uids=use_uids)
    scratch = args.scratch or cl.base
    h = Harness(args, prof, cl, args.lincheck, args.results_dir, scratch)
    statuses = []
    failed_hard = None
    t_start = time.monotonic()
    keep_logs = None
    try:
        log(f"starting 3 {args.target} nodes (node uids: {cl.use_uids})")
        t = time.monotonic()
        modes = cl.start(90)
        log(f"cluster up in {time.monotonic() - t:.1f}s: {modes}")
        for rep in range(1, prof["reps"] + 1):
            for f in faults:
                if f == "rolling-upgrade" and rep > 1:
                    continue  # upgraded once; later repetitions would only restart
                try:
                    statuses.append(h.phase(f, rep))
                except KeyboardInterrupt:
                    raise
                except Exception as e:
                    print(f"{f} ERROR: {e!r}", flush=True)
                    statuses.append("FAIL")
                    h.rows.append({"fault": f, "rep": rep, "status": "FAIL", "note": repr(e),
                                   "checks": {}})
                    h.kill_jvms()
                    # bring every node back for the next fault
                    for n in CL.NODES:
                        if cl.nodes[n].stopped:
                            cl.nodes[n].resume()
                        cl.nodes[n].start()
                    cl.heal()
    except KeyboardInterrupt as e:
        failed_hard = f"interrupted ({e})"
    except Exception as e:
        failed_hard = f"{type(e).__name__}: {e}"
    finally:
        h.kill_jvms()
        if failed_hard or "FAIL" in statuses:
            keep_logs = args.results_dir
        cl.destroy(keep_logs_in=keep_logs)
    wall = time.monotonic() - t_start
    passed, failed, skipped = (statuses.count(s) for s in ("PASS", "FAIL", "SKIP"))
    if failed_hard:
        print(f"ERROR: {failed_hard}")
        failed += 1
    write_results(args, prof, h.rows, wall)
    print(f"CLUSTER SUMMARY: target={args.target} faults={len(statuses)} passed={passed} "
          f"failed={failed} skipped={skipped} wall={wall:.0f}s")
    sys.exit(1 if failed else 0)


def write_results(args, prof, rows, wall):
    base = os.path.join(args.results_dir, f"cluster-{args.target}")
    with open(base + ".json", "w") as f:
        json.dump({"target": args.target, "profile": args.profile or "short", "wall_s": round(wall),
                   "rows": rows}, f, indent=1, default=str)
    g = lambda r, c, k: r.get("checks", {}).get(c, {}).get("counts", {}).get(k, "")
    lines = [f"# cluster harness: target={args.target} profile={args.profile or 'short'} "
             f"wall={wall:.0f}s\n",
             "| fault | rep | status | register ops/info | lincheck | seq acked/unknown/lost | "
             "session | curator incr/counter | convergence znodes/diffs | failover ms | "
             "p99 ms | max ms | max gap ms | sessions lost | acked lost | note |",
             "|" + "---|" * 16]
    for r in rows:
        lines.append("| " + " | ".join(str(x) for x in [
            r["fault"], r["rep"], r["status"],
            f"{g(r, 'register', 'ops')}/{g(r, 'register', 'info')}", g(r, "register", "lincheck"),
            f"{g(r, 'seq', 'acked')}/{g(r, 'seq', 'unknown')}/{g(r, 'seq', 'lost')}",
            g(r, "session", "ephemeral"),
            f"{g(r, 'curator', 'increments')}/{g(r, 'curator', 'counter')}",
            f"{g(r, 'convergence', 'znodes')}/{g(r, 'convergence', 'differences')}",
            g(r, "failover", "failover_ms"), g(r, "failover", "p99_ms"),
            g(r, "failover", "max_ms"), g(r, "failover", "max_gap_ms"),
            g(r, "failover", "sessions_lost"), g(r, "failover", "acked_lost"),
            r.get("note", "").replace("|", "/")]) + " |")
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
