#!/usr/bin/env python3
"""The Corral image's 3-node compose cluster under container faults, with real clients.

Run by test.sh, which builds the image, starts the cluster (docker/compose.yml) and removes
everything afterwards. Clients reach the nodes only through their published ports on 127.0.0.1.

1. kill: a Curator InterProcessMutex (2 JVMs, compat/cluster's MutexWorker), a kazoo writer
   and a kazoo session with an ephemeral node run while the container the session is on (the
   leader's, normally) is killed with `docker kill`, held down, and started again.
2. partition: the leader's container is disconnected from the cluster network and attached to
   a probe network of its own, so its published port still reaches it but no peer does. The
   two others must keep acknowledging writes; the lone node must refuse a client (handshake
   refused or connection closed) or its write.
3. heal: it is reconnected with its old IP and name; once the clients have stopped, every node
   must show the same `hash` (zxid and tree digest).
Then: the kazoo session survived with its ephemeral node, every acknowledged write is in the
tree, the Curator holders never overlapped and the counter they guarded adds up, and Docker
reports every container healthy. One line per check, then a summary; exit 1 on any failure.
"""
import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cluster"))
import checkers as CK  # noqa: E402  (compat/cluster's checkers: Check, check_curator)

SESSION_TIMEOUT = 10.0   # s, every kazoo client's
OP_TIMEOUT = 10.0        # s, a kazoo op not answered within this counts as not acknowledged
KILL_DOWN = 10.0         # s a killed container stays down
PARTITION_HOLD = 10.0    # s a node stays cut off
CUT_OFF = 3.0            # s before probing the lone node (Corral's limit is about 1.3 s)
MIN_ACKS = 10            # writes the majority must acknowledge in each fault window
MAX_GAP = 10.0           # s, longest time without an acknowledged write during a fault
CURATOR_CP = ":".join(f"/usr/share/java/{j}.jar" for j in (
    "curator-recipes", "curator-framework", "curator-client", "zookeeper", "slf4j-nop"))
BASE = "/docker-test"

checks = []


def say(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def record(name, ok, counts=None, problems=()):
    c = CK.Check(name, ok, dict(counts or {}), list(problems))
    checks.append(c)
    say(c.line())
    return c


def docker(*args, timeout=60):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


def four(port, word, timeout=2.0):
    """A four-letter word's answer through a published port, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(word.encode())
            out = b""
            while len(out) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
            return out.decode(errors="replace")
    except OSError:
        return None


def mode(port):
    for line in (four(port, "srvr") or "").splitlines():
        if line.startswith("Mode: "):
            return line[len("Mode: "):].strip()
    return None


def wait_for(what, cond, timeout, step=0.5):
    """Polls cond() until it returns something true; that value, or None after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            say(f"gave up after {timeout:.0f} s waiting for {what}")
            return None
        time.sleep(step)


def client(ports, randomize=True, retries=-1):
    return KazooClient(hosts=",".join(f"127.0.0.1:{p}" for p in ports), timeout=SESSION_TIMEOUT,
                       randomize_hosts=randomize,
                       connection_retry=dict(max_tries=retries, delay=0.05, backoff=1.5,
                                             max_delay=0.5))


def call(c, op, *args, **kw):
    """c.<op>(...) with a bound: kazoo's blocking calls wait forever while disconnected."""
    return getattr(c, op + "_async")(*args, **kw).get(timeout=OP_TIMEOUT)


class Writer(threading.Thread):
    """Sequential creates, one at a time; remembers which were acknowledged and when."""

    def __init__(self, ports):
        super().__init__(daemon=True)
        self.c = client(ports)
        self.c.start(timeout=30)
        self.stop = threading.Event()
        self.acks = []      # (monotonic time, path, data)
        self.failures = 0
        # every create, for compat/cluster's check_seq: {token, invoke, ret, outcome, name}
        self.attempts = []

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            token = f"w{i}"
            data = token.encode()
            invoke = time.monotonic_ns()
            try:
                path = call(self.c, "create", f"{BASE}/w/{token}-", data, sequence=True)
                self.acks.append((time.monotonic(), path, data))
                self.attempts.append({"token": token, "invoke": invoke,
                                      "ret": time.monotonic_ns(), "outcome": "ok",
                                      "name": path.rsplit("/", 1)[1]})
            except Exception:
                # connection loss and the like: the create may or may not have happened
                self.failures += 1
                self.attempts.append({"token": token, "invoke": invoke, "ret": None,
                                      "outcome": "info"})
                self.stop.wait(0.1)
            self.stop.wait(0.02)

    def window(self, t0, t1):
        """(writes acknowledged in [t0, t1], longest wait for one in that window)."""
        times = [t for t, _, _ in self.acks if t0 <= t <= t1]
        edges = [t0, *times, t1]
        return len(times), max(b - a for a, b in zip(edges, edges[1:]))

    def close(self):
        self.stop.set()
        self.join(OP_TIMEOUT + 5)
        self.c.stop()
        self.c.close()


class Session:
    """A kazoo session holding an ephemeral node; remembers its state changes."""

    def __init__(self, ports):
        # In the given order: the first port is where the session starts.
        self.c = client(ports, randomize=False)
        self.states = []
        # the port it was on when the fault came, and the port that was faulted
        self.at_fault = None
        self.faulted = None
        self.c.add_listener(lambda st: self.states.append(str(st)))
        self.c.start(timeout=30)
        self.id = self.c.client_id[0]
        call(self.c, "create", f"{BASE}/session", b"", ephemeral=True)

    def port(self):
        try:
            return self.c._connection._socket.getpeername()[1]
        except Exception:
            return None


class Curator:
    """compat/cluster's MutexWorker JVMs: InterProcessMutex holders that check for overlap."""

    def __init__(self, java_build, ports, scratch, jvms=2, threads=2):
        self.dir = os.path.join(scratch, "curator")
        os.makedirs(self.dir, exist_ok=True)
        self.stopfile = os.path.join(self.dir, "stop")
        lockfile = os.path.join(self.dir, "lockfile")
        open(lockfile, "w").close()
        connect = ",".join(f"127.0.0.1:{p}" for p in ports)
        self.procs = []
        for j in range(jvms):
            out = os.path.join(self.dir, f"result-{j}")
            log = open(os.path.join(self.dir, f"jvm-{j}.log"), "ab")
            cmd = ["java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                   "-XX:-UsePerfData", "-cp", f"{java_build}:{CURATOR_CP}",
                   "corral.cluster.MutexWorker", connect, f"{BASE}/mutex/lock",
                   f"{BASE}/mutex/counter", f"{BASE}/mutex/holder", lockfile, str(threads),
                   self.stopfile, "300000", out, f"j{j}"]
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
            log.close()
            self.procs.append((p, out))

    def finish(self, timeout=60):
        results = CK.finish_workers(self.procs, self.stopfile, timeout)
        self.procs = []
        return results

    def kill(self):
        for p, _ in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def leader(ports):
    found = [p for p in ports if mode(p) == "leader"]
    return found[0] if len(found) == 1 else None


def serving(port):
    return mode(port) in ("leader", "follower")


def lone_node_refuses(port):
    """A client given only `port`: connected (the handshake answered) and able to write = bad.
    Returns (refused: bool, how)."""
    c = client([port], retries=2)
    try:
        c.start(timeout=5)
    except Exception as e:
        return True, f"no session ({type(e).__name__})"
    try:
        call(c, "create", f"{BASE}/lone-", b"x", sequence=True)
        return False, "a write was acknowledged"
    except Exception as e:
        return True, f"write failed ({type(e).__name__})"
    finally:
        c.stop()
        c.close()


def hashes(ports):
    return [(four(p, "hash") or "").strip() for p in ports]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", required=True, help="published client ports of zoo1,zoo2,zoo3")
    ap.add_argument("--containers", required=True, help="container names of zoo1,zoo2,zoo3")
    ap.add_argument("--network", required=True, help="the compose network")
    ap.add_argument("--probe-network", required=True,
                    help="an empty network the test made, for the lone node's published port")
    ap.add_argument("--java-build", required=True)
    ap.add_argument("--scratch", required=True)
    a = ap.parse_args()
    ports = [int(p) for p in a.ports.split(",")]
    names = a.containers.split(",")
    container = dict(zip(ports, names))
    service = dict(zip(ports, ["zoo1", "zoo2", "zoo3"]))
    logging.basicConfig(filename=os.path.join(a.scratch, "kazoo.log"), level=logging.WARNING)
    t_start = time.monotonic()
    # Every wait is bounded; this bounds their sum too. SIGTERM/SIGALRM unwind through the
    # finally blocks, which stop the JVMs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGALRM, lambda *_: sys.exit("scenario.py: over 10 minutes; gave up"))
    signal.alarm(600)

    lead = wait_for("a leader and two followers",
                    lambda: leader(ports) if all(mode(p) in ("leader", "follower")
                                                 for p in ports) else None, 90)
    if not lead:
        record("cluster-up", False, problems=["no leader with two followers within 90 s"])
        return finish(t_start)
    say(f"cluster up: leader {service[lead]}")

    chk = client(ports)
    chk.start(timeout=30)
    chk.ensure_path(f"{BASE}/w")
    chk.ensure_path(f"{BASE}/mutex")
    try:
        chk.create(f"{BASE}/mutex/counter", b"0")
    except NodeExistsError:
        pass

    curator = Curator(a.java_build, ports, a.scratch)
    writer = Writer(ports)
    writer.start()
    session = Session([lead] + [p for p in ports if p != lead])
    try:
        run_faults(a, ports, container, service, writer, session)
    finally:
        writer.close()
        results = curator.finish()
        curator.kill()

    # The session is still open: its ephemeral node must be there, and its id unchanged
    # (compat/cluster's check_session, tested on bad records in test_checkers.py).
    try:
        st = call(chk, "exists", f"{BASE}/session")
        owner = st.ephemeralOwner if st else None
    except Exception:
        owner = None
    cid = session.c.client_id
    c = CK.check_session({
        "connected_to": session.at_fault, "target": session.faulted,
        "session_before": session.id, "session_after": cid[0] if cid else None,
        "states": session.states, "ephemeral_owner": owner, "expired": False})
    record("kazoo-session", c.ok, c.counts, c.problems)
    session.c.stop()
    session.c.close()

    try:
        counter = int(call(chk, "get", f"{BASE}/mutex/counter")[0])
    except Exception:
        counter = None
    c = CK.check_curator(results, counter, 2)
    record("curator-mutex", c.ok, c.counts, c.problems)

    # Every acknowledged write is in the tree, with its data; nothing else is, nothing twice,
    # and sequence numbers follow real time (compat/cluster's check_seq, tested on bad
    # histories in test_checkers.py).
    try:
        call(chk, "sync", "/")
        children = call(chk, "get_children", f"{BASE}/w")
        seq = CK.check_seq(writer.attempts, children)
        present = {f"{BASE}/w/{k}" for k in children}
        wrong = [p for _, p, d in writer.acks[-50:]
                 if p in present and call(chk, "get", p)[0] != d]
        problems = seq.problems + [f"data differs at {wrong[:3]}"] * bool(wrong)
        problems += ["no write was acknowledged"] * (not writer.acks)
        counts = {**seq.counts, "not_acked": writer.failures}
    except Exception as e:
        problems, counts = [f"tree unreadable: {e}"], {}
    record("acked-writes-kept", not problems, counts, problems)
    chk.stop()
    chk.close()

    # Same zxid and digest everywhere, twice in a row (clients are gone: nothing changes).
    seen = {"last": None}

    def same():
        h = hashes(ports)
        ok = all(h) and len(set(h)) == 1 and h == seen["last"]
        seen["last"] = h
        return ok

    converged = wait_for("the same hash on every node", same, 60)
    record("same-digest", bool(converged), {"hash": (seen["last"] or ["?"])[0]},
           [] if converged else [f"hashes: {seen['last']}"])

    # Docker's view: the HEALTHCHECK (`corral health`) passes on every container.
    def healthy():
        states = [docker("inspect", "-f", "{{.State.Health.Status}}", n) for n in names]
        seen["health"] = states
        return all(s == "healthy" for s in states)

    ok = wait_for("every container healthy", healthy, 45, step=1)
    record("healthcheck", bool(ok), {"status": ",".join(seen.get("health", []))})
    return finish(t_start)


def run_faults(a, ports, container, service, writer, session):
    time.sleep(3)  # the workloads get going

    # 1. kill the container the session is on (normally the leader's) and start it again.
    session.at_fault = session.port()
    victim = session.at_fault or leader(ports) or ports[0]
    session.faulted = victim
    was = mode(victim)
    say(f"kill: docker kill {container[victim]} ({service[victim]}, {was}, holds the session)")
    t_kill = time.monotonic()
    docker("kill", container[victim])
    time.sleep(KILL_DOWN)
    t_back = time.monotonic()
    docker("start", container[victim])
    back = wait_for(f"{service[victim]} serving again", lambda: serving(victim), 60)
    acks, gap = writer.window(t_kill, t_back)
    record("kill-writes", acks >= MIN_ACKS and gap <= MAX_GAP,
           {"node": service[victim], "was": was, "acked_while_down": acks,
            "longest_wait_s": f"{gap:.1f}", "down_s": f"{t_back - t_kill:.1f}"},
           [f"only {acks} writes acknowledged while it was down"] * (acks < MIN_ACKS)
           + [f"no write acknowledged for {gap:.1f} s"] * (gap > MAX_GAP))
    record("kill-rejoin", bool(back), {"node": service[victim], "mode": mode(victim)},
           [] if back else ["not serving 60 s after docker start"])
    time.sleep(3)

    # 2. cut the leader off: off the cluster network, onto a probe network alone.
    lone = wait_for("a leader", lambda: leader(ports), 30)
    if not lone:
        record("partition", False, problems=["no leader to cut off"])
        return
    others = [p for p in ports if p != lone]
    name = container[lone]
    ip = docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{a.network}").IPAddress}}}}',
                name)
    say(f"partition: {name} ({service[lone]}, leader, {ip}) off {a.network}")
    t_cut = time.monotonic()
    docker("network", "disconnect", a.network, name)
    # Docker moves the published port to the new network: clients reach the lone node's
    # process, which has no route to its peers (Docker isolates networks from each other).
    docker("network", "connect", a.probe_network, name)
    time.sleep(CUT_OFF)
    lone_mode = mode(lone)
    refused, how = lone_node_refuses(lone)
    record("partition-lone-refuses", lone_mode is not None and lone_mode not in
           ("leader", "follower") and refused,
           {"node": service[lone], "mode": lone_mode, "client": how},
           ([f"its port did not answer srvr: the check would prove nothing"] if lone_mode is None
            else [f"it still says Mode: {lone_mode}"] * (lone_mode in ("leader", "follower")))
           + [how] * (not refused))
    # A client of the two others alone writes, besides the writer of every node.
    m = client(others)
    try:
        m.start(timeout=15)
        call(m, "create", f"{BASE}/majority-", b"x", sequence=True)
        majority_ok, why = True, ""
    except Exception as e:
        majority_ok, why = False, f"a client of the majority could not write: {type(e).__name__}"
    finally:
        m.stop()
        m.close()
    rest = PARTITION_HOLD - (time.monotonic() - t_cut)
    if rest > 0:
        time.sleep(rest)
    t_heal = time.monotonic()
    acks, gap = writer.window(t_cut, t_heal)
    record("partition-majority-writes", majority_ok and acks >= MIN_ACKS and gap <= MAX_GAP,
           {"nodes": "+".join(service[p] for p in others), "acked_while_cut": acks,
            "longest_wait_s": f"{gap:.1f}", "cut_s": f"{t_heal - t_cut:.1f}"},
           [why] * (not majority_ok) + [f"only {acks} writes acknowledged"] * (acks < MIN_ACKS)
           + [f"no write acknowledged for {gap:.1f} s"] * (gap > MAX_GAP))

    # 3. back with its old IP and its service name, as compose had it.
    docker("network", "disconnect", a.probe_network, name)
    docker("network", "connect", "--ip", ip, "--alias", service[lone], a.network, name)
    say(f"heal: {name} back on {a.network} at {ip}")
    back = wait_for(f"{service[lone]} serving again", lambda: serving(lone), 60)
    record("partition-rejoin", bool(back), {"node": service[lone], "mode": mode(lone)},
           [] if back else ["not serving 60 s after reconnecting"])
    time.sleep(3)

    # 4. hand leadership to a follower with `corral cluster transfer-leader`, run in the
    # leader's container against its admin server; writers and the session go on meanwhile
    # (the acknowledged-write and session checks after this cover the hand-over too).
    was = wait_for("a leader", lambda: leader(ports), 30)
    if not was:
        record("transfer-leader", False, problems=["no leader to hand over from"])
        return
    to = next(p for p in ports if p != was and mode(p) == "follower")
    to_id = service[to].removeprefix("zoo")
    say(f"transfer: {service[was]} hands leadership to {service[to]}")
    t0 = time.monotonic()
    r = subprocess.run(["docker", "exec", container[was], "/corral", "cluster", "transfer-leader",
                        to_id, "--admin", "127.0.0.1:8080"], capture_output=True, text=True,
                       timeout=60)
    took = time.monotonic() - t0
    now = mode(to)
    time.sleep(2)
    acks, gap = writer.window(t0, time.monotonic())
    problems = ([f"exit {r.returncode}: {r.stderr.strip()}"] * (r.returncode != 0)
                + [f"{service[to]} says Mode: {now}"] * (now != "leader")
                + [f"no write acknowledged for {gap:.1f} s"] * (gap > MAX_GAP))
    record("transfer-leader", not problems,
           {"from": service[was], "to": service[to], "took_s": f"{took:.1f}",
            "longest_write_wait_s": f"{gap:.1f}"}, problems)
    time.sleep(3)


def finish(t_start):
    failed = [c.name for c in checks if not c.ok]
    print(f"DOCKER SUMMARY: checks={len(checks)} passed={len(checks) - len(failed)} "
          f"failed={len(failed)} wall={time.monotonic() - t_start:.0f}s"
          + (f" failed_checks={','.join(failed)}" if failed else ""), flush=True)
    return 1 if failed or not checks else 0


if __name__ == "__main__":
    sys.exit(main())
