"""capture.py HOST PORT [ADMINPORT] OUTDIR — record every four-letter word and (with
ADMINPORT) every AdminServer command of a running server, with one live kazoo session
holding an ephemeral node and a data watch, so listings are not empty."""
import json, os, socket, sys, time, urllib.request
from kazoo.client import KazooClient

WORDS = "ruok srvr stat mntr conf cons crst srst dump envi wchs wchc wchp dirs isro gtmk stmk hash".split()
COMMANDS = ("monitor ruok stats server_stats connections connection_stat_reset configuration environment "
            "dirs is_read_only watches watches_by_path watch_summary dump leader voting_view last_snapshot "
            "hash get_trace_mask stat_reset").split()

def four(host, port, word, extra=b""):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(word.encode() + extra)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out.decode()

def main():
    host, port = sys.argv[1], int(sys.argv[2])
    admin = int(sys.argv[3]) if len(sys.argv) > 4 else None
    outdir = sys.argv[-1]
    os.makedirs(outdir, exist_ok=True)
    zk = KazooClient(hosts=f"{host}:{port}")
    zk.start()
    zk.ensure_path("/ops")
    zk.create("/ops/eph", b"x", ephemeral=True)
    zk.get("/ops", watch=lambda e: None)
    zk.get_children("/ops", watch=lambda e: None)
    for w in WORDS:
        extra = (0).to_bytes(8, "big") if w == "stmk" else b""
        with open(os.path.join(outdir, f"4lw-{w}.txt"), "w") as f:
            f.write(four(host, port, w, extra))
    if admin:
        for c in COMMANDS:
            try:
                body = urllib.request.urlopen(f"http://{host}:{admin}/commands/{c}", timeout=5).read()
            except Exception as e:  # a missing command is recorded as such
                body = json.dumps({"capture_error": str(e)}).encode()
            with open(os.path.join(outdir, f"cmd-{c}.json"), "wb") as f:
                f.write(body)
    zk.stop()

if __name__ == "__main__":
    main()
