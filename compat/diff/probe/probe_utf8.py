"""Item 3: paths and other ustrings that are not valid UTF-8."""
import sys, struct
from zkwire import *
port = int(sys.argv[1])
obs = Observer(port)
s = Conn(port); s.call(1, 1, create_body("/u", b"")); s.close()
SEQS = [
    ("ff", b"\xff"), ("c3 (lone lead)", b"\xc3"), ("c3 at end then x", b"\xc3x"),
    ("overlong c0 af", b"\xc0\xaf"), ("overlong e0 80 af", b"\xe0\x80\xaf"),
    ("surrogate ed a0 80", b"\xed\xa0\x80"), ("surrogate pair ed a0 bd ed b8 80", b"\xed\xa0\xbd\xed\xb8\x80"),
    ("truncated 3-byte e2 82", b"\xe2\x82"), ("truncated 4-byte f0 9f 98", b"\xf0\x9f\x98"),
    ("f4 90 80 80 (>10FFFF)", b"\xf4\x90\x80\x80"), ("f8 88 80 80 80", b"\xf8\x88\x80\x80\x80"),
    ("lone continuation 80", b"\x80"), ("80 80 80", b"\x80\x80\x80"), ("fe ff", b"\xfe\xff"),
    ("valid 4-byte U+1F600", "\U0001F600".encode()), ("valid U+FFFD", "\ufffd".encode()),
    ("valid 2-byte e9", "é".encode()), ("valid U+FFEF", "\uffef".encode()), ("valid U+E000", "\ue000".encode()),
    ("valid U+0080 (C1)", "\u0080".encode()), ("valid U+D7FF", "\ud7ff".encode()), ("valid U+F900", "\uf900".encode()),
]
def r(c, op, body):
    try:
        x = c.call(7, op, body); return (x[2], x[1], x[3])
    except Exception as e: return (repr(e), None, b"")
def kids():
    c = Conn(port); x = c.call(3, 8, path_watch("/u")); c.close()
    b = x[3]; n = struct.unpack(">i", b[:4])[0]; i = 4; out = []
    for _ in range(n):
        l = struct.unpack(">i", b[i:i+4])[0]; out.append(b[i+4:i+4+l]); i += 4 + l
    return out
for label, seq in SEQS:
    path = b"/u/a" + seq + b"z"
    c = Conn(port)
    before = obs.zxid()
    cr = r(c, 1, create_body(path))
    op1 = c.is_open()[0]
    mid = obs.zxid()
    names = [n for n in kids()]
    after_create_names = [n.hex() for n in names]
    ex = r(c, 3, path_watch(path)) if op1 else ("closed",)
    gd = r(c, 4, path_watch(path)) if op1 else ("closed",)
    st = r(c, 5, setdata_body(path, b"v")) if op1 else ("closed",)
    gc = r(c, 8, path_watch(path)) if op1 else ("closed",)
    dl = r(c, 2, delete_body(path)) if op1 else ("closed",)
    op2 = c.is_open()[0]
    py = seq.decode("utf-8", "replace").encode()
    print("%-34s create err=%s zxid_consumed=%d open=%s | names=%s | python-lossy=%s" % (label, cr[0], mid - before - 1, op1, after_create_names, ("61" + py.hex() + "7a")))
    print("%-34s exists=%s get=%s set=%s children=%s delete=%s open_after=%s" % ("", ex[0], gd[0], st[0], gc[0], dl[0], op2))
    # clean up whatever got created
    cc = Conn(port)
    for n in kids(): cc.call(9, 2, delete_body(b"/u/" + n))
    cc.close()
    if op2: c.close()
    sys.stdout.flush()
