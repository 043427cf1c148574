"""pytest plugin: run kazoo's own test suite against an existing server.

kazoo.testing.harness normally launches a 3-node Java ZooKeeper cluster
(get_global_cluster). We replace that, at import time, with a one-server
"cluster" that points at KAZOO_TARGET (host:port). Stopping/starting the
server (only the request-queuing tests do that) runs KAZOO_RESTART_CMD with
"stop" or "start" appended. Tests that cannot run against one plain server
are skipped with a reason (see SKIPS and compat/README.md).
"""
import os
import shlex
import subprocess

import pytest
import kazoo.testing.harness as harness

TARGET = os.environ["KAZOO_TARGET"]
RESTART_CMD = os.environ.get("KAZOO_RESTART_CMD", "")

NEEDS_CLUSTER = "needs a 3-server ensemble (the harness targets one server)"
# keys: a test function name (any class: TestClient's tests are re-run by the gevent and
# eventlet subclasses) or a node-id prefix relative to kazoo/tests/
SKIPS = {
    "test_update_host_list": NEEDS_CLUSTER,
    "test_connection.py::TestReadOnlyMode::": NEEDS_CLUSTER
    + " and read-only mode (kills 2 of 3 servers)",
    "test_client.py::TestReconfig::": "dynamic reconfig needs an ensemble with "
    "reconfigEnabled and the super:test superuser",
    "test_client.py::TestSSLClient::": "needs a TLS client port with the "
    "certificates kazoo's own cluster generates",
    "test_sasl.py::": "needs a server-side JAAS (SASL digest/Kerberos) config",
}
NEEDS_RESTART = ("test_request_queuing_session_recovered",
                 "test_request_queuing_session_expired")


class TargetServer:
    """Stands in for kazoo.testing.common.ManagedZooKeeper."""

    def __init__(self, address):
        self.address = address
        self.secure_address = address
        self.running = True

    def _ctl(self, action):
        if not RESTART_CMD:
            raise RuntimeError("no --restart-cmd given")
        subprocess.run(shlex.split(RESTART_CMD) + [action], check=True)

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
    """Stands in for kazoo.testing.common.ZookeeperCluster (one server)."""

    def __init__(self, address):
        self._servers = [TargetServer(address)]

    def __iter__(self):
        return iter(self._servers)

    def __getitem__(self, i):
        return self._servers[i]

    def __len__(self):
        return len(self._servers)

    def start(self):
        for s in self._servers:
            if not s.running:
                s.run()

    def stop(self):
        pass  # never stop the target between test classes

    terminate = stop

    def get_logs(self):
        return []

    def get_ssl_client_configuration(self):
        raise RuntimeError("TLS is not configured on the target")


CLUSTER = TargetCluster(TARGET)
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
    return "corral-harness: target %s, restart-cmd %r" % (TARGET, RESTART_CMD or None)
