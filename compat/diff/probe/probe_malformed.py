"""Item 1/2: truncated, undecodable and over-long request bodies; reads in multi."""
import sys, struct
from zkwire import *

port = int(sys.argv[1])
obs = Observer(port)
setup = Conn(port)
setup.call(1, 1, create_body("/p", b"hello"))
setup.call(2, 1, create_body("/p/c", b""))
setup.call(3, 1, create_body("/del", b""))

def probe(label, payload, fix=None):
    """payload: bytes after the length prefix (header + body)"""
    c = Conn(port)
    before = obs.zxid()
    res = None
    try:
        c.send_raw(payload)
        try:
            xid, zxid, err, body = c.reply(timeout=2.0)
            res = "xid=%d zxid=%s err=%d body=%dB%s" % (xid, hex(zxid) if zxid >= 0 else zxid, err, len(body), (" " + body[:40].hex()) if body else "")
            rz = zxid
        except Closed as e:
            res = "no reply, closed(%s)" % e; rz = None
        except TimeoutError:
            res = "no reply (timeout 2s)"; rz = None
    except Closed as e:
        res = "send failed"; rz = None
    op, p = c.is_open()
    after = obs.zxid()
    used = after - before - 1
    note = ""
    if rz is not None and rz > 0 and used:
        note = " (reply zxid %s)" % ("== consumed" if before < rz < after else "not the consumed one")
    print("%-48s | %s | open=%s | zxid consumed=%d%s" % (label, res, op, used, note))
    # end the session so it never expires later inside a measurement
    if op:
        c.close()
    else:
        try:
            c2 = Conn(port, sid=c.sid, pw=c.pw); c2.close()
        except Exception as e:
            print("   (cleanup failed %s)" % e)
    if fix: fix()
    sys.stdout.flush()

def hdr(op, xid=7): return i32(xid) + i32(op)

reads = {
    "getData(4)": (4, path_watch("/p")),
    "exists(3)": (3, path_watch("/p")),
    "getChildren(8)": (8, path_watch("/p")),
    "getChildren2(12)": (12, path_watch("/p")),
    "getACL(6)": (6, ustr("/p")),
    "getAllChildrenNumber(104)": (104, ustr("/p")),
    "getEphemerals(103)": (103, ustr("/p")),
    "addWatch(106)": (106, path_int("/p", 0)),
    "removeWatches(18)": (18, path_int("/p", 3)),
    "checkWatches(17)": (17, path_int("/p", 3)),
    "setWatches(101)": (101, setwatches_body(0, ["/p"], ["/q"], ["/p"])),
    "setWatches2(105)": (105, setwatches2_body(0, ["/p"], ["/q"], ["/p"], ["/p"], ["/p"])),
    "multiRead(22)": (22, multi_body([(4, ustr("/p") + boolean(False)), (8, path_watch("/p"))])),
    "sync(9)": (9, ustr("/p")),
    "check(13) lone": (13, check_body("/p", -1)),
    "whoAmI(107)": (107, b""),
}
writes = {
    "create(1)": (1, create_body("/w1")),
    "create2(15)": (15, create_body("/w2")),
    "createContainer(19)": (19, create_body("/w3", flags=4)),
    "createTTL(21)": (21, create_ttl_body("/w4")),
    "delete(2)": (2, delete_body("/del")),
    "setData(5)": (5, setdata_body("/p", b"zz")),
    "setACL(7)": (7, setacl_body("/p")),
    "multi(14)": (14, multi_body([(1, create_body("/w5")), (5, setdata_body("/p", b"m"))])),
}

def cleanup_writes():
    c = Conn(port)
    for p in ["/w1", "/w2", "/w3", "/w4", "/w5"]:
        c.call(9, 2, delete_body(p))
    c.call(9, 1, create_body("/del"))
    c.close()

which = sys.argv[2] if len(sys.argv) > 2 else "all"
for group in ([reads] if which == "reads" else [writes] if which == "writes" else [reads, writes]):
    for name, (op, body) in group.items():
        variants = [("empty body", b"")]
        if len(body) > 2:
            variants.append(("cut at 2", body[:2]))
        if len(body) > 6:
            variants.append(("cut mid (%d/%d)" % (len(body) // 2, len(body)), body[: len(body) // 2]))
        if len(body) > 0:
            variants.append(("minus 1 byte", body[:-1]))
        variants.append(("+4 trailing bytes", body + b"\xde\xad\xbe\xef"))
        if len(body) == 0:
            variants = [("+4 trailing bytes", b"\xde\xad\xbe\xef")]
        for vn, b in variants:
            probe("%s %s" % (name, vn), hdr(op) + b, cleanup_writes if group is writes else None)
