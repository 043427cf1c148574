"""pytest plugin: run kazoo's own test suite against an existing server or ensemble.

kazoo.testing.harness normally launches a 3-node Java ZooKeeper cluster
(get_global_cluster). We replace that, at import time, with a "cluster" of the
servers in KAZOO_TARGET: one host:port, or a comma-separated list of them (an
ensemble, e.g. 127.0.0.11:2181,127.0.0.12:2181,127.0.0.13:2181).

Stopping/starting servers runs KAZOO_RESTART_CMD with words appended:
  one server:  CMD stop / CMD start
  an ensemble: CMD stop N / CMD start N for the N-th server (1-based, in KAZOO_TARGET's
               order), e.g. compat/cluster/ctl3.sh DIR; CMD stop / CMD start for all.
`CMD start …` must return once the server serves again, with data and sessions kept.

Tests that cannot run against the target are skipped with a reason (see SKIPS and
compat/README.md).
"""
import os
import shlex
import subprocess

import pytest
import kazoo.testing.harness as harness

TARGET = os.environ["KAZOO_TARGET"]
ADDRESSES = [a.strip() for a in TARGET.split(",") if a.strip()]
ENSEMBLE = len(ADDRESSES) > 1
RESTART_CMD = os.environ.get("KAZOO_RESTART_CMD", "")

NEEDS_CLUSTER = "needs a 3-server ensemble (the harness targets one server)"
# keys: a test function name (any class: TestClient's tests are re-run by the gevent and
# eventlet subclasses) or a node-id prefix relative to kazoo/tests/
# the ensemble's servers run with read-only mode on (kazoo3.sh sets it; ctl3.sh passes it on)
READ_ONLY = os.environ.get("CTL3_READ_ONLY", "0") == "1"
# ... and reconfigEnabled with the super user super:test
RECONFIG = os.environ.get("CTL3_RECONFIG", "0") == "1"
SKIPS = {
    "test_client.py::TestSSLClient::": "needs a TLS client port with the "
    "certificates kazoo's own cluster generates",
    "test_sasl.py::": "needs a server-side JAAS (SASL digest/Kerberos) config",
}
if not ENSEMBLE:
    SKIPS = {"test_update_host_list": NEEDS_CLUSTER, **SKIPS}
    SKIPS["test_connection.py::TestReadOnlyMode::"] = (
        NEEDS_CLUSTER + " with read-only mode on (it stops 2 of 3, then expects the survivor "
        "to serve reads as CONNECTED_RO)")
if not ENSEMBLE or not RECONFIG:
    SKIPS["test_client.py::TestReconfig::"] = (
        "dynamic reconfig needs an ensemble with reconfigEnabled and the super:test superuser "
        "(kazoo3.sh: CTL3_RECONFIG=1)")
if ENSEMBLE and os.environ.get("CTL3_TARGET") == "zk" and \
        os.environ.get("CTL3_ZK_LOCAL_SESSIONS", "0") != "1":
    SKIPS["test_connection.py::TestReadOnlyMode::"] = (
        "ZooKeeper 3.8's read-only server needs localSessionsEnabled, which changes other "
        "tests' outcomes: run it alone with CTL3_ZK_LOCAL_SESSIONS=1")
elif ENSEMBLE and (not READ_ONLY or not RESTART_CMD):
    SKIPS["test_connection.py::TestReadOnlyMode::"] = (
        "needs an ensemble started with read-only mode on (CTL3_READ_ONLY=1) and a restart "
        "command: it stops 2 of 3 servers, then expects the survivor to serve reads as "
        "CONNECTED_RO")
# tests that stop and start a server (cluster[0]): skipped without a restart command
NEEDS_RESTART = ("test_request_queuing_session_recovered",
                 "test_request_queuing_session_expired",
                 "test_update_host_list")


def _ctl(*words):
    if not RESTART_CMD:
        raise RuntimeError("no --restart-cmd given")
    subprocess.run(shlex.split(RESTART_CMD) + list(words), check=True)


class TargetServer:
    """Stands in for kazoo.testing.common.ManagedZooKeeper."""

    def __init__(self, address, index):
        self.address = address
        self.secure_address = address
        self.index = index  # 1-based, passed to the restart command for an ensemble
        self.running = True

    def _ctl(self, action):
        if ENSEMBLE:
            _ctl(action, str(self.index))
        else:
            _ctl(action)

    def stop(self):
        self._ctl("stop")
        self.running = False

    def run(self):
        self._ctl("start")
        self.running = True

    def reset(self):
        pass

    def destroy(self):
        pass

    def get_logs(self, num_lines=100):
        return []


class TargetCluster:
    """Stands in for kazoo.testing.common.ZookeeperCluster."""

    def __init__(self, addresses):
        self._servers = [TargetServer(a, i + 1) for i, a in enumerate(addresses)]

    def __iter__(self):
        return iter(self._servers)

    def __getitem__(self, i):
        return self._servers[i]

    def __len__(self):
        return len(self._servers)

    def start(self):
        """Start every server that a test stopped (the harness calls this in setUp)."""
        for s in self._servers:
            if not s.running:
                s.run()

    def stop(self):
        """Stop every server (ZookeeperCluster.stop; no kazoo test calls it)."""
        _ctl("stop")
        for s in self._servers:
            s.running = False

    def terminate(self):
        pass  # called after every test class: never stop the target between classes

    def reset(self):
        pass

    def get_logs(self):
        return []

    def get_ssl_client_configuration(self):
        raise RuntimeError("TLS is not configured on the target")


CLUSTER = TargetCluster(ADDRESSES)
harness.get_global_cluster = lambda: CLUSTER


def pytest_collection_modifyitems(config, items):
    for item in items:
        nodeid = item.nodeid.split("kazoo/tests/")[-1]
        for prefix, reason in SKIPS.items():
            if nodeid.startswith(prefix) or item.name == prefix:
                item.add_marker(pytest.mark.skip(reason="corral-harness: " + reason))
                break
        else:
            if not RESTART_CMD and item.name.startswith(NEEDS_RESTART):
                item.add_marker(pytest.mark.skip(
                    reason="corral-harness: stops/starts the server; "
                    "pass --restart-cmd"))


def pytest_report_header(config):
    return "corral-harness: target %s (%d server%s), restart-cmd %r" % (
        TARGET, len(ADDRESSES), "s" if ENSEMBLE else "", RESTART_CMD or None)
