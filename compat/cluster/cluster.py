"""Process-level control of a 3-node ZooKeeper-compatible ensemble on loopback.

Node N (1..3) listens on 127.0.0.1N: client port 2181, quorum port 2888, election port 3888.
Targets:
  zk      Apache ZooKeeper 3.8 (Debian), QuorumPeerMain, one JVM per node.
  corral  $CORRAL_BIN serve --config DIR/zoo.cfg (same zoo.cfg shape).

Faults: stop (SIGTERM), kill -9, SIGSTOP/SIGCONT, partition (iptables, own chain, OUTPUT on lo),
rolling restart. Everything the Cluster creates is undone by Cluster.destroy() (processes,
iptables chain, temp dir); callers run it in a finally block.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ZK_CP = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
CLIENT_PORT = 2181
PEER_PORTS = "2888,3888"
NODES = (1, 2, 3)
# Each node runs under its own uid (when we are root and setpriv exists), so a partition can
# match the packets a node *sends* (iptables owner match) even when its outgoing peer
# connections leave from 127.0.0.1, as ZooKeeper's do. No passwd entries are needed.
UID_BASE = 59010


def addr(n):
    return f"127.0.0.1{n}"


def connect_string(nodes=NODES):
    return ",".join(f"{addr(n)}:{CLIENT_PORT}" for n in nodes)


def four_letter(n, word, timeout=1.0):
    """Send a four-letter word to node n; returns the reply text or None (no answer)."""
    try:
        with socket.create_connection((addr(n), CLIENT_PORT), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return None


def mode(n, timeout=1.0):
    """'leader' / 'follower' / 'standalone' from `srvr`, 'down' if no answer, 'not-serving' else."""
    r = four_letter(n, "srvr", timeout)
    if r is None:
        return "down"
    for line in r.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return "not-serving"


def wait_serving(nodes=NODES, timeout=60.0, alive=None):
    """Wait until every node in `nodes` answers `srvr` with leader/follower and exactly one of
    them is the leader; returns {n: mode}. alive(n) -> bool (optional) makes a node that exited
    fail at once instead of at the timeout."""
    deadline = time.monotonic() + timeout
    modes = {}
    while True:
        for n in nodes:
            if alive is not None and not alive(n):
                raise RuntimeError(f"node {n} is not running")
        modes = {n: mode(n) for n in nodes}
        if (list(modes.values()).count("leader") == 1
                and all(m in ("leader", "follower") for m in modes.values())):
            return modes
        if time.monotonic() >= deadline:
            raise RuntimeError(f"not serving after {timeout}s: {modes}")
        time.sleep(0.05)


def log(msg):
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Node:
    def __init__(self, cluster, n):
        self.cluster, self.n = cluster, n
        self.dir = os.path.join(cluster.base, f"n{n}")
        self.data = os.path.join(self.dir, "data")
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        self.logfile = os.path.join(self.dir, "server.log")
        self.proc = None
        self.stopped = False  # SIGSTOPped
        self.uid = UID_BASE + n if cluster.use_uids else None

    @property
    def addr(self):
        return addr(self.n)

    def write_config(self):
        os.makedirs(self.data, exist_ok=True)
        with open(os.path.join(self.data, "myid"), "w") as f:
            f.write(f"{self.n}\n")
        lines = [
            f"tickTime={self.cluster.tick_ms}",
            "initLimit=10",
            "syncLimit=5",
            f"dataDir={self.data}",
            f"clientPort={CLIENT_PORT}",
            f"clientPortAddress={self.addr}",
            "maxClientCnxns=0",
            "4lw.commands.whitelist=*",
            "admin.enableServer=false",
        ]
        lines += [f"server.{m}={addr(m)}:2888:3888;{addr(m)}:{CLIENT_PORT}" for m in NODES]
        with open(self.cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        if self.uid is not None:
            for root, dirs, files in os.walk(self.dir):
                for p in [root] + [os.path.join(root, x) for x in dirs + files]:
                    os.chown(p, self.uid, self.uid)

    def command(self):
        c = self.cluster
        if c.target == "zk":
            cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:-UsePerfData",
                   "-Dzookeeper.4lw.commands.whitelist=*",
                   "-Dzookeeper.admin.enableServer=false",
                   "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                   "-Dorg.slf4j.simpleLogger.showDateTime=true",
                   "-cp", ZK_CP, "org.apache.zookeeper.server.quorum.QuorumPeerMain", self.cfg]
        else:
            cmd = [c.corral_bin, "serve", "--config", self.cfg]
        if self.uid is not None:
            cmd = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups"] + cmd
        return cmd

    def log_tail(self, lines=8):
        try:
            with open(self.logfile, "rb") as f:
                return "\n".join("    " + l.decode(errors="replace")
                                 for l in f.read().splitlines()[-lines:])
        except OSError:
            return "    (no log)"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        if self.running():
            return
        logf = open(self.logfile, "ab")
        logf.write(f"\n==== start {time.strftime('%H:%M:%S')}\n".encode())
        logf.flush()
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        self.proc = subprocess.Popen(self.command(), stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=self.dir, env=env)
        logf.close()
        self.stopped = False
        self.cluster.record_pid(self.proc.pid)

    def signal(self, sig):
        if self.running():
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=15.0):
        """SIGTERM, wait; SIGKILL after timeout."""
        if not self.running():
            return
        if self.stopped:
            self.resume()
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        self.proc = None

    def kill9(self):
        if self.running():
            self.signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None
        self.stopped = False

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.stopped = False

    def mode(self, timeout=1.0):
        return mode(self.n, timeout)

    def ruok(self):
        return four_letter(self.n, "ruok") == "imok"


class Cluster:
    def __init__(self, target, corral_bin=None, tick_ms=1000, run_id=None, base_dir=None,
                 use_uids=None):
        self.target = target
        self.corral_bin = corral_bin
        self.tick_ms = tick_ms
        self.run_id = run_id or str(os.getpid())
        self.base = base_dir or tempfile.mkdtemp(prefix=f"corral-cluster-{target}-")
        os.makedirs(self.base, exist_ok=True)
        os.chmod(self.base, 0o755)
        if use_uids is None:
            use_uids = os.geteuid() == 0 and shutil.which("setpriv") is not None
        self.use_uids = use_uids
        self.chain = f"CORRAL-CLU-{self.run_id}"[:28]
        self.chain_installed = False
        self.partitioned = set()
        self.nodes = {n: Node(self, n) for n in NODES}
        self.pidfile = os.path.join(self.base, "pids")

    # ---- bookkeeping for the shell trap (it kills what is listed here if we die hard)
    def record_pid(self, pid):
        with open(self.pidfile, "a") as f:
            f.write(f"{pid}\n")

    def connect_string(self):
        return connect_string()

    # ---- lifecycle
    def start(self, timeout=60.0):
        for node in self.nodes.values():
            node.write_config()
        for node in self.nodes.values():
            node.start()
        return self.wait_healthy(timeout)

    def wait_healthy(self, timeout=60.0, nodes=NODES):
        """Wait until every node in `nodes` serves and exactly one leader exists among them."""
        deadline = time.monotonic() + timeout
        modes = {}
        while time.monotonic() < deadline:
            for n in nodes:
                if not self.nodes[n].running():
                    tail = self.nodes[n].log_tail()
                    raise RuntimeError(f"node {n} exited (rc {self.nodes[n].proc.returncode if self.nodes[n].proc else '?'}); "
                                       f"last log lines:\n{tail}")
            modes = {n: mode(n) for n in nodes}
            if (list(modes.values()).count("leader") == 1
                    and all(m in ("leader", "follower") for m in modes.values())):
                return modes
            time.sleep(0.1)
        raise RuntimeError(f"cluster not healthy after {timeout}s: {modes}")

    def leader(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n in NODES:
                if self.nodes[n].running() and not self.nodes[n].stopped and mode(n) == "leader":
                    return n
            time.sleep(0.1)
        raise RuntimeError("no leader found")

    def followers(self):
        lead = self.leader()
        return [n for n in NODES if n != lead]

    def modes(self):
        return {n: mode(n, 0.5) for n in NODES}

    def rolling_restart(self, settle=1.0, timeout=60.0, order=None):
        """Stop and start each node in turn (followers first, leader last by default),
        waiting until the whole cluster is healthy before the next one. Returns the order."""
        if order is None:
            lead = self.leader()
            order = [n for n in NODES if n != lead] + [lead]
        for n in order:
            log(f"rolling restart: stop node {n}")
            self.nodes[n].stop()
            time.sleep(settle)
            log(f"rolling restart: start node {n}")
            self.nodes[n].start()
            self.wait_healthy(timeout)
            time.sleep(settle)
        return order

    # ---- partitions: one chain of our own, jumped to from OUTPUT for packets on lo
    def _ipt(self, *args, check=True):
        r = subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"iptables {' '.join(args)}: {r.stderr.strip()}")
        return r.returncode == 0

    def _ensure_chain(self):
        if self.chain_installed:
            return
        self._ipt("-N", self.chain)
        self.chain_installed = True
        self._ipt("-I", "OUTPUT", "-o", "lo", "-j", self.chain)

    def partition(self, n):
        """Cut node n off from the two others (both directions), client traffic untouched.
        Address rules: packets between 127.0.0.1n and the others' addresses (enough for a server
        that binds its outgoing peer connections to its own address). Owner rules, when nodes
        run under their own uids (ZooKeeper's outgoing peer connections leave from 127.0.0.1):
        packets a node sends to another node's address, and n's packets from its peer ports
        to 127.0.0.1."""
        self._ensure_chain()
        rules = []
        for m in NODES:
            if m == n:
                continue
            rules += [f"-s {addr(n)} -d {addr(m)}", f"-s {addr(m)} -d {addr(n)}"]
            if self.use_uids:
                rules += [f"-m owner --uid-owner {UID_BASE + n} -d {addr(m)}",
                          f"-m owner --uid-owner {UID_BASE + m} -d {addr(n)}"]
        if self.use_uids:
            # n's answers on connections the others opened to its peer ports go to 127.0.0.1
            rules.append(f"-p tcp -m owner --uid-owner {UID_BASE + n} "
                         f"-m multiport --sports {PEER_PORTS} -d 127.0.0.1")
        # one transaction: the partition starts at one instant, not rule by rule
        batch = "*filter\n" + "".join(f"-A {self.chain} {r} -j DROP\n" for r in rules) + "COMMIT\n"
        r = subprocess.run(["iptables-restore", "-w", "5", "--noflush"], input=batch,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"iptables-restore: {r.stderr.strip()}")
        self.partitioned.add(n)

    def heal(self):
        if self.chain_installed:
            self._ipt("-F", self.chain)  # one command: the partition ends at one instant
        self.partitioned.clear()

    def remove_chain(self):
        if not self.chain_installed:
            return
        self._ipt("-D", "OUTPUT", "-o", "lo", "-j", self.chain, check=False)
        self._ipt("-F", self.chain, check=False)
        self._ipt("-X", self.chain, check=False)
        self.chain_installed = False

    # ---- teardown
    def destroy(self, keep_logs_in=None):
        for node in self.nodes.values():
            try:
                if node.running():
                    node.signal(signal.SIGCONT)
                    node.signal(signal.SIGKILL)
                    node.proc.wait(10)
            except Exception as e:  # keep cleaning
                print(f"cleanup: node {node.n}: {e}")
        try:
            self.remove_chain()
        except Exception as e:
            print(f"cleanup: iptables: {e}")
        if keep_logs_in:
            try:
                os.makedirs(keep_logs_in, exist_ok=True)
                for node in self.nodes.values():
                    if os.path.exists(node.logfile):
                        shutil.copy(node.logfile, os.path.join(
                            keep_logs_in, f"cluster-{self.target}-n{node.n}.log"))
            except Exception as e:
                print(f"cleanup: copying logs: {e}")
        shutil.rmtree(self.base, ignore_errors=True)
