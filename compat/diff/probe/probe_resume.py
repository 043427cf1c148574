"""Item 6: a second connection resumes a live session with a wrong (or right) password."""
import sys, struct, time
from zkwire import *
port = int(sys.argv[1])
obs = Observer(port)
for label, mkpw in [("wrong password", lambda pw: bytes([pw[0] ^ 1]) + pw[1:]), ("right password", lambda pw: pw),
                    ("empty password", lambda pw: b""), ("wrong length password (8)", lambda pw: pw[:8])]:
    c1 = Conn(port)
    c1.call(1, 1, create_body("/rs-%d" % c1.sid, b"", flags=1))  # ephemeral
    b = obs.zxid()
    try:
        c2 = Conn(port, sid=c1.sid, pw=mkpw(c1.pw))
        r2 = "connect reply: timeOut=%d sid=%#x pwlen=%d" % (c2.timeout, c2.sid, len(c2.pw))
        try:
            f = c2.recv_frame(1.0); r2 += " then frame %s" % f.hex()
        except Closed as e: r2 += " then closed(%s)" % e
        except TimeoutError: r2 += " then open"
    except Closed as e:
        r2 = "no connect reply, closed (%s)" % e; c2 = None
    time.sleep(0.5)
    o1 = c1.is_open(); a = obs.zxid()
    print("%-26s second: %s | first conn open after=%s (%s) | consumed=%d" % (label, r2, o1[0], o1[1], a - b - 1))
    # does the session (and its ephemeral) survive?
    c3 = Conn(port)
    x = c3.call(1, 3, path_watch("/rs-%d" % c1.sid)); print("   ephemeral still exists:", x[2] == 0)
    c3.close()
    if o1[0]: c1.close()
    elif label != "right password":
        try:
            c4 = Conn(port, sid=c1.sid, pw=c1.pw); print("   resume with right pw afterwards: timeOut=%d" % c4.timeout); c4.close()
        except Exception as e: print("   resume afterwards:", repr(e))
    if c2 and c2.timeout and label == "right password": c2.close()
