"""consumers.py HOST PORT ADMINPORT — real consumers read a running server: kazoo's
client.command() for mntr/srvr/ruok, and prometheus_client's text parser for /metrics."""
import sys, urllib.request
from kazoo.client import KazooClient
from prometheus_client.parser import text_string_to_metric_families

host, port, admin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
zk = KazooClient(hosts=f"{host}:{port}"); zk.start()
zk.ensure_path("/consumers")
assert zk.command(b"ruok") == "imok"
mntr = dict(l.split("\t", 1) for l in zk.command(b"mntr").splitlines())
for k in ("zk_version", "zk_server_state", "zk_znode_count", "zk_avg_latency", "zk_packets_received"):
    assert k in mntr, k
assert "Mode: standalone" in zk.command(b"srvr")
text = urllib.request.urlopen(f"http://{host}:{admin}/metrics", timeout=5).read().decode()
names = {f.name for f in text_string_to_metric_families(text)}
for n in ("znode_count", "readlatency", "updatelatency", "corral_raft_term"):
    assert n in names, (n, sorted(names))
zk.stop()
print("consumers OK:", len(mntr), "mntr keys,", len(names), "metric families")
