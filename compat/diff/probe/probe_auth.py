"""Item 4: auth (op 100, xid -4) with every scheme; whoAmI afterwards."""
import sys, struct
from zkwire import *
port = int(sys.argv[1])
obs = Observer(port)
def who(b):
    n = struct.unpack(">i", b[:4])[0]; i = 4; out = []
    for _ in range(n):
        l = struct.unpack(">i", b[i:i+4])[0]; s = b[i+4:i+4+l]; i += 4 + l
        l = struct.unpack(">i", b[i:i+4])[0]; u = b[i+4:i+4+l]; i += 4 + l
        out.append((s.decode(errors="backslashreplace"), u.decode(errors="backslashreplace")))
    return out
CASES = [("ip", b"1.2.3.4"), ("ip", b""), ("ip", b"garbage"), ("ip", b"127.0.0.1"), ("ip", None),
         ("world", b"anyone"), ("world", b""), ("world", b"x"),
         ("super", b"x"), ("super", b""), ("sasl", b"x"), ("x509", b"x"), ("foo", b"x"), ("", b"x"), (None, b"x"),
         ("digest", b"u:p"), ("digest", b"nocolon"), ("digest", b""), ("digest", None), ("digest", b":"), ("digest", b"u:"), ("digest", b":p"),
         ("digest", b"a:b:c"), ("digest", b"super:x"), ("DIGEST", b"u:p"), ("IP", b"1.2.3.4"), ("auth", b"x"), ("key", b"x")]
for scheme, cred in CASES:
    c = Conn(port)
    b = obs.zxid()
    try:
        x = c.call(-4, 100, auth_body(scheme, cred))
        r = "xid=%d zxid=%d err=%d body=%dB" % (x[0], x[1], x[2], len(x[3]))
    except Exception as e: r = repr(e)
    try:
        w = c.call(8, 107); wr = who(w[3])
    except Exception as e: wr = repr(e)
    o = c.is_open()[0]; a = obs.zxid()
    print("auth %-8r %-14r -> %-40s consumed=%d open=%s whoAmI=%s" % (scheme, cred, r, a - b - 1, o, wr))
    if o: c.close()
    else:
        try: Conn(port, sid=c.sid, pw=c.pw).close()
        except Exception: pass
# Two digests on one connection, then the same one twice; auth type field non-zero
c = Conn(port)
for sc, cr, typ in [("digest", b"u:p", 0), ("digest", b"v:q", 0), ("digest", b"u:p", 0), ("digest", b"w:r", 7)]:
    x = c.call(-4, 100, auth_body(sc, cr, typ)); print("seq auth", sc, cr, "type", typ, "err", x[2])
print("whoAmI after sequence:", who(c.call(8, 107)[3])); c.close()
# auth with another xid than -4
c = Conn(port)
try: x = c.call(5, 100, auth_body("digest", b"u:p")); print("auth with xid 5 ->", x[:3], c.is_open())
except Exception as e: print("auth xid 5 ->", repr(e))
try: print("whoAmI", who(c.call(8, 107)[3])); c.close()
except Exception as e: print(repr(e))
